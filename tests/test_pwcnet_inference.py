"""Inference helper: precision choice, no autograd, and the bf16 drift on the fixture's Sintel frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.pwcnet.convert import convert
from models.pwcnet.inference import PRECISIONS, bf16_supported, estimate_flow, resolve_precision
from models.pwcnet.network import PWCNet

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
