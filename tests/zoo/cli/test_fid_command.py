"""``zoo fid``: pytorch-fid's number for the same images and weights (tests/data/fid_reference.npz, 64-d
features so that 80 images give full-rank covariances; tolerance 1e-5 relative, see test_fid_reference.py),
statistics saved and read back, and the Inception weights taken from a local file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.fid_fixtures import write_random_inception
from tests.support.fid_reference import write_set
from zoo.cli import main

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "fid_reference.npz"


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return write_random_inception(tmp_path_factory.mktemp("inception") / "pt_inception-random.pth")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("images")
    write_set("many_a", root / "a")
    write_set("many_b", root / "b")
    return root / "a", root / "b"


def _fid(capsys) -> float:
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("FID: ")
    return float(out[0].split()[1])


def test_two_folders_give_pytorch_fids_number(weights, folders, capsys):
    expected = float(np.load(REFERENCE)["fid64"])
    assert main(["fid", *map(str, folders), "--dims", "64", "--batch-size", "33", "--inception-weights", str(weights)]) == 0
    assert _fid(capsys) == pytest.approx(expected, rel=1e-5)


def test_saved_statistics_are_pytorch_fids_and_read_back(weights, folders, tmp_path, capsys):
    stats = tmp_path / "a.npz"
    assert main(["fid", "--save-stats", str(folders[0]), str(stats), "--dims", "64",
                 "--inception-weights", str(weights)]) == 0
    capsys.readouterr()
    reference = np.load(REFERENCE)
    with np.load(stats) as saved:
        np.testing.assert_allclose(saved["mu"], reference["mu64"], rtol=0, atol=2e-5 * reference["mu64"].std())
        np.testing.assert_allclose(saved["sigma"], reference["sigma64"], rtol=0,
                                   atol=1e-4 * np.abs(reference["sigma64"]).max())
    assert main(["fid", str(stats), str(stats), "--dims", "64"]) == 0  # two .npz: no Inception needed
    assert abs(_fid(capsys)) < 1e-9
    assert main(["fid", str(stats), str(stats)]) == 1
    assert "statistics of 64-d features, but --dims is 2048" in capsys.readouterr().err
