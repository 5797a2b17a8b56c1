"""The flow datasets of today's field, read from trees written in their exact formats
(tests/support/field_flow_fixtures.py: independent byte-level writers)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.field_flow_fixtures import (
    make_autoflow,
    make_chairs2,
    make_middlebury,
    make_tartanair,
    make_things_subset,
    occlusion_map,
)
from tests.support.flow_fixtures import HEIGHT, WIDTH, flow_field, frame, make_hd1k, make_kitti, make_sintel
from tests.support.spring_tree import make_spring
from zoo.datamodules.flow.datamodule import FlowDataModule
from zoo.datamodules.flow.datasets import AutoFlow, FlyingChairs2, FlyingThings3DSubset, Middlebury, TartanAir
from zoo.datamodules.flow.metrics import AngularError
from zoo.measure.evaluation import evaluate_flow, flow_protocol


def rgb(seed: int) -> torch.Tensor:
    return torch.from_numpy(frame(seed).astype(np.float32) / 255).permute(2, 0, 1)


def assert_item(item, frame1: int, frame2: int, flow: np.ndarray, valid: np.ndarray | None = None):
    valid = np.ones((HEIGHT, WIDTH), bool) if valid is None else valid
    torch.testing.assert_close(item["image1"], rgb(frame1), rtol=0, atol=0)
    torch.testing.assert_close(item["image2"], rgb(frame2), rtol=0, atol=0)
    np.testing.assert_array_equal(item["valid"].numpy(), valid)
    np.testing.assert_array_equal(item["flow"].permute(1, 2, 0).numpy(), np.where(valid[..., None], flow, 0))


def test_chairs2_both_directions_with_occlusions(tmp_path):
    root = make_chairs2(tmp_path / "FlyingChairs2", count=2)
    train = FlyingChairs2(root, "train")
    assert len(train) == 4 and [s.sequence for s in train.samples] == ["train/forward", "train/backward"] * 2
    assert_item(train[0], 0, 1, flow_field(0))
    assert_item(train[3], 11, 10, flow_field(11))  # pair 1 backward: img_1 -> img_0, flow_10
    np.testing.assert_array_equal(train.occlusion(3), occlusion_map(11))
    assert train.has_occlusions
    val = FlyingChairs2(root, "val", directions=("forward",))
    assert len(val) == 2
    assert_item(val[1], 1010, 1011, flow_field(110))


def test_things_subset_future_and_past(tmp_path):
    root = make_things_subset(tmp_path / "subset", frames=(5, 6, 7))
    train = FlyingThings3DSubset(root, "train")
    # 2 passes x (2 future + 2 past)
    assert len(train) == 8
    futures = [i for i, s in enumerate(train.samples) if s.sequence == "clean/left/future"]
    pasts = [i for i, s in enumerate(train.samples) if s.sequence == "final/left/past"]
    assert_item(train[futures[0]], 5, 6, flow_field(5))
    assert_item(train[pasts[1]], 10 + 7, 10 + 6, flow_field(57))
    np.testing.assert_array_equal(train.occlusion(pasts[1]), occlusion_map(57))
    assert len(FlyingThings3DSubset(root, "val", passes=("clean",), directions=("future",))) == 2


def test_tartanair_every_environment_difficulty_and_trajectory(tmp_path):
    root = make_tartanair(tmp_path / "TartanAir")
    every = TartanAir(root)
    assert len(every) == 6
    assert sorted({s.sequence for s in every.samples}) == ["abandonedfactory/Easy/P000", "abandonedfactory/Hard/P001",
                                                           "office/Easy/P002"]
    valid = np.ones((HEIGHT, WIDTH), bool)
    valid[1, 2] = False  # the NaN pixel
    first = every.samples.index(next(s for s in every.samples if s.sequence == "abandonedfactory/Hard/P001"))
    assert_item(every[first], 100, 101, flow_field(100), valid)
    assert_item(every[first + 1], 101, 102, flow_field(101))
    np.testing.assert_array_equal(every.occlusion(first + 1), occlusion_map(101))
    assert len(TartanAir(root, difficulties=("Hard",))) == 2
    assert every.has_occlusions
    for mask in (root / "office/Easy/P002/flow").glob("*_mask.npy"):  # downloaded with --only-flow
        mask.unlink()
    flow_only = TartanAir(root)
    assert len(flow_only) == 6 and not flow_only.has_occlusions
    assert_item(flow_only[5], 201, 202, flow_field(201))


def test_autoflow_four_parts(tmp_path):
    root = make_autoflow(tmp_path / "AutoFlow", per_part=2)
    dataset = AutoFlow(root)
    assert len(dataset) == 8
    assert_item(dataset[5], 31, 36, flow_field(31))  # part 3, second sample


def test_middlebury_unknown_flow_and_angular_error(tmp_path):
    root = make_middlebury(tmp_path / "Middlebury")
    dataset = Middlebury(root)
    assert [s.sequence for s in dataset.samples] == ["Dimetrodon", "Grove2"]
    valid = np.ones((HEIGHT, WIDTH), bool)
    valid[0, 0] = valid[3, 5] = False
    assert_item(dataset[1], 20, 21, flow_field(1), valid)

    def zero(image1, image2):
        return torch.zeros(1, 2, *image1.shape[-2:])

    rows = {r.metric: r.value for r in evaluate_flow(zero, dataset, flow_protocol("middlebury"))}
    # independent float64: per sequence mean over known pixels, then the mean over sequences (not the pooled
    # mean: the sequences have 96 and 94 known pixels); for a zero
    # prediction the angle is arccos(1 / sqrt(1 + |g|^2))
    epe, aae = [], []
    for s, known in enumerate((np.ones_like(valid), valid)):
        truth = flow_field(s).astype(np.float64)[known]
        length = np.sqrt((truth**2).sum(-1))
        epe.append(length.mean())
        aae.append(np.degrees(np.arccos(1 / np.sqrt(1 + length**2))).mean())
    assert rows["epe"] == pytest.approx(np.mean(epe), rel=1e-6)  # float32 flows, float64 sums
    assert rows["aae"] == pytest.approx(np.mean(aae), rel=1e-6)


def test_angular_error_hand_cases():
    metric = AngularError()
    pred = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).T.reshape(1, 2, 1, 2)
    truth = torch.tensor([[0.0, 0.0], [0.0, 0.0]]).T.reshape(1, 2, 1, 2)
    metric.update(pred, truth)
    # (1, 0, 1) vs (0, 0, 1): 45 degrees; identical vectors: 0 degrees
    assert float(metric.compute()) == pytest.approx(22.5, abs=1e-9)
    opposite = AngularError()
    opposite.update(torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1), torch.tensor([-1.0, 0.0]).reshape(1, 2, 1, 1))
    assert float(opposite.compute()) == pytest.approx(90.0, abs=1e-9)  # (1,0,1).(-1,0,1) = 0


def constant_flow(image1, image2):
    return torch.tensor([1.0, -2.0]).reshape(1, 2, 1, 1).expand(1, 2, *image1.shape[-2:])


def test_chairs2_and_things_subset_protocols_split_occluded_pixels(tmp_path):
    make_chairs2(tmp_path / "data" / "FlyingChairs2")
    make_things_subset(tmp_path / "data" / "FlyingThings3D_subset")
    # the flow seeds of the validation pairs: chairs2 val forward, the subset's val clean future
    for name, seeds in (("chairs2", [100, 110]), ("things-subset-clean", [5, 6])):
        module = FlowDataModule(val=name, data_dir=str(tmp_path / "data"), num_workers=0)
        module.setup("validate")
        (dataset,) = module.val_datasets
        rows = {r.metric: r.value for r in evaluate_flow(constant_flow, dataset, flow_protocol(name))}
        errors = [np.sqrt(((flow_field(s).astype(np.float64) - [1.0, -2.0]) ** 2).sum(-1)) for s in seeds]
        occluded = [occlusion_map(s) for s in seeds]
        assert rows["epe"] == pytest.approx(np.concatenate([e.ravel() for e in errors]).mean(), rel=1e-6)
        assert rows["epe-occ"] == pytest.approx(np.concatenate([e[o] for e, o in zip(errors, occluded)]).mean(), rel=1e-6)
        assert rows["epe-non-occ"] == pytest.approx(
            np.concatenate([e[~o] for e, o in zip(errors, occluded)]).mean(), rel=1e-6)


def test_compositions_mix_the_new_sets_with_weights(tmp_path):
    data = tmp_path / "data"
    make_tartanair(data / "TartanAir")
    make_things_subset(data / "FlyingThings3D_subset")
    make_autoflow(data / "AutoFlow")
    make_chairs2(data / "FlyingChairs2")
    make_middlebury(data / "Middlebury")
    module = FlowDataModule(train="2*tartanair+things-subset+autoflow+chairs2", val="middlebury+chairs2",
                            data_dir=str(data), crop_size=(4, 8), num_workers=0)
    module.setup("fit")
    assert [d.name for d in module.train_dataset.datasets] == ["tartanair", "tartanair", "things-subset", "autoflow",
                                                               "chairs2"]
    assert len(module.train_dataset) == 2 * 6 + 8 + 4 + 4
    item = module.train_dataset[0]
    assert item["image1"].shape == (3, 4, 8) and item["flow"].shape == (2, 4, 8)
    assert [len(d) for d in module.val_datasets] == [2, 2]


def test_readme_recipes_compose(tmp_path):
    """Every FlowDataModule(train=..., val=...) recipe of README's "Recipes" block builds on trees of its sets."""
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    block = re.search(r"Recipes \(repeat weights.*?```python\n(.*?)```", readme, flags=re.DOTALL).group(1)
    recipes = re.findall(r'FlowDataModule\(train="([^"]+)", val="([^"]+)", data_dir="/data"\)', block)
    assert len(recipes) == 3
    data = tmp_path / "data"
    make_tartanair(data / "TartanAir")
    make_things_subset(data / "FlyingThings3D_subset")
    make_autoflow(data / "AutoFlow")
    make_chairs2(data / "FlyingChairs2")
    make_sintel(data / "MPI-Sintel-complete")
    make_kitti(data / "KITTI2015")
    make_hd1k(data / "HD1K")
    make_spring(data / "spring", {"0001": 2})
    for train, val in recipes:
        module = FlowDataModule(train=train, val=val, data_dir=str(data), crop_size=(4, 8), num_workers=0)
        module.setup("fit")
        assert len(module.train_dataset) > 0 and all(len(d) > 0 for d in module.val_datasets)
