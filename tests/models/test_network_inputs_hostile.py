"""PWC-Net's input convention is RGB in [0, 1] (``zoo.weights_info(...).input_convention``);
images in [0, 255] must be refused, not turned into garbage flow (issue 12, item 3). NVAE
already refuses them with "NVAE expects pixel values in [0, 1]"; PWC-Net should too."""

from __future__ import annotations

import functools

import pytest
import torch

import zoo

pytestmark = pytest.mark.hostile


@functools.lru_cache(maxsize=1)
def _network() -> torch.nn.Module:
    return zoo.load("pwcnet.synth")


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    return image, torch.roll(image, 2, dims=3)


def test_images_in_0_255_are_refused_naming_the_range() -> None:
    """``net(x * 255, y * 255)`` raises ValueError whose message contains "[0, 1]" (today it
    returns flow of up to 600 px for a 2 px shift, silently)."""
    first, second = _pair()
    with torch.no_grad(), pytest.raises(ValueError, match=r"\[0, 1\]"):
        _network()(first * 255, second * 255)


def test_nan_images_are_still_refused() -> None:
    """Guard: NaN input stays an error."""
    first, second = _pair()
    first[0, 0, 0, 0] = float("nan")
    with torch.no_grad(), pytest.raises(ValueError, match="NaN"):
        _network()(first, second)


def test_images_spanning_exactly_0_to_1_are_accepted() -> None:
    """Control: the range check must not refuse valid input, including exact 0 and 1."""
    first, second = _pair()
    first[..., 0, 0], first[..., 0, 1] = 0.0, 1.0
    with torch.no_grad():
        flow = _network()(first, second)
    assert flow.shape == (1, 2, 64, 64) and torch.isfinite(flow).all()
