"""Backward warping and forward-backward occlusion masks against hand-derived cases and an
independent float64 bilinear interpolation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.square_scene import SquareFlowOracle, square_clip
from zoo.datamodules.flow.warping import UNFLOW_ALPHA1, UNFLOW_ALPHA2, occlusion_mask, warp


def _bilinear_reference(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-by-pixel float64 bilinear sampling of (C, H, W) at pixel + flow (2, H, W); 0 outside."""
    _, height, width = image.shape
    out = np.zeros_like(image, dtype=np.float64)
    valid = np.zeros((height, width), dtype=bool)
    for j in range(height):
        for i in range(width):
            x, y = i + flow[0, j, i], j + flow[1, j, i]
            valid[j, i] = 0 <= x <= width - 1 and 0 <= y <= height - 1
            if not valid[j, i]:
                continue
            x0, y0 = int(np.floor(x)), int(np.floor(y))
            for xn, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
                for yn, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
                    if 0 <= xn < width and 0 <= yn < height:
                        out[:, j, i] += wx * wy * image[:, yn, xn]
    return out, valid


def test_warp_matches_an_independent_float64_bilinear_sampling():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 9, 13, dtype=torch.float64, generator=generator)
    flow = (torch.rand(2, 2, 9, 13, dtype=torch.float64, generator=generator) - 0.5) * 8
    flow[0, :, 0, :4] = torch.tensor([[12.0, 11.0, 10.0, 9.0], [8.0, 8.0, 0.0, -0.5]])  # exactly on / past the edges
    warped, valid = warp(image, flow)
    assert warped.dtype == torch.float64 and valid.shape == (2, 1, 9, 13) and valid.dtype == torch.bool
    for b in range(2):
        expected, expected_valid = _bilinear_reference(image[b].numpy(), flow[b].numpy())
        np.testing.assert_array_equal(valid[b, 0].numpy(), expected_valid)
        # float64 grid_sample vs a direct sum: both exact to rounding of the coordinates (~1e-15 relative)
        np.testing.assert_allclose(warped[b].numpy(), expected, rtol=0, atol=1e-12)
    assert 0 < valid.float().mean() < 1


def test_warp_by_a_whole_pixel_shift_is_the_shifted_image_and_marks_the_band_that_leaves():
    image = torch.arange(5 * 7, dtype=torch.float32).view(1, 1, 5, 7)
    flow = torch.zeros(1, 2, 5, 7)
    flow[:, 0] = 2  # sample 2 px to the right
    warped, valid = warp(image, flow)
    assert torch.equal(warped[..., :5], image[..., 2:])
    assert valid[..., :5].all() and not valid[..., 5:].any()
    assert torch.equal(warped[..., 5:], torch.zeros(1, 1, 5, 2))


def test_warp_keeps_low_precision_dtypes_and_is_differentiable_in_image_and_flow():
    image = torch.rand(1, 3, 6, 8, requires_grad=True)
    flow = torch.full((1, 2, 6, 8), 0.3, requires_grad=True)
    warped, _ = warp(image.bfloat16(), flow)
    assert warped.dtype == torch.bfloat16
    warped.float().sum().backward()
    assert image.grad.abs().sum() > 0 and flow.grad.abs().sum() > 0


def _square_flows():
    """Forward / backward flows of frames 0 and 1 of the square clip, and the clip: the 8 x 8 square
    at x 10..17, y 6..13 moves to x 14..21."""
    clip = square_clip(2)
    oracle = SquareFlowOracle()
    with torch.no_grad():
        forward = oracle(clip[:1], clip[1:])
        backward = oracle(clip[1:], clip[:1])
    return clip, forward, backward


def test_occlusion_mask_of_a_translating_square_is_the_band_it_covers():
    _, forward, backward = _square_flows()
    assert forward[0, 0, 6, 10] == 4 and backward[0, 0, 6, 14] == -4  # the oracle's flows, as constructed
    visible = occlusion_mask(forward, backward)
    expected = torch.ones(1, 1, 32, 48, dtype=torch.bool)
    # background at x 18..21 (rows of the square) is covered by the square in frame 2: |0 + (-4)|^2 = 16 is
    # over 0.01 * 16 + 0.5; the square itself is consistent (4 - 4 = 0); elsewhere both flows are 0
    expected[..., 6:14, 18:22] = False
    assert torch.equal(visible, expected)


def test_occlusion_mask_tolerances_are_the_criterion_with_unflow_defaults():
    assert (UNFLOW_ALPHA1, UNFLOW_ALPHA2) == (0.01, 0.5)
    _, forward, backward = _square_flows()
    # the band's mismatch is 16 px^2 against alpha1 * 16 + alpha2: visible once alpha2 > 16 - 0.16
    assert occlusion_mask(forward, backward, alpha2=15.85).all()
    assert not occlusion_mask(forward, backward, alpha2=15.83).all()
    # with alpha1 = 1 - 0.01 the tolerance grows to 0.99 * 16 + 0.5 > 16: visible
    assert occlusion_mask(forward, backward, alpha1=0.99).all()
    # a consistent but small mismatch: forward 1 px, backward -0.5 px -> 0.25 < 0.01 * 1.25 + 0.5
    forward, backward = torch.ones(1, 2, 4, 4) * torch.tensor([1.0, 0])[:, None, None], torch.zeros(1, 2, 4, 4)
    backward[:, 0] = -0.5
    assert occlusion_mask(forward, backward)[..., :3].all()
    assert not occlusion_mask(forward, backward)[..., 3].any()  # x + 1 leaves the frame: no correspondence
    # 0.3 px past the edge: the zero-padded sample of the backward flow, 0.7 x -0.3, would pass the
    # check ((0.3 - 0.21)^2 < 0.5); the point is outside frame 2 all the same
    forward, backward = torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4)
    forward[:, 0], backward[:, 0] = 0.3, -0.3
    assert occlusion_mask(forward, backward)[..., :3].all() and not occlusion_mask(forward, backward)[..., 3].any()


def test_occlusion_mask_matches_a_float64_evaluation_of_the_criterion_on_random_flows():
    generator = torch.Generator().manual_seed(1)
    forward = 1.5 + torch.randn(1, 2, 10, 12, dtype=torch.float64, generator=generator) * 0.3
    backward = -1.5 + torch.randn(1, 2, 10, 12, dtype=torch.float64, generator=generator) * 0.6
    visible = occlusion_mask(forward, backward)[0, 0].numpy()
    back_u, inside = _bilinear_reference(backward[0].numpy(), forward[0].numpy())
    f = forward[0].numpy()
    mismatch = ((f + back_u) ** 2).sum(0)
    tolerance = 0.01 * ((f ** 2).sum(0) + (back_u ** 2).sum(0)) + 0.5
    np.testing.assert_array_equal(visible, (mismatch < tolerance) & inside)
    assert 0.2 < visible.mean() < 0.9  # both outcomes occur


@pytest.mark.parametrize("call, message", [
    (lambda: warp(torch.rand(1, 3, 4, 4), torch.zeros(1, 2, 4, 5)), r"flow must be \(1, 2, 4, 4\)"),
    (lambda: warp(torch.rand(3, 4, 4), torch.zeros(1, 2, 4, 4)), r"image must be a \(B, C, H, W\)"),
    (lambda: occlusion_mask(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4)), "forward must be a float"),
    (lambda: occlusion_mask(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), alpha1=-1), "alpha1 and alpha2"),
])
def test_bad_shapes_and_tolerances_are_refused_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
