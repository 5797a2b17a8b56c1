"""``zoo warp-error`` on mismatched, missing and hostile inputs: one line on stderr, nothing written."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zoo.cli import main

pytestmark = pytest.mark.hostile


def _folder(path, count: int, size=(40, 48)):
    path.mkdir()
    rng = np.random.default_rng(count)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path / f"{index}.png")
    return path


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("zoo: error: ")
    return err


def test_mismatched_lengths_are_refused_before_any_work(tmp_path, capsys):
    video, reference = _folder(tmp_path / "a", 4), _folder(tmp_path / "b", 3)
    assert main(["warp-error", str(video), "--reference", str(reference)]) == 1
    assert f"VIDEO {video} has 4 frames but --reference {reference} has 3" in _error(capsys)


def test_mismatched_sizes_name_the_frame(tmp_path, capsys):
    video, reference = _folder(tmp_path / "a", 3), _folder(tmp_path / "b", 3, size=(40, 50))
    out = tmp_path / "r.json"
    assert main(["warp-error", str(video), "--reference", str(reference), "--json", str(out)]) == 1
    assert f"--reference {reference}: frame 0 is 40x50 (H x W) but VIDEO frame 0 is 40x48" in _error(capsys)
    assert not out.exists()


def test_json_onto_or_into_an_input_is_refused(tmp_path, capsys):
    video = _folder(tmp_path / "a", 3)
    before = sorted(p.name for p in video.iterdir())
    for target in (video / "result.json", video / "0.png"):
        assert main(["warp-error", str(video), "--json", str(target)]) == 1
        assert "would write onto or into the input VIDEO" in _error(capsys)
    assert sorted(p.name for p in video.iterdir()) == before


def test_missing_input_and_single_frame_folder(tmp_path, capsys):
    assert main(["warp-error", str(tmp_path / "none.mp4")]) == 1
    assert f"VIDEO {tmp_path / 'none.mp4'}: no such video file or frame folder" in _error(capsys)
    single = _folder(tmp_path / "one", 1)
    assert main(["warp-error", str(single)]) == 1
    assert "needs at least two frames" in _error(capsys)


def test_a_file_that_is_no_video_is_one_line(tmp_path, capsys):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"not a video at all")
    assert main(["warp-error", str(bogus)]) == 1
    assert "not a readable video file" in _error(capsys)
