"""Virtual KITTI 2, VIPER, Kubric, Monkaa and Driving, read from trees written in their exact formats
(tests/support/field_flow_fixtures.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.field_flow_fixtures import (
    KUBRIC_RANGES,
    kubric_codes,
    make_kubric,
    make_scene_flow,
    make_viper,
    make_vkitti2,
    vkitti2_flow,
)
from tests.support.flow_fixtures import HEIGHT, WIDTH, flow_field, frame
from zoo.datamodules.flow.datamodule import FlowDataModule
from zoo.datamodules.flow.datasets import Driving, Kubric, Monkaa, Viper, VirtualKITTI2
from zoo.datamodules.flow.datasets.vkitti2 import read_vkitti2_flow


def rgb(seed: int) -> torch.Tensor:
    return torch.from_numpy(frame(seed).astype(np.float32) / 255).permute(2, 0, 1)


def test_vkitti2_decodes_the_published_mapping(tmp_path):
    root = make_vkitti2(tmp_path / "VirtualKITTI2")
    dataset = VirtualKITTI2(root)
    # 2 scenes x 2 cameras x (2 forward + 2 backward)
    assert len(dataset) == 16
    index = next(i for i, s in enumerate(dataset.samples)
                 if s.sequence == "Scene02/fog/Camera_1/backward" and s.frame == 2)
    item = dataset[index]
    expected_valid = np.ones((HEIGHT, WIDTH), bool)
    expected_valid[2, 3] = False
    np.testing.assert_array_equal(item["valid"].numpy(), expected_valid)
    # quantisation: one code step is 2 (W - 1) / 65535 px in u (2 (H - 1) / 65535 in v); rounding halves it
    truth = vkitti2_flow(1000 + 100 + 20 + 1)
    got = item["flow"].permute(1, 2, 0).numpy()
    step = np.array([WIDTH - 1, HEIGHT - 1]) / 65535
    assert (np.abs(got - truth)[expected_valid] <= step + 1e-6).all()
    assert np.abs(truth).max() > 3  # large enough that a wrong scale would show
    assert (got[~expected_valid] == 0).all()
    jpeg = Image.open(dataset.samples[index].image1)  # frame 2 -> frame 1 of Scene02/fog/Camera_1
    assert dataset.samples[index].image1.name == "rgb_00002.jpg" and dataset.samples[index].image2.name == "rgb_00001.jpg"
    torch.testing.assert_close(item["image1"], torch.from_numpy(np.asarray(jpeg, np.float32) / 255).permute(2, 0, 1))


def test_vkitti2_extreme_codes_are_the_frame_size(tmp_path):
    from tests.support.field_flow_fixtures import write
    from tests.support.flow_fixtures import hand_built_png

    codes = np.zeros((3, 5, 3), np.uint16)
    codes[0, 0] = (65535, 0, 1)  # u = W - 1, v = -(H - 1)
    codes[1, 1] = (0, 65535, 7)
    path = write(tmp_path / "flow_00000.png", hand_built_png(codes))
    flow, valid = read_vkitti2_flow(path)
    np.testing.assert_allclose(flow[0, 0], [4.0, -2.0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(flow[1, 1], [-4.0, 2.0], rtol=0, atol=1e-6)
    assert valid.sum() == 2 and valid[0, 0] and valid[1, 1]


def test_viper_npz_with_nan_as_invalid(tmp_path):
    root = make_viper(tmp_path / "VIPER")
    train, val = Viper(root, "train"), Viper(root, "val")
    assert len(train) == len(val) == 2
    item = val[1]
    torch.testing.assert_close(item["image1"], rgb(100 + 20), rtol=0, atol=0)
    torch.testing.assert_close(item["image2"], rgb(100 + 21), rtol=0, atol=0)
    valid = np.ones((HEIGHT, WIDTH), bool)
    valid[0, 1] = False
    np.testing.assert_array_equal(item["valid"].numpy(), valid)
    np.testing.assert_array_equal(item["flow"].permute(1, 2, 0).numpy(), np.where(valid[..., None], flow_field(120), 0))


def test_kubric_scaled_by_data_ranges(tmp_path):
    root = make_kubric(tmp_path / "Kubric")
    forward = Kubric(root)
    assert len(forward) == 4 and [s.frame for s in forward.samples] == [0, 1, 0, 1]
    item = forward[3]  # sequence 0001, frame 1 -> 2, forward_flow_00001
    torch.testing.assert_close(item["image1"], rgb(11), rtol=0, atol=0)  # alpha dropped
    low, high = KUBRIC_RANGES["forward_flow"]["min"], KUBRIC_RANGES["forward_flow"]["max"]
    expected = kubric_codes(11).astype(np.float64) / 65535 * (high - low) + low
    np.testing.assert_allclose(item["flow"].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-5)
    assert item["flow"][:, 0, 0].tolist() == pytest.approx([low, high])
    both = Kubric(root, directions=("forward", "backward"))
    backward = next(i for i, s in enumerate(both.samples) if s.sequence == "0000/backward" and s.frame == 2)
    item = both[backward]  # frame 2 -> 1, backward_flow_00002
    torch.testing.assert_close(item["image1"], rgb(2), rtol=0, atol=0)
    low, high = KUBRIC_RANGES["backward_flow"]["min"], KUBRIC_RANGES["backward_flow"]["max"]
    np.testing.assert_allclose(item["flow"].permute(1, 2, 0).numpy(),
                               kubric_codes(7).astype(np.float64) / 65535 * (high - low) + low, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("cls", "sequences"), [
    (Monkaa, ("a_rain_of_stones_x2", "eating_x2")),
    (Driving, ("15mm_focallength/scene_forwards/fast", "35mm_focallength/scene_backwards/slow")),
])
def test_monkaa_and_driving_pfm_both_directions(tmp_path, cls, sequences):
    root = make_scene_flow(tmp_path / cls.title, sequences=sequences, cameras=("left", "right"))
    dataset = cls(root, cameras=("left", "right"))
    # 2 passes x 2 sequences x 2 cameras x (2 future + 2 past)
    assert len(dataset) == 32
    past = next(i for i, s in enumerate(dataset.samples)
                if s.sequence == f"final/{sequences[1]}/right/past" and s.frame == 2)
    item = dataset[past]
    torch.testing.assert_close(item["image1"], rgb(300 + 10 + 2), rtol=0, atol=0)
    torch.testing.assert_close(item["image2"], rgb(300 + 10 + 1), rtol=0, atol=0)
    np.testing.assert_array_equal(item["flow"].permute(1, 2, 0).numpy(), flow_field(300 + 2 + 50))
    assert len(cls(root)) == 16 and len(cls(root, passes=("clean",), directions=("future",))) == 4


def test_compositions_and_eval_names(tmp_path):
    data = tmp_path / "data"
    make_vkitti2(data / "VirtualKITTI2")
    make_viper(data / "VIPER")
    make_kubric(data / "Kubric")
    make_scene_flow(data / "Monkaa")
    make_scene_flow(data / "Driving", sequences=("15mm_focallength/scene_forwards/fast",))
    module = FlowDataModule(train="vkitti2+2*viper+kubric+monkaa+driving", val="vkitti2+viper+kubric+monkaa+driving",
                            data_dir=str(data), crop_size=(4, 8), num_workers=0)
    module.setup("fit")
    assert [d.name for d in module.train_dataset.datasets] == ["vkitti2", "viper", "viper", "kubric", "monkaa", "driving"]
    assert [len(d) for d in module.val_datasets] == [4, 2, 4, 4, 4]
    assert module.train_dataset[0]["flow"].shape == (2, 4, 8)
