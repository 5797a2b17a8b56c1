"""The Spring reader on trees in the published layout whose ``.flo5`` files h5py writes directly."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from tests.support.spring_tree import FRAME_SIZE, ground_truth, make_spring, write_flo5_h5py
from zoo.datamodules.flow.datamodule import FlowDataModule
from zoo.datamodules.flow.datasets import Spring
from zoo.datamodules.flow.formats import read_flow, write_flow


def _pairs(dataset: Spring) -> list[tuple]:
    return [(s.sequence, s.camera, s.direction, s.frame, s.image1.name, s.image2.name, s.flow.name if s.flow else None)
            for s in dataset.samples]


def test_pairs_follow_the_layout_and_the_benchmarks_order(tmp_path: Path) -> None:
    """Scene by scene, camera by camera: forward pairs by ascending frame (frame -> frame + 1, flow
    ``flow_FW_<cam>_<frame>``), then backward by descending frame (frame -> frame - 1)."""
    dataset = Spring(make_spring(tmp_path, {"0001": 3}))
    assert _pairs(dataset) == [
        ("0001", "left", "FW", 1, "frame_left_0001.png", "frame_left_0002.png", "flow_FW_left_0001.flo5"),
        ("0001", "left", "FW", 2, "frame_left_0002.png", "frame_left_0003.png", "flow_FW_left_0002.flo5"),
        ("0001", "left", "BW", 3, "frame_left_0003.png", "frame_left_0002.png", "flow_BW_left_0003.flo5"),
        ("0001", "left", "BW", 2, "frame_left_0002.png", "frame_left_0001.png", "flow_BW_left_0002.flo5"),
        ("0001", "right", "FW", 1, "frame_right_0001.png", "frame_right_0002.png", "flow_FW_right_0001.flo5"),
        ("0001", "right", "FW", 2, "frame_right_0002.png", "frame_right_0003.png", "flow_FW_right_0002.flo5"),
        ("0001", "right", "BW", 3, "frame_right_0003.png", "frame_right_0002.png", "flow_BW_right_0003.flo5"),
        ("0001", "right", "BW", 2, "frame_right_0002.png", "frame_right_0001.png", "flow_BW_right_0002.flo5"),
    ]
    assert all(s.flow.parent.name == f"flow_{s.direction}_{s.camera}" for s in dataset.samples)
    only = Spring(tmp_path, cameras=("right",), directions=("BW",))
    assert [(s.camera, s.direction, s.frame) for s in only.samples] == [("right", "BW", 3), ("right", "BW", 2)]


def test_item_flow_is_the_top_left_value_of_each_block_in_frame_pixels(tmp_path: Path) -> None:
    """``flow`` (2, H, W) is the 2x ground truth at rows 2i, columns 2j, unscaled (Spring's vectors
    are in frame pixels); ``valid`` is where that value is finite."""
    dataset = Spring(make_spring(tmp_path, {"0007": 2}), cameras=("left",))
    item = dataset[1]  # BW 2 -> 1
    truth = ground_truth("0007", "left", "BW", 2)
    assert item["image1"].shape == (3, *FRAME_SIZE) and item["flow"].shape == (2, *FRAME_SIZE)
    expected = torch.from_numpy(truth[::2, ::2]).permute(2, 0, 1)
    assert torch.equal(item["flow"], expected)
    assert item["valid"].all() and "flow_blocks" not in item  # the NaN sits at 4K pixel (1, 2): not top-left
    assert item["meta"]["sequence"] == "0007" and item["meta"]["frame"] == 2


def test_full_ground_truth_holds_the_four_values_and_counts_pixels_whose_four_are_finite(tmp_path: Path) -> None:
    """``flow_blocks`` (4, 2, H, W): values at (2i, 2j), (2i + 1, 2j), (2i, 2j + 1), (2i + 1, 2j + 1);
    frame pixel (0, 1) owns the NaN at 4K (1, 2) and is not valid."""
    dataset = Spring(make_spring(tmp_path, {"0007": 2}), cameras=("left",), full_ground_truth=True)
    item = dataset[0]
    truth = ground_truth("0007", "left", "FW", 1)
    blocks = item["flow_blocks"]
    assert blocks.shape == (4, 2, *FRAME_SIZE) and blocks.dtype == torch.float32
    for k, (dy, dx) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
        for i in range(FRAME_SIZE[0]):
            for j in range(FRAME_SIZE[1]):
                if (i, j) != (0, 1):
                    assert blocks[k, :, i, j].tolist() == truth[2 * i + dy, 2 * j + dx].tolist()
    expected_valid = torch.ones(FRAME_SIZE, dtype=torch.bool)
    expected_valid[0, 1] = False
    assert torch.equal(item["valid"], expected_valid)
    assert torch.isfinite(blocks).all()


def test_test_split_gives_pairs_without_flow(tmp_path: Path) -> None:
    dataset = Spring(make_spring(tmp_path, {"0003": 3}, split="test"), "test")
    assert len(dataset) == 8 and all(s.flow is None for s in dataset.samples)
    item = dataset[0]
    assert not item["valid"].any() and item["flow"].abs().sum() == 0


def test_scene_selection(tmp_path: Path) -> None:
    make_spring(tmp_path, {"0001": 2, "0045": 2, "0047": 2}, cameras=("left", "right"))
    assert {s.sequence for s in Spring(tmp_path, scenes=["0045"]).samples} == {"0045"}
    assert {s.sequence for s in Spring(tmp_path, exclude_scenes=["0045", "0047"]).samples} == {"0001"}
    with pytest.raises(FileNotFoundError, match="0099"):
        Spring(tmp_path, scenes=["0045", "0099"])
    with pytest.raises(ValueError, match="cameras"):
        Spring(tmp_path, cameras=("centre",))


def test_datamodule_trains_without_sea_rafts_subval_and_validates_on_it(tmp_path: Path) -> None:
    """``spring``: training = every scene but 0045 and 0047, validation = those two with the full
    ground truth; ``held_out=[]`` trains and validates on every scene."""
    make_spring(tmp_path, {"0001": 2, "0045": 2, "0047": 2})
    module = FlowDataModule(train="spring", val="spring", roots={"spring": str(tmp_path)}, crop_size=(4, 4),
                            num_workers=0)
    module.setup("fit")
    (train,) = module.train_dataset.datasets
    assert {s.sequence for s in train.samples} == {"0001"} and not train.full_ground_truth
    assert {s.sequence for s in module.val_datasets[0].samples} == {"0045", "0047"}
    assert "flow_blocks" in module.val_datasets[0][0]
    assert module.train_dataset[0]["flow"].shape == (2, 4, 4)  # the augmentation's crop
    everything = FlowDataModule(train="spring", val="spring", roots={"spring": str(tmp_path)},
                                dataset_options={"spring": {"held_out": []}}, num_workers=0)
    everything.setup("fit")
    assert len(everything.train_dataset) == len(everything.val_datasets[0]) == 12


def test_flo5_read_of_an_h5py_file_and_write_read_back_by_h5py(tmp_path: Path) -> None:
    """``read_flow`` of a file h5py wrote (NaN = invalid); ``write_flow`` to ``.flo5`` gives the HDF5
    dataset ``flow``, float32 (H, W, 2), gzip, NaN at invalid pixels, as h5py reads it."""
    values = np.arange(24, dtype=np.float32).reshape(3, 4, 2) / 4
    values[2, 3, 1] = np.nan
    write_flo5_h5py(tmp_path / "in.flo5", values)
    flow, valid = read_flow(tmp_path / "in.flo5")
    assert flow.dtype == np.float32 and flow.shape == (3, 4, 2)
    assert valid.sum() == 11 and not valid[2, 3]
    assert np.array_equal(flow[valid], values[valid])

    mask = np.ones((3, 4), bool)
    mask[0, 0] = False
    write_flow(tmp_path / "out.flo5", values[..., ::-1], mask)  # a strided view, as tensors give
    with h5py.File(tmp_path / "out.flo5", "r") as file:
        assert list(file.keys()) == ["flow"]
        stored = file["flow"]
        assert stored.dtype == np.float32 and stored.shape == (3, 4, 2) and stored.compression == "gzip"
        data = stored[()]
    assert np.isnan(data[0, 0]).all() and np.isnan(data[2, 3]).all()
    keep = mask & np.isfinite(values).all(axis=2)
    assert np.array_equal(data[keep], values[..., ::-1][keep])
    assert not list(tmp_path.glob(".*.tmp"))
