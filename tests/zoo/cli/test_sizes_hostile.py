"""Sizes a command takes are bounded before the work starts (issue 26, item 12): ``--max-pixels``
was ignored with ``--video``, ``zoo interpolate --steps 3000`` wrote a 102,070-px-wide row (1e9
steps: MemoryError), ``zoo eval --data synthetic --synthetic-size 50000 50000`` tried to render
17.8 GB of frames. Each is one line naming the option and its range; nothing is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.hostile import MEMORY_LIMIT_KB, assert_one_line_error, call_cli, png_bytes, run_cli
from tests.support.video_fixtures import panning_clip

pytestmark = pytest.mark.hostile


def test_max_pixels_holds_for_a_video(tmp_path):
    """A 64x80 clip (5,120 px per frame) under --max-pixels 4000: refused before any flow is
    computed, with the --max-size that fits; within the budget, pairs per forward shrink to fit."""
    clip = tmp_path / "clip.mp4"
    panning_clip(clip, 3, (64, 80), (2, 0))
    out = tmp_path / "out"
    result = call_cli("flow", "--video", clip, "-o", out, "--weights", "pwcnet.synth", "--max-pixels", "4000")
    assert_one_line_error(result, str(clip), "is 64x80", "over --max-pixels 4,000", "--max-size")
    assert not out.exists() or not any(out.iterdir())


def test_max_pixels_sets_the_pairs_per_forward_of_a_video(tmp_path, monkeypatch):
    """--batch-size 4 with room for 2 pairs of 64x80 (10,240 px): every forward takes at most 2."""
    from zoo.cli import flow_estimation

    clip = tmp_path / "clip.mp4"
    panning_clip(clip, 6, (64, 80), (2, 0))
    batches = []
    estimate = flow_estimation.estimate

    def counting(network, first, second, args):
        batches.append(len(first))
        return estimate(network, first, second, args)

    monkeypatch.setattr(flow_estimation, "estimate", counting)
    result = call_cli("flow", "--video", clip, "-o", tmp_path / "out", "--weights", "pwcnet.synth",
                      "--batch-size", "4", "--max-pixels", str(2 * 64 * 80))
    assert result.rc == 0, result.stderr
    assert batches == [2, 2, 1] and len(list((tmp_path / "out").glob("*.flo"))) == 5


@pytest.mark.parametrize("steps", ["3000", "1000000000", "1", "0", "-5"])
def test_interpolate_steps_are_bounded(tmp_path, steps):
    image = tmp_path / "digit.png"
    image.write_bytes(png_bytes(np.zeros((28, 28), np.uint8)))
    out = tmp_path / "row.png"
    # a subprocess under a 3 GB limit: a regression (1e9 frames) fails instead of exhausting the machine
    result = run_cli("interpolate", "nvae.mnist-cpu", image, image, "--steps", steps, "-o", out,
                     memory_limit_kb=MEMORY_LIMIT_KB, timeout=120)
    assert_one_line_error(result, "--steps must be in [2, 254]", f"got {int(steps):,}")
    assert not out.exists()


def test_interpolate_at_the_largest_step_count_writes_its_row(tmp_path):
    """254 frames + the two inputs: one row of 256 images of 32 px."""
    from PIL import Image

    image = tmp_path / "digit.png"
    image.write_bytes(png_bytes(np.zeros((28, 28), np.uint8)))
    out = tmp_path / "row.png"
    assert call_cli("interpolate", "nvae.mnist-cpu", image, image, "--steps", "254", "-o", out).rc == 0
    with Image.open(out) as row:
        assert row.size[0] >= 256 * 32 and row.size[1] < 64


@pytest.mark.parametrize(("size", "pairs", "expected"), [
    (("50000", "50000"), "4", "--synthetic-size 50000 50000: H and W must be >= 64 px and H x W at most 8,388,608 px"),
    (("32", "256"), "4", "--synthetic-size 32 256: H and W must be >= 64 px"),
    (("192", "256"), "1000000", "--synthetic-pairs must be at most 10,000"),
])
def test_eval_synthetic_sizes_are_bounded(tmp_path, size, pairs, expected):
    """In a subprocess under a 3 GB memory limit: a regression fails instead of exhausting the machine."""
    out = tmp_path / "out"
    result = run_cli("eval", "pwcnet.synth", "--data", "synthetic", "--synthetic-size", *size,
                     "--synthetic-pairs", pairs, "--out", out, memory_limit_kb=MEMORY_LIMIT_KB, timeout=120)
    assert_one_line_error(result, expected)
    assert not Path(out).exists()
