"""PWC-Net losses against a literal float64 transcription of the Caffe layers they reproduce."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.pwcnet.loss import (
    LEVEL_WEIGHTS,
    displacement_targets,
    downsample_flow,
    feature_matching_loss,
    multiscale_loss,
    tent_weights,
)


def caffe_downsample(src: np.ndarray, top_h: int, top_w: int) -> np.ndarray:
    """FlowNet's ``Downsample`` kernel, pixel by pixel, NaN = invalid (float64, (C, H, W))."""
    channels, bot_h, bot_w = src.shape
    sw, sh = (bot_w - 1) / (top_w - 1), (bot_h - 1) / (top_h - 1)
    wr, hr = math.ceil(sw), math.ceil(sh)
    out = np.zeros((channels, top_h, top_w))
    for c in range(channels):
        for dy in range(top_h):
            for dx in range(top_w):
                bx, by = dx / (top_w - 1) * (bot_w - 1), dy / (top_h - 1) * (bot_h - 1)
                acc = wsum = nan = 0.0
                for y in range(round(by) - hr, round(by) + hr + 1):
                    for x in range(round(bx) - wr, round(bx) + wr + 1):
                        if 0 <= x < bot_w and 0 <= y < bot_h:
                            w = max(0.0, 1 - abs(x - bx) / sw) * max(0.0, 1 - abs(y - by) / sh)
                            v = src[c, y, x]
                            if np.isnan(v):
                                nan += w
                                continue
                            acc += v * w
                            wsum += w
                total = wsum + nan
                out[c, dy, dx] = np.nan if nan / total > 0.5 else acc / wsum
    return out


def test_tent_weights_are_flownets_filter() -> None:
    w = tent_weights(9, 3, dtype=torch.float64)  # s = 4, centres 0, 4, 8
    expected = torch.tensor([[1, .75, .5, .25, 0, 0, 0, 0, 0],
                             [0, .25, .5, .75, 1, .75, .5, .25, 0],
                             [0, 0, 0, 0, 0, .25, .5, .75, 1]], dtype=torch.float64)
    torch.testing.assert_close(w, expected)


def test_downsample_matches_caffe_kernel_dense_and_sparse() -> None:
    rng = np.random.default_rng(0)
    flow = rng.normal(size=(2, 2, 24, 40)) * 5
    valid = rng.random((2, 24, 40)) > 0.35
    valid[1, :12, :20] = False  # a large hole: coarse pixels there must come out invalid
    for size in [(6, 10), (3, 5), (12, 20)]:
        dense, dense_valid = downsample_flow(torch.from_numpy(flow), None, size)
        sparse, sparse_valid = downsample_flow(torch.from_numpy(flow), torch.from_numpy(valid), size)
        assert dense_valid.all()
        for b in range(2):
            ref_dense = caffe_downsample(flow[b], *size)
            np.testing.assert_allclose(dense[b].numpy(), ref_dense, rtol=1e-10, atol=1e-12)
            ref_sparse = caffe_downsample(np.where(valid[b], flow[b], np.nan), *size)
            ref_valid = ~np.isnan(ref_sparse[0])
            np.testing.assert_array_equal(sparse_valid[b].numpy(), ref_valid)
            if b == 1:
                assert not ref_valid.all() and ref_valid.any()
            np.testing.assert_allclose(sparse[b].numpy()[:, ref_valid], ref_sparse[:, ref_valid], rtol=1e-10)


def test_downsample_of_constant_flow_is_that_constant() -> None:
    flow = torch.tensor([3.0, -1.5]).view(1, 2, 1, 1).expand(2, 2, 64, 128)
    coarse, valid = downsample_flow(flow, None, (1, 2))  # level 6 of a 64x128 crop
    torch.testing.assert_close(coarse, torch.tensor([3.0, -1.5]).view(1, 2, 1, 1).expand(2, 2, 1, 2))
    assert valid.all()


def _levels(batch: int, height: int, width: int, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, 2, height >> l, width >> l, generator=g, dtype=torch.float64) for l in range(2, 7)]


def test_multiscale_loss_is_weighted_sum_of_per_pixel_norms_over_batch() -> None:
    g = torch.Generator().manual_seed(1)
    target = torch.randn(2, 2, 128, 128, generator=g, dtype=torch.float64) * 10
    flows = _levels(2, 128, 128, 2)
    total, per_level = multiscale_loss(flows, target)
    expected_total = 0.0
    for flow, alpha, loss in zip(flows, LEVEL_WEIGHTS, per_level):
        h, w = flow.shape[-2:]
        gt = np.stack([caffe_downsample(target[b].numpy() / 20, h, w) for b in range(2)])
        expected = np.sqrt(((flow.numpy() - gt) ** 2).sum(axis=1)).sum() / 2
        assert loss.item() == pytest.approx(expected, rel=1e-10)
        expected_total += alpha * expected
    assert total.item() == pytest.approx(expected_total, rel=1e-10)
    assert LEVEL_WEIGHTS == (0.005, 0.01, 0.02, 0.08, 0.32)


