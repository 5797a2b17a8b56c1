"""PWC-Net network against the official network's reference outputs (``../shared/fixtures/pwcnet``).

Weights come from the fixture's recipe, written as an official NVlabs file and read through
``zoo.load`` (the converters are checked layout by layout in ``test_pwcnet_convert.py``, which
shows every layout yields the same state dict).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from tests.support.pwcnet_recipe import write_official_file
from zoo.models.pwcnet import network as network_module
from zoo.models.pwcnet.network import FLOW_SCALE, PWCNet

LEVELS = (2, 3, 4, 5, 6)


@pytest.fixture(scope="module")
def case_a(pwcnet_fixture_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(pwcnet_fixture_dir / "fixture_a_crop320x448.npz"))


@pytest.fixture(scope="module")
def case_b(pwcnet_fixture_dir: Path) -> dict[str, np.ndarray]:
    return dict(np.load(pwcnet_fixture_dir / "fixture_b_full436x1024.npz"))


def _load(tmp_path: Path, recipe, file_dtype: torch.dtype, network_dtype: torch.dtype) -> PWCNet:
    """``zoo.load`` of the recipe stored as an NVlabs file in ``file_dtype``, built in ``network_dtype``."""
    path = write_official_file(tmp_path / "pwc_net.pth.tar", recipe, "nvlabs-wrapped", dtype=file_dtype)
    default = torch.get_default_dtype()
    torch.set_default_dtype(network_dtype)
    try:
        return zoo.load("pwcnet", weights=path)
    finally:
        torch.set_default_dtype(default)


def _rgb_pair(input_u8: np.ndarray, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixture's (1, 6, H, W) BGR+BGR uint8 input as two RGB images in [0, 1]."""
    x = torch.from_numpy(input_u8).to(dtype) / 255.0
    return x[:, 0:3].flip(1), x[:, 3:6].flip(1)


def test_parameter_count():
    assert sum(p.numel() for p in PWCNet().parameters()) == 9_374_274
    assert sum(p.numel() for p in PWCNet(context=False).parameters()) == 8_243_008


def test_float64_raw_levels_and_cost_volumes_match_reference(tmp_path, pwcnet_recipe, case_a, monkeypatch):
    network = _load(tmp_path, pwcnet_recipe, torch.float64, torch.float64)
    volumes = []

    def recording_cost_volume(*args, **kwargs):
        volumes.append(network_module.cost_volume.__wrapped__(*args, **kwargs))
        return volumes[-1]

    recording_cost_volume.__wrapped__ = network_module.cost_volume
    monkeypatch.setattr(network_module, "cost_volume", recording_cost_volume)
    network.train()  # the raw network is the same function in both modes (no dropout, no batch norm)
    flows = network.forward_levels(*_rgb_pair(case_a["input_u8"], torch.float64))
    for level, flow in zip(LEVELS, flows):
        reference = torch.from_numpy(case_a[f"train_flow{level}"])
        assert flow.shape == reference.shape
        assert (flow.detach() - reference).abs().max().item() < 1e-9, f"flow{level}"
    assert (volumes[0] - torch.from_numpy(case_a["corr6_raw"])).abs().max().item() < 1e-9
    assert (volumes[1] - torch.from_numpy(case_a["corr5_raw"])).abs().max().item() < 1e-9


def test_float32_file_in_float64_network(tmp_path, pwcnet_recipe, case_a):
    network = _load(tmp_path, pwcnet_recipe, torch.float32, torch.float64)
    with torch.inference_mode():
        flow2 = network.forward_levels(*_rgb_pair(case_a["input_u8"], torch.float64))[0]
    error_px = FLOW_SCALE * (flow2 - torch.from_numpy(case_a["eval_flow2"])).abs().max().item()
    assert error_px < 1e-5


def test_float32_network(tmp_path, pwcnet_recipe, case_a):
    network = _load(tmp_path, pwcnet_recipe, torch.float32, torch.float32)
    with torch.inference_mode():
        flows = network.forward_levels(*_rgb_pair(case_a["input_u8"], torch.float32))
    for level, flow in zip(LEVELS, flows):
        assert flow.dtype == torch.float32
        error_px = FLOW_SCALE * (flow.double() - torch.from_numpy(case_a[f"train_flow{level}"])).abs().max().item()
        assert error_px < 5e-4, f"flow{level}"


def test_full_resolution_pipeline_on_sintel_frames(tmp_path, pwcnet_recipe, case_b):
    """436x1024 frames through our own resize: the official script's output to 0.03 px mean EPE."""
    network = _load(tmp_path, pwcnet_recipe, torch.float32, torch.float32)
    frames = torch.from_numpy(case_b["frames_rgb_u8"]).permute(0, 3, 1, 2).float() / 255.0
    with torch.inference_mode():
        raw = network.forward_levels(*_rgb_pair(case_b["input_u8"], torch.float32))[0]
        flow = network(frames[:1], frames[1:])
    assert FLOW_SCALE * (raw.double() - torch.from_numpy(case_b["eval_flow2"])).abs().max().item() < 5e-4
    reference = torch.from_numpy(case_b["final_flow_f32"]).permute(2, 0, 1)[None]
    assert flow.shape == (1, 2, 436, 1024) and flow.dtype == torch.float32
    assert (flow - reference).norm(dim=1).mean().item() < 0.03


