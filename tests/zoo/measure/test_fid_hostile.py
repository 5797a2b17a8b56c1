"""Statistics files and folders that are not what FID needs."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.measure.fid import FIDStatistics, folder_images, frechet_distance

pytestmark = pytest.mark.hostile


@pytest.mark.parametrize("arrays, message", [
    ({"mu": np.zeros(3)}, "missing sigma"),
    ({"m": np.zeros(3), "s": np.eye(3)}, "missing mu, sigma"),
    ({"mu": np.zeros(3), "sigma": np.eye(4)}, "expected mu"),
    ({"mu": np.zeros(3), "sigma": np.full((3, 3), np.nan)}, "NaN"),
    ({"mu": np.array(["a", "b"]), "sigma": np.eye(2)}, "floating point"),
    ({"mu": np.zeros(2), "sigma": np.eye(2), "count": np.arange(3)}, "'count' must be one integer"),
])
def test_malformed_statistics_are_refused_naming_the_file(tmp_path, arrays, message):
    path = tmp_path / "stats.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as error:
        FIDStatistics.load(path)
    assert str(path) in str(error.value)


def test_pickled_objects_are_never_unpickled(tmp_path):
    path = tmp_path / "stats.npz"
    np.savez(path, mu=np.array([{"x": 1}], dtype=object), sigma=np.eye(1))
    with pytest.raises(ValueError, match="stats.npz"):
        FIDStatistics.load(path)


def test_truncated_and_foreign_files_are_refused(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, mu=np.zeros(4), sigma=np.eye(4))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:100])
    foreign = tmp_path / "image.npz"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for path in (truncated, foreign):
        with pytest.raises(ValueError, match=path.name):
            FIDStatistics.load(path)
    with pytest.raises(FileNotFoundError):
        FIDStatistics.load(tmp_path / "absent.npz")


def test_statistics_of_different_sizes_do_not_compare():
    with pytest.raises(ValueError, match="64 and 2048"):
        frechet_distance(FIDStatistics(np.zeros(64), np.eye(64)), FIDStatistics(np.zeros(2048), np.eye(2048)))


def test_a_folder_without_two_images_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no image")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ValueError, match="found 0"):
        folder_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="absent"):
        folder_images(tmp_path / "absent")
