"""PWC-Net losses against a literal float64 transcription of the Caffe layers they reproduce."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.models.pwcnet.loss import (
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


def test_tent_weights_of_a_one_pixel_level_span_the_whole_axis() -> None:
    """Target 1 (where Caffe divides by zero): one tent at the centre, half-width ``source``."""
    torch.testing.assert_close(tent_weights(5, 1, dtype=torch.float64),
                               torch.tensor([[0.6, 0.8, 1.0, 0.8, 0.6]], dtype=torch.float64))
    torch.testing.assert_close(tent_weights(4, 1, dtype=torch.float64),
                               torch.tensor([[0.625, 0.875, 0.875, 0.625]], dtype=torch.float64))
    torch.testing.assert_close(tent_weights(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64))


def test_downsample_to_one_row_weights_rows_by_the_tent() -> None:
    """A 5x3 map whose rows hold 0..4 (u) and whose columns hold 0..2 (v), to 1x2: u is the tent
    average of the rows, (0.6 * 0 + 0.8 * 1 + 2 + 0.8 * 3 + 0.6 * 4) / 3.8; v the two-point tents
    of the columns, (1 * 0 + 0.5 * 1) / 1.5 and (0.5 * 1 + 1 * 2) / 1.5."""
    rows, cols = torch.meshgrid(torch.arange(5.0, dtype=torch.float64), torch.arange(3.0, dtype=torch.float64),
                                indexing="ij")
    flow = torch.stack([rows, cols])[None]
    coarse, valid = downsample_flow(flow, None, (1, 2))
    u = (0.8 + 2 + 2.4 + 2.4) / 3.8
    torch.testing.assert_close(coarse[0, :, 0], torch.tensor([[u, u], [0.5 / 1.5, 2.5 / 1.5]], dtype=torch.float64))
    assert valid.all()


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
            assert (sparse[b].numpy()[:, ~ref_valid] == 0).all()  # invalid output pixels hold 0


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


def _direct_matching_loss(f1, f2, coarse, valid, radius: int, temperature: float) -> tuple[float, int]:
    """The cross-entropy of the feature-matching loss at one level, pixel by pixel (float64), and
    the number of pixels it averages.

    ``f1``, ``f2``: (1, C, h, w) features; ``coarse``: (1, 2, h, w) true flow of the level;
    ``valid``: (h, w) bools. Pixels whose flow leaves the window or that are invalid are skipped;
    with none left the loss is 0.
    """
    _, _, height, width = f1.shape
    n1, n2 = f1 / f1.norm(dim=1, keepdim=True), f2 / f2.norm(dim=1, keepdim=True)
    total, count = 0.0, 0
    for y in range(height):
        for x in range(width):
            u, v = coarse[0, 0, y, x].item(), coarse[0, 1, y, x].item()
            x0, y0 = math.floor(u), math.floor(v)
            if not (valid[y, x] and -radius <= x0 < radius and -radius <= y0 < radius):
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
            top = max(logits)
            log_z = top + math.log(sum(math.exp(a - top) for a in logits))
            total += -sum(w * (a - log_z) for w, a in zip(weights, logits))
            count += 1
    return (total / count if count else 0.0), count


@pytest.mark.parametrize("radius, temperature, motion, defaults, skipped", [
    (2, 0.5, 6.0, False, False),   # every pixel inside the window
    (2, 0.5, 14.0, False, True),   # flow up to 3.5 px at level 2: some pixels leave the window
    (4, 0.07, 20.0, True, True),   # the function's defaults: radius 4, temperature 0.07
])
def test_feature_matching_loss_matches_a_direct_float64_computation(radius, temperature, motion, defaults,
                                                                    skipped) -> None:
    torch.manual_seed(0)
    level = 2
    height, width = 3, 4  # level-2 maps of a 12x16 input
    f1, f2 = torch.randn(2, 1, 5, height, width, dtype=torch.float64)
    ramp_y, ramp_x = torch.meshgrid(torch.linspace(-1, 1, 4 * height, dtype=torch.float64),
                                    torch.linspace(-1, 1, 4 * width, dtype=torch.float64), indexing="ij")
    flow = motion * torch.stack([ramp_x, -ramp_y])[None] + torch.empty(1, 2, 4 * height, 4 * width,
                                                                       dtype=torch.float64).uniform_(-2, 2)
    pyramid1 = [None, f1] + [None] * 4
    pyramid2 = [None, f2] + [None] * 4
    options = {} if defaults else {"radius": radius, "temperature": temperature}
    loss = feature_matching_loss(pyramid1, pyramid2, flow, levels=(level,), **options)
    coarse, _ = downsample_flow(flow / 4, None, (height, width))
    expected, count = _direct_matching_loss(f1, f2, coarse, torch.ones(height, width, dtype=torch.bool), radius,
                                            temperature)
    assert 0 < count and (count < height * width) is skipped
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_feature_matching_loss_leaves_out_pixels_without_ground_truth() -> None:
    """A mask that removes some pixels changes the mean; one that removes all gives exactly 0."""
    torch.manual_seed(2)
    f1, f2 = torch.randn(2, 1, 5, 4, 4, dtype=torch.float64)
    flow = torch.empty(1, 2, 16, 16, dtype=torch.float64).uniform_(-4, 4)
    pyramids = ([None, f1] + [None] * 4, [None, f2] + [None] * 4)
    valid = torch.zeros(1, 16, 16, dtype=torch.bool)
    valid[:, :8] = True  # the top half: level-2 rows 0 and 1
    coarse, coarse_valid = downsample_flow(flow / 4, valid, (4, 4))
    loss = feature_matching_loss(*pyramids, flow, valid, levels=(2,), radius=2, temperature=0.5)
    expected, count = _direct_matching_loss(f1, f2, coarse, coarse_valid[0], 2, 0.5)
    assert coarse_valid[0, :2].all() and not coarse_valid[0, 2:].any() and count > 0
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    none = feature_matching_loss(*pyramids, flow, torch.zeros_like(valid), levels=(2,), radius=2, temperature=0.5)
    assert none.item() == 0.0


@pytest.mark.parametrize("u, v, inside", [
    (-4.0, -4.0, True),     # the window's first displacement: all the weight on channel 0
    (3.5, 3.5, True),       # split over (3, 3), (4, 3), (3, 4), (4, 4): channel 80 gets 1/4
    (-4.0, 3.999, True),    # x0 = -radius is inside, y0 = 3 < radius too
    (-4.001, 0.0, False),   # x0 = -5: left of the window
    (0.0, 4.0, False),      # y0 = radius: its lower neighbour 5 is outside
    (0.0, -4.5, False),     # y0 = -5
    (-10.0, -10.0, False),  # far outside: no target anywhere, nothing written out of range
    (10.0, 10.0, False),
])
def test_displacement_targets_at_the_window_edges(u: float, v: float, inside: bool) -> None:
    flow = torch.tensor([u, v], dtype=torch.float64).view(1, 2, 1, 1)
    target, mask = displacement_targets(flow, radius=4)
    assert mask.item() is inside
    expected = torch.zeros(81, dtype=torch.float64)
    if inside:
        x0, y0 = math.floor(u), math.floor(v)
        fx, fy = u - x0, v - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if wx * wy:
                    expected[(y0 + dy + 4) * 9 + x0 + dx + 4] += wx * wy
    torch.testing.assert_close(target[0, :, 0, 0], expected)


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


def test_tent_weights_sizes() -> None:
    """From any size to itself is the identity; the target must lie in 1 .. source."""
    torch.testing.assert_close(tent_weights(4, 4, dtype=torch.float64), torch.eye(4, dtype=torch.float64))
    for source, target in ((4, 5), (3, 0), (0, 1)):
        with pytest.raises(ValueError, match=rf"^tent_weights: need 1 <= target <= source, got source={source}, "
                                             rf"target={target}$"):
            tent_weights(source, target)


def test_downsample_keeps_a_valid_pixel_whose_valid_weight_is_below_one() -> None:
    """5 -> 4 columns (s = 4/3, centres 0, 4/3, 8/3, 4). Output 1 weighs input 1 by 3/4 and input 2
    by 1/2; with input 2 invalid, 3/4 of its 5/4 of weight is valid (more than half): it keeps
    input 1's value, 2. Likewise output 2 keeps input 3's, 4. Outputs 0 and 3 average
    (1 + 2/4) / 1.25 = 1.2 and (4/4 + 5) / 1.25 = 4.8. Invalid output pixels hold 0."""
    flow = torch.tensor([1.0, 2.0, 30.0, 4.0, 5.0], dtype=torch.float64).view(1, 1, 1, 5).repeat(1, 2, 1, 1)
    valid = torch.tensor([[[True, True, False, True, True]]])
    coarse, coarse_valid = downsample_flow(flow, valid, (1, 4))
    torch.testing.assert_close(coarse[0, 0, 0], torch.tensor([1.2, 2.0, 4.0, 4.8], dtype=torch.float64))
    assert coarse_valid.all()
    none_valid = torch.zeros_like(valid)
    none_valid[..., 0] = True
    coarse, coarse_valid = downsample_flow(flow, none_valid, (1, 4))
    assert coarse_valid.tolist() == [[[True, False, False, False]]]
    assert coarse[0, :, 0, 1:].abs().sum() == 0


def test_downsample_shapes_and_errors() -> None:
    _, valid = downsample_flow(torch.zeros(3, 2, 8, 8), None, (2, 4))
    assert valid.shape == (3, 2, 4) and valid.all()
    with pytest.raises(ValueError, match=r"^downsample_flow: flow must be \(B, 2, H, W\), got \(1, 3, 4, 4\)$"):
        downsample_flow(torch.zeros(1, 3, 4, 4), None, (2, 2))
    with pytest.raises(ValueError, match=r"^downsample_flow: valid must be \(B, H, W\) = \(3, 8, 8\), got \(3, 8, 9\)$"):
        downsample_flow(torch.zeros(3, 2, 8, 8), torch.ones(3, 8, 9, dtype=torch.bool), (2, 2))


def test_multiscale_loss_divides_by_the_batch_size_and_computes_in_float32() -> None:
    """Three images (so the batch size is not the 2 flow channels); bfloat16 inputs give the
    float32 loss of the same bfloat16 values. The predictions are the true levels plus 0.01 px,
    so an error in the downsampled ground truth shows in full (levels 2 and 3 only, to keep the
    reference quick)."""
    g = torch.Generator().manual_seed(5)
    target = (torch.randn(3, 2, 64, 64, generator=g) * 10).to(torch.bfloat16)
    truths = [np.stack([caffe_downsample(target[b].double().numpy() / 20, 64 >> l, 64 >> l) for b in range(3)])
              for l in (2, 3)]
    flows = [(torch.from_numpy(t) + 0.01 * torch.randn(t.shape, generator=g, dtype=torch.float64)).to(torch.bfloat16)
             for t in truths]
    total, per_level = multiscale_loss(flows, target, weights=LEVEL_WEIGHTS[:2])
    assert total.dtype == torch.float32
    for flow, gt, loss in zip(flows, truths, per_level):
        expected = np.sqrt(((flow.double().numpy() - gt) ** 2).sum(axis=1)).sum() / 3
        assert loss.dtype == torch.float32 and loss.item() == pytest.approx(expected, rel=1e-5)


def test_multiscale_loss_is_computed_in_the_precision_of_the_target() -> None:
    """float64 predictions against a float32 target: a float32 loss (the predictions are cast)."""
    flows = _levels(1, 64, 64, 7)
    total, per_level = multiscale_loss(flows, torch.zeros(1, 2, 64, 64))
    assert total.dtype == torch.float32 and all(loss.dtype == torch.float32 for loss in per_level)


def test_multiscale_loss_refuses_predictions_of_another_batch() -> None:
    flows = _levels(1, 64, 64, 0)
    with pytest.raises(ValueError, match=r"^multiscale_loss: prediction \(1, 2, 16, 16\) does not fit target "
                                         r"\(2, 2, 64, 64\)$"):
        multiscale_loss(flows, torch.zeros(2, 2, 64, 64))