def test_robust_loss_with_sparse_ground_truth() -> None:
    g = torch.Generator().manual_seed(3)
    target = torch.randn(2, 2, 128, 128, generator=g, dtype=torch.float64) * 10
    valid = torch.rand(2, 128, 128, generator=g) > 0.5
    target_nan = torch.where(valid[:, None], target, torch.nan)  # invalid values must not leak in
    flows = _levels(2, 128, 128, 4)
    _, per_level = multiscale_loss(flows, target_nan, valid, robust=True)
    for flow, loss in zip(flows, per_level):
        h, w = flow.shape[-2:]
        gt = np.stack([caffe_downsample(np.where(valid[b].numpy(), target[b].numpy() / 20, np.nan), h, w)
                       for b in range(2)])
        penalty = (np.abs(flow.numpy() - gt).sum(axis=1) + 0.01) ** 0.4
        expected = np.nansum(penalty) / 2
        assert torch.isfinite(loss)
        assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_loss_gradient_is_finite_at_zero_error() -> None:
    target = torch.zeros(1, 2, 64, 64)
    flows = [torch.zeros(1, 2, 64 >> l, 64 >> l, requires_grad=True) for l in range(2, 7)]
    total, _ = multiscale_loss(flows, target)
    total.backward()
    assert total.item() == 0
    assert all(torch.equal(f.grad, torch.zeros_like(f)) for f in flows)


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match="5 weights"):
        multiscale_loss(_levels(1, 64, 64, 0)[:4], torch.zeros(1, 2, 64, 64))
    with pytest.raises(ValueError, match="target must be"):
        multiscale_loss(_levels(1, 64, 64, 0), torch.zeros(1, 3, 64, 64))


def test_displacement_targets_split_the_flow_over_its_four_neighbours() -> None:
    flow = torch.tensor([[1.25, 4.0, 0.0], [-0.5, 0.0, -3.999]]).view(1, 2, 1, 3)
    target, inside = displacement_targets(flow, radius=4)
    assert target.shape == (1, 81, 1, 3)
    assert inside.tolist() == [[[True, False, True]]]  # x = 4 needs the neighbour x = 5, outside the window

    def channel(dx: int, dy: int) -> int:
        return (dy + 4) * 9 + dx + 4

    expected = {channel(1, -1): 0.75 * 0.5, channel(2, -1): 0.25 * 0.5, channel(1, 0): 0.75 * 0.5,
                channel(2, 0): 0.25 * 0.5}
    for k in range(81):
        assert target[0, k, 0, 0].item() == pytest.approx(expected.get(k, 0.0), abs=1e-7)
    assert target[0, :, 0, 1].abs().sum() == 0  # outside: no target at all
    assert target[0, :, 0, 2].sum().item() == pytest.approx(1.0, abs=1e-6)


def test_feature_matching_loss_matches_a_direct_float64_computation() -> None:
    torch.manual_seed(0)
    radius, temperature, level = 2, 0.5, 2
    height, width = 3, 4  # level-2 maps of a 12x16 input
    f1, f2 = torch.randn(2, 1, 5, height, width, dtype=torch.float64)
    flow = torch.empty(1, 2, 4 * height, 4 * width, dtype=torch.float64).uniform_(-6, 6)
    pyramid1 = [None, f1] + [None] * 4
    pyramid2 = [None, f2] + [None] * 4
    loss = feature_matching_loss(pyramid1, pyramid2, flow, levels=(level,), radius=radius, temperature=temperature)

    coarse, _ = downsample_flow(flow / 4, None, (height, width))
    n1, n2 = f1 / f1.norm(dim=1, keepdim=True), f2 / f2.norm(dim=1, keepdim=True)
    total, count = 0.0, 0
    for y in range(height):
        for x in range(width):
            u, v = coarse[0, 0, y, x].item(), coarse[0, 1, y, x].item()
            x0, y0 = math.floor(u), math.floor(v)
            if not (-radius <= x0 < radius and -radius <= y0 < radius):
                continue
            logits, weights = [], []
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    inside_map = 0 <= y + dy < height and 0 <= x + dx < width
                    cosine = float(n1[0, :, y, x] @ n2[0, :, y + dy, x + dx]) if inside_map else 0.0
                    logits.append(cosine / temperature)
                    wx = {x0: 1 - (u - x0), x0 + 1: u - x0}.get(dx, 0.0)
                    wy = {y0: 1 - (v - y0), y0 + 1: v - y0}.get(dy, 0.0)
                    weights.append(wx * wy)
            log_z = math.log(sum(math.exp(a) for a in logits))
            total += -sum(w * (a - log_z) for w, a in zip(weights, logits))
            count += 1
    assert count > 0
    assert loss.item() == pytest.approx(total / count, rel=1e-5)


def test_feature_matching_loss_prefers_the_true_displacement() -> None:
    torch.manual_seed(1)
    features = torch.randn(1, 16, 8, 8)
    shifted = torch.roll(features, shifts=(1, -2), dims=(2, 3))  # frame 1 at (x, y) is frame 2 at (x - 2, y + 1)
    true_flow = torch.tensor([-2.0, 1.0]).view(1, 2, 1, 1).expand(1, 2, 32, 32) * 4  # pixels of a 32x32 input
    # where the match leaves the map (the last level-2 row, the first two columns) roll wrapped around
    valid = torch.ones(1, 32, 32, dtype=torch.bool)
    valid[:, 28:], valid[:, :, :8] = False, False
    pyramids = ([None, features] + [None] * 4, [None, shifted] + [None] * 4)
    right = feature_matching_loss(*pyramids, true_flow, valid, levels=(2,), temperature=0.05)
    wrong = feature_matching_loss(*pyramids, -true_flow, valid, levels=(2,), temperature=0.05)
    assert right.item() < 0.05 and wrong.item() > 10
