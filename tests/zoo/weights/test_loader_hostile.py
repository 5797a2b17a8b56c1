"""An architecture without default weights never runs untrained from a command (issue 26, item 6):
``zoo sample nvae -n 4`` sampled a randomly initialised 33 M-parameter network for minutes and
reported success, ``zoo eval nvae --data mnist`` reported 771.9 nats for it. Every command that
needs learned weights loads through :func:`zoo.weights.loader.load_trained`, which refuses
before building anything, naming the weight sets to choose from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.hostile import assert_one_line_error, call_cli, png_bytes
from tests.support.nvae_networks import TINY

pytestmark = pytest.mark.hostile


def _commands(tmp_path: Path) -> dict[str, list]:
    image = tmp_path / "digit.png"
    image.write_bytes(png_bytes(np.zeros((28, 28), np.uint8)))
    out = tmp_path / "out"
    return {
        "sample": ["sample", "nvae", "-n", "4", "-o", out.with_suffix(".png")],
        "eval": ["eval", "nvae", "--data", "mnist", "--data-dir", tmp_path, "--out", out],
        "reconstruct": ["reconstruct", "nvae", image, "-o", out.with_suffix(".png")],
        "interpolate": ["interpolate", "nvae", image, image, "-o", out.with_suffix(".png")],
        "export": ["export", "nvae", "-o", out.with_suffix(".safetensors")],
        "export-onnx": ["export", "nvae", "--format", "onnx", "-o", out.with_suffix(".onnx")],
        "card": ["card", "nvae"],
    }


@pytest.mark.parametrize("command", ["sample", "eval", "reconstruct", "interpolate", "export", "export-onnx", "card"])
def test_a_command_refuses_an_architecture_without_default_weights(tmp_path, command, monkeypatch):
    """Each refuses in one line naming the weight sets, in well under the seconds a 33 M-parameter
    network takes to build, and writes nothing."""
    import zoo.models.nvae.network as nvae_network

    def built(*args, **kwargs):
        raise AssertionError("an NVAE network was built")

    monkeypatch.setattr(nvae_network.NVAE, "__init__", built)
    args = _commands(tmp_path)[command]
    before = set(tmp_path.iterdir())
    result = call_cli(*args)
    assert_one_line_error(result, "'nvae' has no default weights", "untrained", "nvae.mnist-cpu", "nvae.celeba64")
    assert set(tmp_path.iterdir()) == before


def test_the_api_still_builds_an_untrained_network_for_training():
    """``zoo.load("nvae")`` stays what training starts from (documented), only commands refuse."""
    import zoo

    network = zoo.load("nvae", image_size=32, **TINY)
    assert network.zoo_record.weights.recipe.startswith("untrained")
