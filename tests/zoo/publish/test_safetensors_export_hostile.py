"""``zoo export`` wrote NaN weights and float16-overflowed values (|w| > 65504 became infinity)
without complaint (issue 26, item 14). Every weight file the zoo writes goes through
:func:`zoo.weights.checkpoint.save_weights`, which refuses both, naming the key, before writing."""

from __future__ import annotations

import math

import pytest
import torch

import zoo
from tests.support.hostile import assert_one_line_error, call_cli, safetensors_variant

pytestmark = pytest.mark.hostile

KEY = "context.0.weight"


def _with_value(path, value: float):
    """Our bundled PWC-Net file in float32 (what a training run exports) with one weight of
    ``KEY`` set to ``value``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    source = safetensors_variant(path, tensors=lambda tensor: tensor.float())
    with safe_open(str(source), framework="pt") as f:
        metadata = f.metadata()
    state = load_file(str(source))
    state[KEY].view(-1)[7] = value
    save_file(state, str(source), metadata=metadata)
    return source


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_export_refuses_non_finite_weights_naming_file_and_key(tmp_path, value):
    source = _with_value(tmp_path / "nan.safetensors", value)
    out = tmp_path / "out.safetensors"
    for extra in ((), ("--fp32",)):
        result = call_cli("export", source, "-o", out, *extra)
        assert_one_line_error(result, str(source), f"tensor '{KEY}' holds NaN or infinite values")
        assert not out.exists() and not list(tmp_path.glob(".*tmp*"))


def test_export_refuses_values_float16_cannot_hold_and_suggests_fp32(tmp_path):
    source = _with_value(tmp_path / "big.safetensors", 70000.0)
    out = tmp_path / "out.safetensors"
    result = call_cli("export", source, "-o", out)
    assert_one_line_error(result, str(out), f"tensor '{KEY}' holds values up to 70000", "torch.float16",
                          "65504", "--fp32")
    assert not out.exists()
    assert call_cli("export", source, "-o", out, "--fp32").rc == 0  # float32 holds it: written as it is
    from safetensors.torch import load_file

    assert float(load_file(str(out))[KEY].view(-1)[7]) == 70000.0


def test_values_at_the_float16_limit_are_still_exported(tmp_path):
    """65504 is float16's largest finite value: stored exactly."""
    source = _with_value(tmp_path / "edge.safetensors", -65504.0)
    out = tmp_path / "out.safetensors"
    assert call_cli("export", source, "-o", out).rc == 0
    from safetensors.torch import load_file

    stored = load_file(str(out))[KEY]
    assert stored.dtype == torch.float16 and float(stored.view(-1)[7]) == -65504.0


def test_save_pretrained_refuses_a_network_holding_nan(tmp_path):
    network = zoo.load("pwcnet.synth")
    with torch.no_grad():
        network.state_dict()[KEY].view(-1)[0] = math.nan
    with pytest.raises(ValueError, match=rf"not written: tensor '{KEY}' holds NaN"):
        zoo.save_pretrained(network, tmp_path / "folder")
    assert not (tmp_path / "folder" / "model.safetensors").exists()
