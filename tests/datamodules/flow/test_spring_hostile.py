"""Spring files that are truncated, missing, mis-sized or not Spring's: one-line errors naming the file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.support.spring_tree import make_spring, write_flo5_h5py
from zoo.datamodules.flow.datasets import DatasetNotFoundError, Spring
from zoo.datamodules.flow.formats import FlowFormatError, read_flow

pytestmark = pytest.mark.hostile


def _one_line_naming(error: BaseException, path: Path) -> None:
    message = str(error)
    assert str(path) in message and "\n" not in message, message


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    return make_spring(tmp_path / "spring", {"0001": 3}, cameras=("left",))


def _flow(tree: Path, name: str = "flow_FW_left_0001.flo5") -> Path:
    return tree / "train" / "0001" / name[: -len("_0001.flo5")] / name


def test_truncated_flo5_is_refused_naming_the_file(tree: Path) -> None:
    path = _flow(tree)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FlowFormatError) as error:
        Spring(tree, cameras=("left",))[0]
    _one_line_naming(error.value, path)


def test_flo5_without_the_flow_key_or_of_the_wrong_shape_is_refused(tree: Path) -> None:
    path = _flow(tree)
    with h5py.File(path, "w") as file:
        file.create_dataset("disparity", data=np.zeros((12, 16), np.float32))
    with pytest.raises(FlowFormatError, match="no HDF5 dataset 'flow'") as error:
        read_flow(path)
    _one_line_naming(error.value, path)
    with h5py.File(path, "w") as file:
        file.create_dataset("flow", data=np.zeros((12, 16, 3), np.float32))
    with pytest.raises(FlowFormatError, match=r"\(H, W, 2\)") as error:
        read_flow(path)
    _one_line_naming(error.value, path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n not an HDF5 file")
    with pytest.raises(FlowFormatError, match="HDF5") as error:
        read_flow(path)
    _one_line_naming(error.value, path)


def test_ground_truth_not_twice_the_frames_is_refused_naming_both_sizes(tree: Path) -> None:
    path = _flow(tree)
    write_flo5_h5py(path, np.zeros((6, 8, 2), np.float32))  # frame-sized, not 2x
    with pytest.raises(ValueError, match="12x16.*6x8.*6x8") as error:
        Spring(tree, cameras=("left",))[0]
    _one_line_naming(error.value, path)


def test_missing_flow_file_of_an_incomplete_download_is_named(tree: Path) -> None:
    path = _flow(tree, "flow_BW_left_0003.flo5")
    path.unlink()
    with pytest.raises(DatasetNotFoundError, match="incomplete download") as error:
        Spring(tree, cameras=("left",))
    assert str(path) in str(error.value)


def test_missing_camera_folder_and_missing_root_name_the_folder(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as error:
        Spring(tree, cameras=("left", "right"))
    assert str(tree / "train" / "0001" / "frame_right") in str(error.value)
    with pytest.raises(DatasetNotFoundError) as error:
        Spring(tmp_path / "nowhere")
    message = str(error.value)
    assert "Expected layout" in message and "spring-benchmark.org" in message


def test_a_frame_missing_inside_a_sequence_is_named(tree: Path) -> None:
    """A gap would silently drop the pairs around it: it is an incomplete download, named."""
    gap = tree / "train" / "0001" / "frame_left" / "frame_left_0002.png"
    gap.unlink()
    with pytest.raises(DatasetNotFoundError, match="missing inside a sequence") as error:
        Spring(tree, cameras=("left",))
    assert str(gap) in str(error.value)
