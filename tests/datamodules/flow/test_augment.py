"""Flow augmentation: geometry checked against hand-derived maps and an independent warp; sparse flow never interpolated."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.datamodules.flow.augment import FlowAugmentation, PhotometricJitter, affine_augment


def _smooth_image(height, width, shift=(0.0, 0.0)):
    """A smooth RGB pattern I(x - shift): its pair (I, I(x - t)) has flow t everywhere. float64."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs - shift[0], ys - shift[1]
    channels = [np.sin(x / 5.0 + c) * np.cos(y / 7.0 - c) for c in range(3)]
    return torch.from_numpy(0.5 + 0.4 * np.stack(channels))


def _translated_pair(height=48, width=64, t=(3.0, -2.0)):
    return {
        "image1": _smooth_image(height, width).float(),
        "image2": _smooth_image(height, width, t).float(),
        "flow": torch.tensor(t, dtype=torch.float32)[:, None, None].expand(2, height, width).clone(),
        "valid": torch.ones(height, width, dtype=torch.bool),
        "meta": {"dataset": "test"},
    }


def _no_randomness(**kwargs):
    settings = {"scale_range": (0.0, 0.0), "stretch": 0.0, "hflip_prob": 0.0, "vflip_prob": 0.0, "photometric": None}
    settings.update(kwargs)
    return settings


def test_identity_settings_return_the_input():
    item = _translated_pair()
    out = FlowAugmentation((48, 64), **_no_randomness())(item)
    for key in ("image1", "image2", "flow", "valid"):
        torch.testing.assert_close(out[key], item[key], atol=1e-5, rtol=0)
    assert out["meta"] is item["meta"]


