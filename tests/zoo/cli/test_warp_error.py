"""``zoo warp-error``: E_warp of frame folders and video files against zoo.supervision.WarpingError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.video_fixtures import panning_clip
from zoo.cli import main
from zoo.supervision import FlowSupervisor, WarpingError


def _write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame_{index}.png")  # natural order: frame_10 after frame_9
    return folder


def _noisy(frames: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(f.astype(np.int16) + rng.integers(-30, 31, f.shape), 0, 255).astype(np.uint8) for f in frames]


def _as_clip(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.stack([torch.from_numpy(f).permute(2, 0, 1).float() / 255 for f in frames])


def test_warp_error_of_frame_folders_matches_the_metric_and_writes_json(tmp_path, capsys):
    clean = panning_clip(tmp_path / "clip.mkv", 6, (48, 64), (2, 1))
    reference = _write_frames(tmp_path / "original", clean)
    video = _write_frames(tmp_path / "processed", _noisy(clean))
    out = tmp_path / "result.json"
    assert main(["warp-error", str(video), "--reference", str(reference), "--json", str(out), "--batch-size", "2"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress bar off a terminal
    result = json.loads(out.read_text())
    metric = WarpingError(FlowSupervisor("pwcnet.synth", grad=False), with_occlusion_share=True)
    metric.update(_as_clip(_noisy(clean)), reference=_as_clip(clean))
    expected = metric.compute()
    assert result["pairs"] == 5 and (result["height"], result["width"]) == (48, 64)
    # batches of 2 pairs here, 5 in the metric: convolutions of other batch sizes round differently (~1e-6)
    assert result["e_warp"]["video"] == pytest.approx(expected["e_warp"].item(), rel=1e-4)
    assert result["occlusion_share"] == pytest.approx(expected["occlusion_share"].item(), abs=1e-3)
    assert result["e_warp"]["reference"] < 0.2 * result["e_warp"]["video"]  # noise of +-30/255 is inconsistent
    lines = captured.out.splitlines()
    assert lines[1].split()[:2] == ["video", str(video)] and lines[2].split()[:2] == ["reference", str(reference)]
    assert float(lines[1].split()[2]) == pytest.approx(1e3 * result["e_warp"]["video"], abs=1e-4)


def test_warp_error_of_a_lossless_video_equals_that_of_its_frames(tmp_path, capsys):
    frames = panning_clip(tmp_path / "clip.mkv", 5, (48, 64), (3, 1))
    folder = _write_frames(tmp_path / "frames", frames)
    assert main(["warp-error", str(tmp_path / "clip.mkv"), "--json", str(tmp_path / "video.json")]) == 0
    assert main(["warp-error", str(folder), "--json", str(tmp_path / "frames.json")]) == 0
    from_video, from_frames = (json.loads((tmp_path / name).read_text()) for name in ("video.json", "frames.json"))
    assert from_video["pairs"] == 4 and from_video["reference"] is None and set(from_video["e_warp"]) == {"video"}
    assert from_video["e_warp"]["video"] == pytest.approx(from_frames["e_warp"]["video"], rel=1e-6)
    capsys.readouterr()
