"""A 2.5 KB NVAE folder whose fields are each in bounds (``num_channels_enc/dec=512``,
``image_size=64`` on the CelebA-64 preset) described 9.3 G parameters, built (~37 GB) before the
weights were checked, and ended in an allocator error naming no file (issue 26, item 11). The
network's total size is bounded before building: a one-line error naming the file and the fields."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch

from tests.support.hostile import assert_one_line_error, run_cli, run_limited
from zoo.models.nvae.config import NVAEConfig, preset

pytestmark = pytest.mark.hostile

HUGE = {**preset("celeba64").to_dict(), "num_channels_enc": 512, "num_channels_dec": 512, "image_size": 64}


def _hostile_folder(folder: Path, config: dict) -> Path:
    """``config.json`` and a ``model.safetensors`` of one small tensor, both naming ``config``: what
    ``zoo.save_pretrained`` writes, with the network swapped for the hostile one."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architecture": "nvae", "config": config}))
    save_file({"stem.weight": torch.zeros(4)}, str(folder / "model.safetensors"),
              metadata={"zoo.arch": "nvae", "zoo.config": json.dumps(config), "zoo.info": "{}"})
    return folder


def test_each_field_is_in_bounds_but_the_whole_is_refused_before_building():
    """Refused within 1 s, naming the fields (the build took minutes and ~37 GB; here it runs on
    the meta device, so that a regression fails the test instead of exhausting the machine)."""
    from zoo.models.nvae.network import NVAE

    config = NVAEConfig(**HUGE)  # every field passes
    start = time.monotonic()
    with pytest.raises(ValueError) as caught, torch.device("meta"):
        NVAE(config)
    assert time.monotonic() - start < 1
    message = str(caught.value)
    assert message.startswith("NVAEConfig: this network would hold about 9.2") and "G parameters" in message
    assert "num_channels_enc=512, num_channels_dec=512" in message and "image_size=64" in message


def test_activations_per_image_are_bounded_too():
    """Few parameters, huge images: the 256-px preset's channels at 1024 px (16x its activations)."""
    from zoo.models.nvae.network import NVAE

    config = {**preset("celebahq256").to_dict(), "image_size": 1024}
    with pytest.raises(ValueError, match=r"G activations per image \(\d+\.\d GB float32; the limit is 5 G\)"), \
            torch.device("meta"):
        NVAE(NVAEConfig(**config))


def test_loading_the_folder_fails_in_one_line_naming_the_file_under_a_memory_limit(tmp_path):
    folder = _hostile_folder(tmp_path / "huge", HUGE)
    code = "import sys, zoo\ntry:\n    zoo.load(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n    sys.exit(3)\n"
    result = run_limited(code, folder, timeout=120)
    assert result.rc == 3, result.stderr[-2000:]  # not an allocator error under the 3 GB limit
    line = result.stdout.strip()
    assert "\n" not in line and line.startswith(f"{folder / 'model.safetensors'}: NVAEConfig: this network"), line


def test_the_sample_command_refuses_the_folder_in_one_line(tmp_path):
    folder = _hostile_folder(tmp_path / "huge", HUGE)
    result = run_cli("sample", folder, "-n", "1", "-o", tmp_path / "s.png", memory_limit_kb=3_000_000, timeout=120)
    assert_one_line_error(result, str(folder / "model.safetensors"), "num_channels_enc=512", "G parameters")
    assert not (tmp_path / "s.png").exists()