def test_horizontal_flip_mirrors_frames_and_negates_u():
    item = _translated_pair()
    out = FlowAugmentation((48, 64), **_no_randomness(hflip_prob=1.0))(item)
    torch.testing.assert_close(out["image1"], item["image1"].flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["flow"][0], -item["flow"][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(out["flow"][1], item["flow"][1], atol=1e-5, rtol=0)


def test_scaling_by_two_doubles_the_flow_and_keeps_pairs_consistent():
    torch.manual_seed(0)
    item = _translated_pair(t=(3.0, -2.0))
    out = FlowAugmentation((40, 56), **_no_randomness(scale_range=(1.0, 1.0)))(item)
    torch.testing.assert_close(out["flow"], torch.tensor([6.0, -4.0])[:, None, None].expand(2, 40, 56), atol=1e-5, rtol=0)
    assert out["valid"].all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_geometry_keeps_frame1_equal_to_frame2_warped_by_the_flow(seed):
    """Independent check of every geometric part together: after scale, stretch, rotation, crop and
    flips, sampling frame 2 at x + flow(x) must give frame 1 (up to bilinear resampling error)."""
    torch.manual_seed(seed)
    item = _translated_pair(96, 128, t=(4.5, 2.25))
    augment = FlowAugmentation((48, 64), scale_range=(-0.3, 0.5), stretch=0.2, rotation_deg=15.0,
                               hflip_prob=0.5, vflip_prob=0.5, photometric=None)
    out = augment(item)
    flow = out["flow"].double().numpy()
    image2 = out["image2"].double().numpy()
    ys, xs = np.mgrid[0:48, 0:64].astype(np.float64)
    x, y = xs + flow[0], ys + flow[1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    check = out["valid"].numpy() & (x0 >= 0) & (y0 >= 0) & (x0 < 63) & (y0 < 47)
    assert check.mean() > 0.5
    x0, y0 = np.clip(x0, 0, 62), np.clip(y0, 0, 46)
    fx, fy = x - x0, y - y0
    warped = (image2[:, y0, x0] * (1 - fx) * (1 - fy) + image2[:, y0, x0 + 1] * fx * (1 - fy)
              + image2[:, y0 + 1, x0] * (1 - fx) * fy + image2[:, y0 + 1, x0 + 1] * fx * fy)
    error = np.abs(warped - out["image1"].double().numpy()).max(axis=0)[check]
    assert error.mean() < 0.01
    # And the flow is the hand-derived one: t mapped by the map's linear part, |flow| = |t| * scale.
    magnitude = np.hypot(flow[0], flow[1])[check]
    assert magnitude.std() < 1e-3 * magnitude.mean()


def test_rotation_rotates_the_vectors():
    item = _translated_pair(64, 64, t=(4.0, 0.0))
    theta = math.radians(30)
    matrix = torch.tensor([[math.cos(theta), -math.sin(theta), 0.0], [math.sin(theta), math.cos(theta), 0.0]])
    matrix[:, 2] = torch.tensor([31.5, 31.5]) - matrix[:, :2] @ torch.tensor([31.5, 31.5])  # about the centre
    _, _, flow, valid = affine_augment(item["image1"], item["image2"], item["flow"], item["valid"], matrix, (64, 64))
    expected = torch.tensor([4 * math.cos(theta), 4 * math.sin(theta)])
    torch.testing.assert_close(flow[:, 32, 32], expected, atol=1e-5, rtol=0)
    assert not valid[0, 0] and valid[32, 32]  # corners come from outside the input


def test_sparse_flow_is_moved_never_interpolated():
    height, width = 40, 60
    rng = np.random.default_rng(0)
    valid = torch.from_numpy(rng.random((height, width)) < 0.3)
    flow = torch.from_numpy(rng.integers(-500, 500, (2, height, width)).astype(np.float32))
    images = torch.rand(3, height, width)
    matrix = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])  # downscale by two
    _, _, new_flow, new_valid = affine_augment(images, images, flow, valid, matrix, (20, 30), sparse=True)
    # Every output vector is one input vector halved; every valid input pixel lands on (round(x/2), round(y/2)).
    candidates = {tuple(v) for v in (flow[:, valid] * 0.5).T.tolist()}
    assert {tuple(v) for v in new_flow[:, new_valid].T.tolist()} <= candidates
    ys, xs = torch.nonzero(valid, as_tuple=True)
    expected = torch.zeros(20, 30, dtype=torch.bool)
    tx, ty = torch.round(xs * 0.5).long(), torch.round(ys * 0.5).long()
    inside = (tx < 30) & (ty < 20)
    expected[ty[inside], tx[inside]] = True
    assert torch.equal(new_valid, expected)
    assert not new_flow[:, ~new_valid].any()


def test_sparse_augmentation_end_to_end_keeps_values_exact():
    torch.manual_seed(3)
    height, width = 50, 70
    valid = torch.zeros(height, width, dtype=torch.bool)
    valid[::3, ::4] = True
    flow = torch.where(valid, torch.arange(height * width, dtype=torch.float32).view(height, width), 0.0)[None].repeat(2, 1, 1)
    item = {"image1": torch.rand(3, height, width), "image2": torch.rand(3, height, width), "flow": flow, "valid": valid}
    out = FlowAugmentation((32, 48), scale_range=(0.0, 0.0), stretch=0.0, hflip_prob=1.0, vflip_prob=0.0,
                           photometric=None, sparse=True)(item)
    values = out["flow"][1, out["valid"]]
    assert out["valid"].sum() > 50 and set(values.tolist()) <= set(flow[1, valid].tolist())
    torch.testing.assert_close(out["flow"][0, out["valid"]], -values)  # flip: u negated, v kept


def test_photometric_jitter_stays_in_range_and_changes_frames():
    torch.manual_seed(0)
    image = torch.rand(3, 16, 16)
    jitter = PhotometricJitter(asymmetric_prob=0.0, noise_std=0.0)
    a, b = jitter(image, image.clone())
    assert torch.equal(a, b)  # symmetric: both frames get the same parameters
    assert 0 <= a.min() and a.max() <= 1 and not torch.allclose(a, image)
    c, d = PhotometricJitter(asymmetric_prob=1.0)(image, image.clone())
    assert not torch.equal(c, d)


def test_bad_arguments():
    with pytest.raises(ValueError, match="crop_size"):
        FlowAugmentation((0, 10))
    with pytest.raises(ValueError, match="scale_range"):
        FlowAugmentation((8, 8), scale_range=(1.0, 0.0))
