"""Submissions pointed at their inputs, test splits that lack pairs, predictions the server would
refuse, and leftovers that only look finished: one-line errors, nothing half-written kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.datamodules.flow.test_submission import SPRING_FILES, red_of_both_frames, sintel, spring_benchmark
from tests.support.flow_fixtures import make_sintel
from tests.support.spring_tree import make_spring
from zoo.datamodules.flow.submission import BENCHMARKS, write_submission

pytestmark = pytest.mark.hostile


def _never(image1, image2):
    raise AssertionError("nothing may be predicted")


@pytest.fixture()
def spring_root(tmp_path: Path) -> Path:
    return make_spring(tmp_path / "spring", {"0003": 3}, split="test")


@pytest.mark.parametrize("case", ["same", "inside", "above"])
def test_a_submission_folder_overlapping_the_dataset_is_refused(tmp_path: Path, case: str) -> None:
    """``<out>/spring`` the dataset root itself, a folder inside it, or a folder holding it."""
    root = {"same": tmp_path / "spring", "inside": tmp_path / "spring", "above": tmp_path / "o" / "spring" / "data"}[case]
    make_spring(root, {"0003": 3}, split="test")
    out = {"same": tmp_path, "inside": root / "test", "above": tmp_path / "o"}[case]
    before = sorted(root.rglob("*"))
    with pytest.raises(ValueError, match="overlaps the dataset root") as error:
        write_submission(spring_benchmark(), root, out, _never, progress=False)
    assert "\n" not in str(error.value) and str(root) in str(error.value)
    assert sorted(root.rglob("*")) == before


def test_a_test_split_lacking_pairs_is_named_before_anything_is_predicted(spring_root: Path, tmp_path: Path) -> None:
    benchmark = replace(BENCHMARKS["spring"], expected=lambda: SPRING_FILES | {Path("0019/flow_FW_left/flow_FW_left_0001.flo5")})
    with pytest.raises(ValueError, match=r"lacks the pairs of 1 of the 9 files.*0019/flow_FW_left/flow_FW_left_0001\.flo5"):
        write_submission(benchmark, spring_root, tmp_path / "out", _never, progress=False)
    (spring_root / "test" / "0003" / "frame_left" / "frame_left_0003.png").unlink()
    with pytest.raises(ValueError, match="incomplete download"):
        write_submission(spring_benchmark(), spring_root, tmp_path / "out", _never, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_sintel_split_with_other_scenes_or_pairs_is_refused(tmp_path: Path) -> None:
    root = make_sintel(tmp_path / "MPI-Sintel-complete")
    with pytest.raises(ValueError, match=r"scenes \['ambush_1'\]"):
        write_submission(sintel(scenes=("alley_1", "ambush_1", "bamboo_2")), root, tmp_path / "out", _never,
                         progress=False)
    with pytest.raises(ValueError, match="has 8 pairs where the server expects 10"):
        write_submission(replace(sintel(), count=10), root, tmp_path / "out", _never, progress=False)


def test_a_nan_prediction_is_refused_naming_the_pair_and_leaves_no_file(spring_root: Path, tmp_path: Path) -> None:
    nan = lambda a, b: torch.full((1, 2, *a.shape[-2:]), float("nan"))
    with pytest.raises(ValueError, match="frame_left_0001.png.*NaN") as error:
        write_submission(spring_benchmark(), spring_root, tmp_path / "out", nan, progress=False)
    assert "\n" not in str(error.value)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_a_prediction_of_the_wrong_size_is_refused(spring_root: Path, tmp_path: Path) -> None:
    small = lambda a, b: torch.zeros(1, 2, 3, 4)
    with pytest.raises(ValueError, match="the prediction is 3x4, the frames 6x8"):
        write_submission(spring_benchmark(), spring_root, tmp_path / "out", small, progress=False)


@pytest.mark.parametrize("damage", ["truncated", "wrong size", "not hdf5"])
def test_leftovers_that_only_look_finished_are_written_again(spring_root: Path, tmp_path: Path, damage: str) -> None:
    """A truncated file, one of another size or one that is not HDF5 under a final name is not kept."""
    import h5py
    import numpy as np

    write_submission(spring_benchmark(), spring_root, tmp_path / "out", red_of_both_frames, progress=False)
    path = tmp_path / "out" / "spring" / "0003/flow_FW_left/flow_FW_left_0002.flo5"
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 3])
    elif damage == "wrong size":
        path.unlink()
        with h5py.File(path, "w") as file:
            file.create_dataset("flow", data=np.zeros((3, 4, 2), np.float32))
    else:
        path.write_bytes(b"garbage")
    report = write_submission(spring_benchmark(), spring_root, tmp_path / "out", red_of_both_frames, progress=False)
    assert (report.written, report.kept) == (1, 7)
    with h5py.File(path, "r") as file:
        assert file["flow"].shape == (6, 8, 2)


def test_truncated_flo_and_8_bit_png_leftovers_are_written_again(tmp_path: Path) -> None:
    """Sintel: a .flo cut short keeps a valid header but not its length; KITTI: an 8-bit PNG under the final name."""
    from PIL import Image

    from tests.support.flow_fixtures import make_kitti

    root = make_sintel(tmp_path / "MPI-Sintel-complete")
    write_submission(sintel(), root, tmp_path / "out", red_of_both_frames, progress=False)
    flo = tmp_path / "out" / "sintel" / "final" / "alley_1" / "frame0002.flo"
    flo.write_bytes(flo.read_bytes()[:-8])
    report = write_submission(sintel(), root, tmp_path / "out", red_of_both_frames, progress=False)
    assert (report.written, report.kept) == (1, 7) and flo.stat().st_size == 12 + 8 * 8 * 12

    kitti = make_kitti(tmp_path / "KITTI2015", 2015, scenes=1)
    benchmark = replace(BENCHMARKS["kitti-2015"], expected=lambda: {Path("flow/000000_10.png")})
    png = tmp_path / "out" / "kitti-2015" / "flow" / "000000_10.png"
    png.parent.mkdir(parents=True)
    Image.new("RGB", (12, 8)).save(png)
    assert write_submission(benchmark, kitti, tmp_path / "out", red_of_both_frames, progress=False).written == 1
