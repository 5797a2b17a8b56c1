"""``zoo fid`` given wrong paths, outputs onto inputs, or a weight file of another network."""

from __future__ import annotations

import pytest
import torch

from tests.support.fid_reference import write_set
from zoo.cli import main

pytestmark = pytest.mark.hostile


@pytest.fixture()
def folder(tmp_path):
    write_set("few_b", tmp_path / "images")
    return tmp_path / "images"


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: ") and err.count("\n") == 1
    return err


def test_save_stats_never_overwrites(folder, tmp_path, capsys):
    existing = tmp_path / "stats.npz"
    existing.write_bytes(b"keep me")
    assert main(["fid", "--save-stats", str(folder), str(existing)]) == 1
    assert "stats.npz exists" in _error(capsys)
    assert existing.read_bytes() == b"keep me"


@pytest.mark.parametrize("second, message", [("out.png", "must end in .npz"), ("out", "must end in .npz")])
def test_save_stats_writes_only_a_new_npz(folder, tmp_path, capsys, second, message):
    assert main(["fid", "--save-stats", str(folder), str(tmp_path / second)]) == 1
    assert message in _error(capsys)


def test_save_stats_of_a_file_is_refused(folder, tmp_path, capsys):
    image = next(folder.iterdir())
    assert main(["fid", "--save-stats", str(image), str(tmp_path / "s.npz")]) == 1
    assert "must be a folder of images" in _error(capsys)


def test_missing_and_foreign_paths_are_refused_naming_them(folder, tmp_path, capsys):
    assert main(["fid", str(folder), str(tmp_path / "absent")]) == 1
    assert "absent: no such folder" in _error(capsys)
    image = next(folder.iterdir())
    assert main(["fid", str(folder), str(image)]) == 1
    assert "expected a folder of images or a statistics .npz" in _error(capsys)


def test_weights_of_another_network_are_refused_listing_the_keys(folder, tmp_path, capsys):
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, other)
    assert main(["fid", str(folder), str(folder), "--inception-weights", str(other)]) == 1
    assert "the FID Inception network" in _error(capsys)


def test_bad_batch_size(folder, capsys):
    assert main(["fid", str(folder), str(folder), "--batch-size", "0"]) == 1
    assert "--batch-size must be >= 1" in _error(capsys)
