"""The field's flow datasets refuse missing, truncated and mis-sized files in one line naming them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.support.field_flow_fixtures import (
    make_autoflow,
    make_chairs2,
    make_kubric,
    make_middlebury,
    make_scene_flow,
    make_tartanair,
    make_things_subset,
    make_viper,
    make_vkitti2,
    npy_bytes,
    npz_bytes,
    write,
)
from tests.support.flow_fixtures import hand_built_png
from zoo.datamodules.flow.datasets import (
    AutoFlow,
    DatasetNotFoundError,
    FlyingChairs2,
    FlyingThings3DSubset,
    Kubric,
    Middlebury,
    Monkaa,
    TartanAir,
    Viper,
    VirtualKITTI2,
)

pytestmark = pytest.mark.hostile


@pytest.mark.parametrize(("make", "cls", "removed"), [
    (make_chairs2, FlyingChairs2, "train/0000001-occ_10.png"),
    (make_chairs2, FlyingChairs2, "train/0000000-img_1.png"),
    (make_things_subset, FlyingThings3DSubset, "train/image_final/left/0000007.png"),
    (make_things_subset, FlyingThings3DSubset, "train/flow_occlusions/left/into_past/0000006.png"),
    (make_tartanair, TartanAir, "office/Easy/P002/flow/000001_000002_flow.npy"),
    (make_tartanair, TartanAir, "office/Easy/P002/flow/000000_000001_mask.npy"),
    (make_autoflow, AutoFlow, "static_40k_png_2_of_4/table_00000/forward.flo"),
    (make_middlebury, Middlebury, "other-data/Grove2/frame11.png"),
])
def test_an_incomplete_download_names_the_missing_file(tmp_path, make, cls, removed):
    root = make(tmp_path / "root")
    (root / removed).unlink()
    with pytest.raises(DatasetNotFoundError, match="incomplete download") as error:
        cls(root)
    assert str(root / removed) in str(error.value)


def test_a_missing_autoflow_part_is_named(tmp_path):
    root = make_autoflow(tmp_path / "AutoFlow")
    shutil.rmtree(root / "static_40k_png_3_of_4")
    with pytest.raises(DatasetNotFoundError, match="static_40k_png_3_of_4 missing"):
        AutoFlow(root)


def test_an_empty_root_names_the_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    for cls in (TartanAir, Middlebury, FlyingChairs2, FlyingThings3DSubset):
        with pytest.raises(DatasetNotFoundError, match="Expected layout"):
            cls(tmp_path / "empty")


def test_truncated_or_misshapen_npy_is_refused_naming_it(tmp_path):
    root = make_tartanair(tmp_path / "TartanAir", trajectories=("env/Easy/P000",), frames=2)
    dataset = TartanAir(root)
    flow_file = root / "env/Easy/P000/flow/000000_000001_flow.npy"
    flow_file.write_bytes(flow_file.read_bytes()[:-40])
    with pytest.raises(ValueError, match=f"^{flow_file}: not a readable .npy array"):
        dataset[0]
    write(flow_file, npy_bytes(np.zeros((8, 12, 3), "<f4")))
    with pytest.raises(ValueError, match=r"shape \(8, 12, 3\), expected \(H, W, 2\)"):
        dataset[0]
    write(flow_file, npy_bytes(np.zeros((4, 12, 2), "<f4")))
    with pytest.raises(ValueError, match=f"frame sizes .* and flow size .* differ .*{flow_file}"):
        dataset[0]
    mask_file = root / "env/Easy/P000/flow/000000_000001_mask.npy"
    write(mask_file, b"\x93NUMPY\x01\x00")
    with pytest.raises(ValueError, match=f"^{mask_file}: not a readable"):
        dataset.occlusion(0)


def test_truncated_flo_and_missized_occlusion_map_are_named(tmp_path):
    root = make_chairs2(tmp_path / "FlyingChairs2", count=1)
    dataset = FlyingChairs2(root, "train")
    occlusion = root / "train/0000000-occ_01.png"
    write(occlusion, hand_built_png(np.zeros((5, 12, 1), np.uint8), colour_type=0))
    with pytest.raises(ValueError, match=f"{occlusion}: occlusion map of 12x5 px for frames of 12x8"):
        dataset.occlusion(0)
    flow = root / "train/0000000-flow_01.flo"
    flow.write_bytes(flow.read_bytes()[:-8])
    with pytest.raises(ValueError, match=str(flow)):
        dataset[0]


@pytest.mark.parametrize(("make", "cls", "removed"), [
    (make_vkitti2, VirtualKITTI2, "vkitti_2.0.3_backwardFlow/Scene02/fog/frames/backwardFlow/Camera_1/backwardFlow_00002.png"),
    (make_vkitti2, VirtualKITTI2, "vkitti_2.0.3_forwardFlow/Scene01/clone/frames/forwardFlow/Camera_0/flow_00000.png"),
    (make_viper, Viper, "train/img/001/001_00021.png"),
    (make_kubric, Kubric, "0001/forward_flow_00001.png"),
    (make_scene_flow, Monkaa, "optical_flow/a_rain_of_stones_x2/into_past/left/OpticalFlowIntoPast_0002_L.pfm"),
])
def test_more_incomplete_downloads_name_the_missing_file(tmp_path, make, cls, removed):
    root = make(tmp_path / "root")
    (root / removed).unlink()
    with pytest.raises(DatasetNotFoundError, match="incomplete download") as error:
        cls(root)
    assert str(root / removed) in str(error.value)


def test_vkitti2_refuses_an_8_bit_flow_png(tmp_path):
    root = make_vkitti2(tmp_path / "VirtualKITTI2", scenes=("Scene01/clone",), frames=2)
    dataset = VirtualKITTI2(root, directions=("forward",), cameras=("Camera_0",))
    flow = root / "vkitti_2.0.3_forwardFlow/Scene01/clone/frames/forwardFlow/Camera_0/flow_00000.png"
    write(flow, hand_built_png(np.zeros((8, 12, 3), np.uint8)))
    with pytest.raises(ValueError, match=f"^{flow}: Virtual KITTI 2 flow PNGs are 16-bit RGB"):
        dataset[0]
    flow.write_bytes(hand_built_png(np.zeros((8, 12, 3), np.uint16))[:60])
    with pytest.raises(ValueError, match=str(flow)):
        dataset[0]


def test_viper_refuses_truncated_or_incomplete_npz(tmp_path):
    root = make_viper(tmp_path / "VIPER", splits=("train",), flow_frames=(10,))
    dataset = Viper(root)
    flow = root / "train/flow/001/001_00010.npz"
    flow.write_bytes(flow.read_bytes()[:100])
    with pytest.raises(ValueError, match=f"^{flow}: not a readable .npz archive"):
        dataset[0]
    write(flow, npz_bytes({"u": np.zeros((8, 12), "<f4")}))
    with pytest.raises(ValueError, match=f"^{flow}: VIPER flow needs arrays u and v"):
        dataset[0]
    write(flow, npz_bytes({"u": np.zeros((8, 12), "<f4"), "v": np.zeros((8, 11), "<f4")}))
    with pytest.raises(ValueError, match="expected two float"):
        dataset[0]


def test_kubric_without_data_ranges_names_it(tmp_path):
    root = make_kubric(tmp_path / "Kubric", sequences=("0000",), frames=2)
    dataset = Kubric(root)
    (root / "0000/data_ranges.json").unlink()
    with pytest.raises(FileNotFoundError, match="0000/data_ranges.json does not exist"):
        dataset[0]
    write(root / "0000/data_ranges.json", b'{"backward_flow": {"min": 0, "max": 1}}')
    with pytest.raises(ValueError, match="data_ranges.json: expected"):
        dataset[0]


@pytest.mark.parametrize(("make", "cls", "removed"), [
    (make_scene_flow, Monkaa, "frames_finalpass/a_rain_of_stones_x2/left/0001.png"),
    (make_tartanair, TartanAir, "office/Easy/P002/image_left/000001_left.png"),
    (make_vkitti2, VirtualKITTI2, "vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_1/rgb_00001.jpg"),
    (make_kubric, Kubric, "0000/rgba_00001.png"),
])
def test_a_frame_missing_inside_a_sequence_is_named_not_skipped(tmp_path, make, cls, removed):
    root = make(tmp_path / "root")
    (root / removed).unlink()
    with pytest.raises(DatasetNotFoundError, match="missing inside a sequence") as error:
        cls(root)
    assert str(root / removed) in str(error.value)
