"""Inference helper: precision choice, no autograd, and the bf16 drift on the fixture's Sintel frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from zoo.models.flow_inference import downscaled_size, estimate_flow
from zoo.models.precision import PRECISIONS, bf16_supported, resolve_precision
from zoo.models.pwcnet.convert import convert
from zoo.models.pwcnet.network import PWCNet

CPU = torch.device("cpu")


def test_resolve_precision():
    assert resolve_precision("float32", CPU) == "float32"
    assert resolve_precision("bfloat16", CPU) == "bfloat16"
    assert resolve_precision("auto", CPU) == ("bfloat16" if bf16_supported(CPU) else "float32")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_precision("float16", CPU)
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("int8", CPU)
    assert "auto" in PRECISIONS


def test_estimate_flow_runs_without_autograd_and_returns_float32():
    torch.manual_seed(0)
    network = PWCNet().eval()
    image1, image2 = torch.rand(2, 1, 3, 64, 64).unbind(0)
    flow = estimate_flow(network, image1, image2, precision="bfloat16")
    assert flow.dtype == torch.float32 and flow.shape == (1, 2, 64, 64)
    assert flow.is_inference() and not flow.requires_grad
    with torch.no_grad():
        assert torch.equal(estimate_flow(network, image1, image2), network(image1, image2))


def test_bf16_drift_on_sintel_frames(pwcnet_fixture_dir: Path, pwcnet_recipe):
    """bf16 autocast stays within 0.05 px mean EPE of float32 (recipe weights, 436x1024 frames)."""
    network = PWCNet().eval()
    network.load_state_dict({k: v.float() for k, v in convert(pwcnet_recipe, "pwcnet-nvlabs")[0].items()})
    frames = np.load(pwcnet_fixture_dir / "fixture_b_full436x1024.npz")["frames_rgb_u8"]
    images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
    full = estimate_flow(network, images[:1], images[1:], precision="float32")
    reduced = estimate_flow(network, images[:1], images[1:], precision="bfloat16")
    assert (reduced - full).norm(dim=1).mean().item() < 0.05


def test_downscaled_size_keeps_the_aspect_and_caps_the_longer_side():
    assert downscaled_size(1000, 600) == (1000, 600)
    assert downscaled_size(1000, 600, 2000) == (1000, 600)
    assert downscaled_size(1000, 600, 250) == (250, 150)
    assert downscaled_size(375, 1242, 621) == (188, 621)  # 187.5 rounds to even
    assert downscaled_size(10000, 3, 100) == (100, 1)  # never below 1 px
    with pytest.raises(ValueError, match="max_size must be a positive number of pixels, got 0"):
        downscaled_size(10, 10, 0)


class ConstantFlow(torch.nn.Module):
    """A stand-in network: flow (1, 1) px everywhere at whatever size it is given; records the sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # estimate_flow finds the device here
        self.sizes: list[tuple[int, ...]] = []

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        self.sizes.append(tuple(image1.shape))
        return torch.ones(image1.shape[0], 2, *image1.shape[-2:])


def test_max_size_runs_the_network_small_and_scales_the_flow_per_axis():
    network = ConstantFlow()
    images = torch.rand(2, 3, 1000, 600)
    flow = estimate_flow(network, images, images, max_size=250)
    assert network.sizes == [(2, 3, 250, 150)]
    assert flow.shape == (2, 2, 1000, 600)
    assert torch.equal(flow[:, 0], torch.full((2, 1000, 600), 600 / 150))  # u scaled by W / w
    assert torch.equal(flow[:, 1], torch.full((2, 1000, 600), 1000 / 250))  # v scaled by H / h
    estimate_flow(network, images, images, max_size=1000)
    assert network.sizes[-1] == (2, 3, 1000, 600)  # already within max_size: the frames as given


def test_a_shift_of_k_px_comes_back_as_k_px_from_downscaled_frames():
    import zoo

    network = zoo.load("pwcnet.synth")
    generator = torch.Generator().manual_seed(0)
    canvas = F.interpolate(torch.rand(1, 3, 40, 62, generator=generator), size=(256, 392), mode="bicubic",
                           align_corners=False).clamp(0, 1)
    k = 8
    image1, image2 = canvas[..., k:k + 384], canvas[..., :384]  # the content moves k px to the right
    for max_size, tolerance in ((None, 0.5), (192, 0.75)):  # 192: the network sees a 4 px shift
        flow = estimate_flow(network, image1, image2, max_size=max_size)[0, :, 16:-16, 16:-16]
        assert flow.shape == (2, 224, 352)
        assert abs(flow[0].median().item() - k) < tolerance and abs(flow[1].median().item()) < 0.25
