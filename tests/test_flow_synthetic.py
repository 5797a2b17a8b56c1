"""SyntheticFlow: exact ground truth (checked by an independent float64 warp), determinism, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datamodules import SyntheticFlow


def _backward_warp(image: np.ndarray, flow: np.ndarray):
    """Bilinear samples of ``image`` (3, H, W) at ``x + flow(x)``, float64, with the four integer
    neighbours used for every pixel: returns (warped (3, H, W), x0, y0, inside)."""
    _, height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs + flow[0], ys + flow[1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < width) & (y0 + 1 < height)
    x0c, y0c = np.clip(x0, 0, width - 2), np.clip(y0, 0, height - 2)
    fx, fy = x - x0c, y - y0c
    top = image[:, y0c, x0c] * (1 - fx) + image[:, y0c, x0c + 1] * fx
    bottom = image[:, y0c + 1, x0c] * (1 - fx) + image[:, y0c + 1, x0c + 1] * fx
    return top * (1 - fy) + bottom * fy, x0c, y0c, inside


def _interior(owner: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood belongs to one layer (away from anti-aliased edges)."""
    padded = np.pad(owner, 1, mode="edge")
    height, width = owner.shape
    same = np.ones(owner.shape, bool)
    for dy in range(3):
        for dx in range(3):
            same &= padded[dy : dy + height, dx : dx + width] == owner
    return same


@pytest.mark.parametrize("index", [0, 1, 2, 3])
def test_warping_frame2_by_the_flow_reproduces_frame1_where_visible_in_both(index):
    dataset = SyntheticFlow(size=(96, 128), length=10, seed=7, photometric=False)
    pair = dataset.render(index)
    image1, image2 = pair.image1.double().numpy(), pair.image2.double().numpy()
    flow = pair.flow.double().numpy()
    owner1, owner2 = pair.owner1.numpy(), pair.owner2.numpy()

    warped, x0, y0, inside = _backward_warp(image2, flow)
    interior2 = _interior(owner2)
    visible = inside & _interior(owner1)
    for dy in (0, 1):
        for dx in (0, 1):
            visible &= interior2[y0 + dy, x0 + dx] & (owner2[y0 + dy, x0 + dx] == owner1)
    assert visible.mean() > 0.3, "too few pixels visible in both frames to test anything"

    error = np.abs(warped - image1).mean(axis=0)[visible]
    # What remains is the blur of resampling fine texture twice (frame 2, then the warp).
    assert error.mean() < 0.02 and np.percentile(error, 99) < 0.1
    # The residual is smallest at the stated flow: a quarter-pixel error in any direction, or a
    # one-pixel error, leaves clearly more.
    for offset, factor in [((0.25, 0), 1.1), ((-0.25, 0), 1.1), ((0, 0.25), 1.1), ((0, -0.25), 1.1), ((1, 0), 2.5)]:
        shifted, *_ = _backward_warp(image2, flow + np.array(offset, float)[:, None, None])
        assert np.abs(shifted - image1).mean(axis=0)[visible].mean() > factor * error.mean()


def test_items_have_the_contract_shapes_and_ranges():
    item = SyntheticFlow(size=(37, 53), length=3, seed=0)[2]
    assert item["image1"].shape == item["image2"].shape == (3, 37, 53)
    assert item["flow"].shape == (2, 37, 53) and item["valid"].shape == (37, 53)
    assert item["image1"].dtype == item["flow"].dtype == torch.float32 and item["valid"].dtype == torch.bool
    assert item["valid"].all() and torch.isfinite(item["flow"]).all()
    for key in ("image1", "image2"):
        assert 0 <= item[key].min() and item[key].max() <= 1 and item[key].std() > 0.02
    assert item["meta"]["dataset"] == "synthetic" and item["meta"]["frame"] == 2


def test_pairs_are_a_function_of_seed_and_index():
    a, b = SyntheticFlow((32, 40), length=5, seed=3), SyntheticFlow((32, 40), length=5, seed=3)
    for key in ("image1", "image2", "flow"):
        assert torch.equal(a[4][key], b[4][key])
    assert not torch.equal(a[4]["flow"], a[3]["flow"])
    assert not torch.equal(a[4]["image1"], SyntheticFlow((32, 40), length=5, seed=4)[4]["image1"])


def test_pairs_do_not_depend_on_the_thread_count():
    dataset = SyntheticFlow((96, 128), length=2, seed=5)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        single = dataset[1]
        torch.set_num_threads(2)
        double = dataset[1]
    finally:
        torch.set_num_threads(threads)
    for key in ("image1", "image2", "flow"):
        assert torch.equal(single[key], double[key])


def test_layers_move_differently_and_occlude():
    pair = SyntheticFlow((96, 128), length=1, seed=0, photometric=False).render(0)
    owners = pair.owner1.unique()
    assert len(owners) >= 3  # background and at least two objects in view
    means = [pair.flow[:, pair.owner1 == o].mean(dim=1) for o in owners]
    assert min(torch.dist(means[0], m) for m in means[1:]) > 0.1
    assert not torch.equal(pair.owner1, pair.owner2)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="size"):
        SyntheticFlow(size=(4, 100))
    with pytest.raises(ValueError, match="length"):
        SyntheticFlow(length=0)
    with pytest.raises(IndexError, match="out of range"):
        SyntheticFlow((16, 16), length=2)[2]