def test_rgb_channel_order_equals_bgr_with_flipped_first_layer():
    torch.manual_seed(0)
    bgr = PWCNet().eval()
    rgb = PWCNet(channel_order="RGB").eval()
    state = bgr.state_dict()
    state["features.levels.0.0.weight"] = state["features.levels.0.0.weight"].flip(1)
    rgb.load_state_dict(state)
    image1, image2 = torch.rand(2, 1, 3, 64, 128).unbind(0)
    with torch.inference_mode():
        assert torch.allclose(bgr(image1, image2), rgb(image1, image2), atol=1e-6)


def test_forward_rescales_flow_to_the_input_size():
    """A network whose output is a constant flow shows the resize and the u/v rescaling."""
    network = PWCNet().eval()
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.zero_()
        network.context[-1].bias.copy_(torch.tensor([0.5, -0.25]))
    image = torch.rand(1, 3, 100, 150)
    with torch.inference_mode():
        flow = network(image, image)
    assert flow.shape == (1, 2, 100, 150)
    assert torch.allclose(flow[:, 0], torch.full((1, 100, 150), 0.5 * FLOW_SCALE * 150 / 192))
    assert torch.allclose(flow[:, 1], torch.full((1, 100, 150), -0.25 * FLOW_SCALE * 100 / 128))


def test_forward_batch_items_are_independent():
    torch.manual_seed(0)
    network = PWCNet().eval()
    images = torch.rand(2, 2, 3, 64, 128)
    with torch.inference_mode():
        batched = network(images[0], images[1])
        single = network(images[0, 1:], images[1, 1:])
    assert torch.allclose(batched[1:], single, atol=1e-5)


def test_forward_converts_grayscale_and_pads_tiny_images():
    torch.manual_seed(0)
    network = PWCNet().eval()
    gray1, gray2 = torch.rand(2, 1, 1, 40, 70).unbind(0)
    with torch.inference_mode():
        flow = network(gray1, gray2)
        rgb = network(gray1.expand(-1, 3, -1, -1), gray2.expand(-1, 3, -1, -1))
        padded = network(*(torch.nn.functional.pad(g.expand(-1, 3, -1, -1), (0, 0, 0, 24), mode="replicate")
                           for g in (gray1, gray2)))
    assert flow.shape == (1, 2, 40, 70)
    assert torch.equal(flow, rgb)
    assert torch.allclose(flow, padded[:, :, :40, :], atol=1e-6)


@pytest.mark.parametrize("image1, image2, message", [
    (torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 128), "same shape"),
    (torch.rand(3, 64, 64), torch.rand(3, 64, 64), r"\(B, 3, H, W\)"),
    (torch.rand(1, 4, 64, 64), torch.rand(1, 4, 64, 64), r"\(B, 3, H, W\)"),
    (torch.full((1, 3, 64, 64), float("nan")), torch.rand(1, 3, 64, 64), "image1 contains NaN"),
    (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "float"),
])
def test_forward_rejects_bad_input(image1, image2, message):
    with pytest.raises(ValueError, match=message):
        PWCNet().eval()(image1, image2)


@pytest.mark.parametrize("scale, offset, found", [(255.0, 0.0, "[0, 255]"), (2.0, -1.0, "[-1, 1]"),
                                                   (1.0, 0.5, "[0.5, 1.5]")])
def test_forward_refuses_values_outside_0_1_naming_the_range(scale, offset, found):
    image = torch.linspace(0, 1, 3 * 64 * 64).reshape(1, 3, 64, 64) * scale + offset
    message = rf"image2 must hold RGB values in \[0, 1\], found the range \{found[:-1]}\]"
    with pytest.raises(ValueError, match=message):
        PWCNet().eval()(torch.rand(1, 3, 64, 64), image)


def test_forward_accepts_the_range_and_the_rounding_of_resized_frames():
    image = torch.zeros(1, 3, 64, 64)
    image[..., 0, 0] = 1.0
    assert PWCNet().eval()(image, image).shape == (1, 2, 64, 64)
    resized = torch.nn.functional.interpolate(torch.ones(1, 3, 100, 150), size=(64, 64), mode="bilinear",
                                              antialias=True)
    assert resized.max() > 1  # by a few float32 ulps
    assert PWCNet().eval()(resized, resized).shape == (1, 2, 64, 64)
    with pytest.raises(ValueError, match=r"found the range \[0, 1.002\]"):
        PWCNet().eval()(image, image * 1.002)


def test_forward_levels_requires_multiples_of_64():
    with pytest.raises(ValueError, match="multiples of 64"):
        PWCNet().forward_levels(torch.rand(1, 3, 64, 100), torch.rand(1, 3, 64, 100))


def test_config_validation():
    with pytest.raises(ValueError, match="channel_order"):
        PWCNet(channel_order="BRG")
    with pytest.raises(ValueError, match="max_displacement"):
        PWCNet(max_displacement=0)


def test_no_context_variant_shares_every_level_but_the_refinement():
    torch.manual_seed(0)
    full = PWCNet().eval()
    bare = PWCNet(context=False).eval()
    bare.load_state_dict({k: v for k, v in full.state_dict().items() if not k.startswith("context.")})
    image1, image2 = torch.rand(2, 1, 3, 64, 128).unbind(0)
    with torch.inference_mode():
        flows_full, flows_bare = full.forward_levels(image1, image2), bare.forward_levels(image1, image2)
        full.context = None
        unrefined = full.forward_levels(image1, image2)[0]
    for level_full, level_bare in zip(flows_full[1:], flows_bare[1:]):
        assert torch.equal(level_full, level_bare)
    assert torch.equal(flows_bare[0], unrefined)
    assert not torch.allclose(flows_full[0], unrefined)
