"""PWC-Net cost volume and warp against hand-derived values and the fixture's correlation case."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from zoo.models.pwcnet.cost_volume import cost_volume, cost_volume_unfold, num_displacements
from zoo.models.pwcnet.warp import warp


def _correlation_by_loops(f1: np.ndarray, f2: np.ndarray, radius: int) -> np.ndarray:
    """The definition, one output value at a time (zero outside, divided by the channel count)."""
    batch, channels, height, width = f1.shape
    size = 2 * radius + 1
    out = np.zeros((batch, size * size, height, width))
    for b, k, y, x in itertools.product(range(batch), range(size * size), range(height), range(width)):
        dy, dx = k // size - radius, k % size - radius
        if 0 <= y + dy < height and 0 <= x + dx < width:
            out[b, k, y, x] = np.dot(f1[b, :, y, x], f2[b, :, y + dy, x + dx]) / channels
    return out


def test_fixture_correlation_case_is_exact(shared_dir: Path):
    case = np.load(shared_dir / "fixtures" / "pwcnet" / "fixture_correlation.npz")
    volume = cost_volume(torch.from_numpy(case["f1"]), torch.from_numpy(case["f2"]), max_displacement=4)
    assert volume.shape == (1, 81, 9, 11)
    assert (volume - torch.from_numpy(case["corr"])).abs().max().item() < 1e-12


@pytest.mark.parametrize("formulation", [cost_volume, cost_volume_unfold])
@pytest.mark.parametrize("radius", [1, 2])
def test_cost_volume_matches_the_definition(radius, formulation):
    generator = torch.Generator().manual_seed(3)
    f1, f2 = torch.randn(2, 2, 5, 4, 6, generator=generator, dtype=torch.float64).unbind(0)
    volume = formulation(f1, f2, max_displacement=radius)
    assert volume.shape == (2, num_displacements(radius), 4, 6)
    expected = _correlation_by_loops(f1.numpy(), f2.numpy(), radius)
    assert np.abs(volume.numpy() - expected).max() < 1e-14


def test_export_traces_the_unfold_formulation():
    class Volume(torch.nn.Module):
        def forward(self, f1, f2):
            return cost_volume(f1, f2)

    f1, f2 = torch.randn(2, 1, 8, 10, 12, generator=torch.Generator().manual_seed(0)).unbind(0)
    program = torch.export.export(Volume(), (f1, f2), strict=False)
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    assert "aten.im2col.default" in targets and "aten.as_strided.default" not in targets
    assert torch.allclose(program.module()(f1, f2), cost_volume(f1, f2), atol=1e-6)


def test_cost_volume_channel_order_is_dy_major():
    """A single bright pixel of frame 2 at (y, x) = (2, 3) seen from frame-1 pixel (1, 1): dy = 1, dx = 2."""
    f1 = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    f2 = torch.zeros_like(f1)
    f1[0, 0, 1, 1] = 2.0
    f2[0, 0, 2, 3] = 3.0
    volume = cost_volume(f1, f2, max_displacement=4)
    k = (1 + 4) * 9 + (2 + 4)
    assert volume[0, k, 1, 1].item() == 6.0
    assert volume.abs().sum().item() == 6.0


def test_cost_volume_is_differentiable():
    f1 = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: cost_volume(a, b, max_displacement=1), (f1, f2))


def test_cost_volume_rejects_mismatched_maps():
    with pytest.raises(ValueError, match="differ in shape"):
        cost_volume(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))


def _ramp(height: int = 4, width: int = 5) -> torch.Tensor:
    values = torch.arange(height * width, dtype=torch.float64).view(1, 1, height, width) + 1.0
    return torch.cat((values, -values), dim=1)


def test_warp_by_whole_pixels_shifts_and_masks_the_border():
    features = _ramp()
    flow = torch.zeros(1, 2, 4, 5, dtype=torch.float64)
    flow[:, 0] = 1.0  # sample one pixel to the right
    warped = warp(features, flow)
    assert torch.equal(warped[..., :4], features[..., 1:])
    assert torch.equal(warped[..., 4], torch.zeros(1, 2, 4, dtype=torch.float64))


def test_warp_by_half_a_pixel_interpolates_and_masks_partial_samples():
    features = _ramp()
    flow = torch.zeros(1, 2, 4, 5, dtype=torch.float64)
    flow[:, 1] = 0.5  # halfway down to the next row
    warped = warp(features, flow)
    expected = (features[:, :, :3] + features[:, :, 1:]) / 2
    assert torch.allclose(warped[:, :, :3], expected, atol=1e-12)
    # the last row would take half of its weight from outside the map: coverage 0.5 < 0.9999
    assert torch.equal(warped[:, :, 3], torch.zeros(1, 2, 5, dtype=torch.float64))


def test_warp_keeps_samples_whose_coverage_reaches_the_threshold():
    """Coverage 1 - 5e-5 >= 0.9999 is kept as sampled (not renormalised); 1 - 2e-4 < 0.9999 is zeroed."""
    features = _ramp()
    flow = torch.zeros(1, 2, 4, 5, dtype=torch.float64)
    flow[0, 0, 0, 4] = 5e-5
    flow[0, 0, 1, 4] = 2e-4
    warped = warp(features, flow)
    sampled = features[0, 0, 0, 4].item() * (1 - 5e-5)  # the neighbour outside the map reads as 0
    assert warped[0, 0, 0, 4].item() == pytest.approx(sampled, rel=1e-12)
    assert warped[0, 0, 1, 4].item() == 0.0


def test_warp_of_low_precision_features_uses_float32_coordinates():
    features = _ramp(8, 300).to(torch.bfloat16)
    flow = torch.full((1, 2, 8, 300), 0.25, dtype=torch.bfloat16)
    flow[:, 1] = 0.0
    warped = warp(features, flow)
    assert warped.dtype == torch.bfloat16
    reference = warp(features.double(), flow.double())
    assert torch.allclose(warped.double(), reference, rtol=1e-2)


def test_warp_rejects_mismatched_flow():
    with pytest.raises(ValueError, match="flow must be"):
        warp(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5))


def test_cost_volume_defaults_to_radius_4_and_radius_0_is_the_dot_product():
    generator = torch.Generator().manual_seed(4)
    f1, f2 = torch.randn(2, 1, 3, 5, 6, generator=generator, dtype=torch.float64).unbind(0)
    assert cost_volume(f1, f2).shape == (1, 81, 5, 6)
    torch.testing.assert_close(cost_volume(f1, f2, max_displacement=0), (f1 * f2).sum(1, keepdim=True) / 3)


def test_cost_volume_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"^cost_volume: expected \(B, C, H, W\) feature maps, got shape \(2, 4, 4\)$"):
        cost_volume(torch.zeros(2, 4, 4), torch.zeros(2, 4, 4))
    with pytest.raises(ValueError, match=r"^cost_volume: max_displacement must be >= 0, got -1$"):
        cost_volume(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), max_displacement=-1)


def test_warp_of_a_two_pixel_map_uses_its_own_pixel_spacing():
    """Width and height 2: pixel x maps to 2 x - 1; a shift of 1 px reads the other column or row."""
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64).view(1, 1, 2, 2)
    right = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    right[0, 0, :, 0] = 1.0
    torch.testing.assert_close(warp(features, right)[0, 0], torch.tensor([[2.0, 2.0], [4.0, 4.0]], dtype=torch.float64))
    down = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    down[0, 1, 0, :] = 1.0
    torch.testing.assert_close(warp(features, down)[0, 0], torch.tensor([[3.0, 4.0], [3.0, 4.0]], dtype=torch.float64))


def test_warp_keeps_a_sample_whose_coverage_is_exactly_the_threshold():
    """Official ``mask[mask < 0.9999] = 0``: coverage 0.9999 itself is kept (x = 1.0001 on a
    two-pixel row gives that coverage exactly in float64)."""
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64).view(1, 1, 2, 2)
    flow = torch.zeros(1, 2, 2, 2, dtype=torch.float64)
    flow[0, 0, 0, 0] = 1.0001
    assert warp(features, flow)[0, 0, 0, 0].item() == pytest.approx(2.0 * 0.9999, rel=1e-12)


def test_warp_refuses_a_flow_without_two_channels():
    with pytest.raises(ValueError, match=r"warp: flow must be \(B, 2, H, W\) matching features \(1, 2, 4, 4\), "
                                         r"got \(1, 3, 4, 4\)"):
        warp(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 4, 4))
