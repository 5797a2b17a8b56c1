"""SyntheticFlow: exact ground truth of the v1 recipe (checked by an independent float64 warp),
determinism, thread-count independence, shapes and arguments of both recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.synthetic_flow_checks import warp_residuals
from zoo.datamodules import SyntheticFlow
from zoo.datamodules.flow.synthetic import RECIPES, SCENE_KINDS

QUARTER_PIXEL_SHIFTS = [(0.25, 0), (-0.25, 0), (0, 0.25), (0, -0.25)]


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_v1_warping_frame2_by_the_flow_reproduces_frame1_where_visible_in_both(index):
    pair = SyntheticFlow(size=(96, 128), length=10, seed=7, photometric=False, recipe="v1").render(index)
    error, visible, shifted = warp_residuals(pair, QUARTER_PIXEL_SHIFTS + [(1, 0)])
    assert visible > 0.3, "too few pixels visible in both frames to test anything"
    # What remains is the blur of resampling fine texture twice (frame 2, then the warp).
    assert error.mean() < 0.02 and np.percentile(error, 99) < 0.1
    # The residual is smallest at the stated flow: a quarter-pixel error in any direction, or a
    # one-pixel error, leaves clearly more.
    assert min(shifted[:4]) > 1.1 * error.mean() and shifted[4] > 2.5 * error.mean()


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_items_have_the_contract_shapes_and_ranges(recipe):
    dataset = SyntheticFlow(size=(37, 53), length=6, seed=0, recipe=recipe)
    for index in range(6):
        item = dataset[index]
        assert item["image1"].shape == item["image2"].shape == (3, 37, 53)
        assert item["flow"].shape == (2, 37, 53) and item["valid"].shape == (37, 53)
        assert item["image1"].dtype == item["flow"].dtype == torch.float32 and item["valid"].dtype == torch.bool
        assert item["valid"].float().mean() > 0.95 and torch.isfinite(item["flow"]).all()
        for key in ("image1", "image2"):
            assert 0 <= item[key].min() and item[key].max() <= 1 and item[key].std() > 0.005
        assert item["meta"] == {"dataset": "synthetic", "sequence": "seed0", "frame": index, "paths": ("", "", "")}


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_pairs_are_a_function_of_seed_and_index(recipe):
    a, b = SyntheticFlow((32, 40), length=5, seed=3, recipe=recipe), SyntheticFlow((32, 40), length=5, seed=3, recipe=recipe)
    for index in (3, 4):
        for key in ("image1", "image2", "flow", "valid"):
            assert torch.equal(a[index][key], b[index][key])
    assert not torch.equal(a[4]["flow"], a[3]["flow"])
    assert not torch.equal(a[4]["image1"], SyntheticFlow((32, 40), length=5, seed=4, recipe=recipe)[4]["image1"])


@pytest.mark.parametrize("scenes", [{kind: 1} for kind in SCENE_KINDS], ids=lambda s: next(iter(s)))
def test_pairs_do_not_depend_on_the_thread_count(scenes):
    dataset = SyntheticFlow((96, 128), length=2, seed=5, scenes=scenes)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = dataset[1]
        torch.set_num_threads(2)
        double = dataset[1]
    finally:
        torch.set_num_threads(threads)
    for key in ("image1", "image2", "flow", "valid"):
        assert torch.equal(single[key], double[key])


def test_v1_layers_move_differently_and_occlude():
    pair = SyntheticFlow((96, 128), length=1, seed=0, photometric=False, recipe="v1").render(0)
    owners = pair.owner1.unique()
    assert len(owners) >= 3  # background and at least two objects in view
    means = [pair.flow[:, pair.owner1 == o].mean(dim=1) for o in owners]
    assert min(torch.dist(means[0], m) for m in means[1:]) > 0.1
    assert not torch.equal(pair.owner1, pair.owner2)


def test_the_kind_of_each_pair_follows_the_weights():
    dataset = SyntheticFlow((16, 16), length=4000, seed=0, scenes={"driving": 3, "subpixel": 1})
    kinds = [dataset.kind(i) for i in range(4000)]
    assert set(kinds) == {"driving", "subpixel"} and abs(kinds.count("driving") / 4000 - 0.75) < 0.03
    assert dataset.render(kinds.index("subpixel")).kind == "subpixel"
    assert SyntheticFlow((16, 16), length=9, seed=0).scenes == RECIPES["v2"]


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="size"):
        SyntheticFlow(size=(4, 100))
    with pytest.raises(ValueError, match="length"):
        SyntheticFlow(length=0)
    with pytest.raises(IndexError, match="out of range"):
        SyntheticFlow((16, 16), length=2)[2]
    with pytest.raises(ValueError, match="recipe"):
        SyntheticFlow(recipe="v3")
    for scenes in ({"chairs": 1}, {}, {"driving": -1}, {"driving": 0}):
        with pytest.raises(ValueError, match="scenes"):
            SyntheticFlow(scenes=scenes)
