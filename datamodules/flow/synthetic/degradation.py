"""Photometric and optical effects applied on top of exact renders; none of them changes the flow.

- :func:`degrade_v1`: the v1 generator's effects (global brightness change of frame 2, shared
  defocus blur, sensor noise), bit for bit.
- :func:`camera_effects` (v2): a camera between the scene and the pixels, in the order light
  meets it: motion blur along each pixel's motion during the exposure, a change of the lighting
  between the frames (a smooth multiplicative field, e.g. a moving cloud shadow), exposure and
  white-balance changes, vignetting fixed to the sensor (so moving content changes brightness),
  a tone curve (gamma), defocus shared by both frames (sometimes refocused), signal-dependent
  sensor noise and 8-bit quantisation.

Random numbers come from numpy, noise from a CPU ``torch.Generator`` seeded by it, then moved to
the images' device: the effects are the same on any device.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datamodules.flow.synthetic.pair import SyntheticPair
from zoo.datamodules.flow.synthetic.textures import pixel_coordinates, smooth_noise

__all__ = ["camera_effects", "degrade_v1", "gaussian_blur", "motion_blur"]


def degrade_v1(rng: np.random.Generator, image1: torch.Tensor, image2: torch.Tensor):
    """Global brightness change of frame 2, shared defocus blur, independent sensor noise."""
    image2 = image2 * math.exp(rng.normal(0, 0.03)) + rng.normal(0, 0.02)
    if rng.random() < 0.3:
        sigma = rng.uniform(0.3, 1.2)
        image1, image2 = (gaussian_blur(image, sigma) for image in (image1, image2))
    if rng.random() < 0.5:
        sigma = rng.uniform(0.002, 0.02)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        image1 = image1 + sigma * torch.randn(image1.shape, generator=generator).to(image1.device)
        image2 = image2 + sigma * torch.randn(image2.shape, generator=generator).to(image2.device)
    return image1, image2


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (3, H, W) with replicated borders (shifted sums: faster than conv2d here)."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = taps / taps.sum()
    height, width = image.shape[1:]
    padded = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")[0]
    rows = sum(float(t) * padded[:, :, i : i + width] for i, t in enumerate(taps))
    return sum(float(t) * rows[:, i : i + height] for i, t in enumerate(taps))


def motion_blur(image: torch.Tensor, velocity: torch.Tensor, exposure: float) -> torch.Tensor:
    """``image`` (3, H, W) averaged along each pixel's path ``x + s * exposure * velocity(x)``,
    ``s`` in [-1/2, 1/2]: the blur of a shutter open for ``exposure`` of the frame interval.

    ``velocity`` (2, H, W) px per frame interval. Built by repeated halving: each pass averages
    the previous result at +-1/4, +-1/8, ... of the path, so ``k`` passes give ``2^k`` evenly
    spaced taps; there are enough passes for taps <= ~1 px apart on the longest path (at most 32 taps).
    """
    height, width = image.shape[1:]
    # max is exact (order-free), so the pass count does not depend on the thread count.
    length = exposure * math.sqrt(float((velocity[0] ** 2 + velocity[1] ** 2).max()))
    passes = min(5, max(1, math.ceil(math.log2(max(length, 1.0)))))
    ys, xs = pixel_coordinates(height, width, image.device)
    blurred = image
    for k in range(1, passes + 1):
        step = exposure / 2 ** (k + 1)
        dx, dy = step * velocity[0], step * velocity[1]
        blurred = 0.5 * (_sample_at(blurred, xs - dx, ys - dy) + _sample_at(blurred, xs + dx, ys + dy))
    return blurred


def _sample_at(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``image`` (C, H, W) at pixel coordinates ``x``, ``y`` (H', W'), borders replicated."""
    height, width = image.shape[1:]
    grid = torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)
    return F.grid_sample(image[None], grid[None], mode="bilinear", padding_mode="border", align_corners=False)[0]


def _frame2_velocity(flow: torch.Tensor) -> torch.Tensor:
    """The motion (2, H, W) px of frame-2 pixels, one fixed-point step of ``v(y) = flow(y - v(y))``
    from the forward flow (exact inside rigidly moving regions)."""
    height, width = flow.shape[1:]
    ys, xs = pixel_coordinates(height, width, flow.device)
    return _sample_at(flow, xs - flow[0], ys - flow[1])


def _vignetting(rng: np.random.Generator, height: int, width: int, device) -> torch.Tensor:
    """Radial fall-off (H, W) in (0, 1]: 1 at a centre near the image's, ``1 - k`` at the farthest corner."""
    strength = rng.uniform(0.05, 0.45)
    cy, cx = (height - 1) * (0.5 + rng.normal(0, 0.05)), (width - 1) * (0.5 + rng.normal(0, 0.05))
    ys, xs = pixel_coordinates(height, width, device)
    corner = max(cy, height - 1 - cy) ** 2 + max(cx, width - 1 - cx) ** 2
    return 1 - strength * ((ys - cy) ** 2 + (xs - cx) ** 2) / corner


def _lighting_change(rng: np.random.Generator, height: int, width: int, device) -> torch.Tensor:
    """A smooth multiplicative field (H, W) around 1 (+-2-15 %): light that changes between frames."""
    cell = max(8.0, math.sqrt(height * width) * math.exp(rng.uniform(math.log(0.15), math.log(1.0))))
    return torch.exp(rng.uniform(0.02, 0.15) * smooth_noise(rng, height, width, cell, device))


def _sensor_noise(rng: np.random.Generator, image1: torch.Tensor, image2: torch.Tensor):
    """Signal-dependent (shot + read) noise, variance ``a I + b``, independent in each frame."""
    shot, read = math.exp(rng.uniform(math.log(1e-5), math.log(2e-3))), math.exp(rng.uniform(math.log(1e-6), math.log(1e-4)))
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    noisy = []
    for image in (image1, image2):
        white = torch.randn(image.shape, generator=generator).to(image.device)
        noisy.append(image + torch.sqrt(shot * image.clamp(0, 1) + read) * white)
    return noisy


def camera_effects(rng: np.random.Generator, pair: SyntheticPair) -> SyntheticPair:
    """``pair`` seen through a random camera (see the module docstring); the flow is unchanged."""
    image1, image2, flow = pair.image1, pair.image2, pair.flow
    height, width = flow.shape[1:]
    device = flow.device
    if rng.random() < 0.3:
        exposure = rng.uniform(0.1, 0.6)
        image1 = motion_blur(image1, flow, exposure)
        image2 = motion_blur(image2, _frame2_velocity(flow), exposure)
    if rng.random() < 0.5:
        image2 = image2 * _lighting_change(rng, height, width, device)
    exposure1 = math.exp(rng.normal(0, 0.2))
    white_balance = torch.from_numpy(np.exp(rng.normal(0, 0.03, 3))).float().to(device)[:, None, None]
    change = torch.from_numpy(np.exp(rng.normal(0, 0.06) + rng.normal(0, 0.015, 3))).float().to(device)[:, None, None]
    image1 = image1 * (exposure1 * white_balance)
    image2 = image2 * (exposure1 * white_balance * change) + rng.normal(0, 0.01)
    if rng.random() < 0.5:
        vignetting = _vignetting(rng, height, width, device)
        image1, image2 = image1 * vignetting, image2 * vignetting
    gamma = math.exp(rng.normal(0, 0.15))
    image1, image2 = image1.clamp(0, 1) ** gamma, image2.clamp(0, 1) ** (gamma * math.exp(rng.normal(0, 0.02)))
    if rng.random() < 0.4:
        sigma = rng.uniform(0.3, 1.5)
        sigma2 = sigma * math.exp(rng.normal(0, 0.15)) if rng.random() < 0.2 else sigma
        image1, image2 = gaussian_blur(image1, sigma), gaussian_blur(image2, sigma2)
    if rng.random() < 0.7:
        image1, image2 = _sensor_noise(rng, image1, image2)
    if rng.random() < 0.5:
        image1, image2 = (torch.round(image.clamp(0, 1) * 255) / 255 for image in (image1, image2))
    return SyntheticPair(image1.clamp(0, 1), image2.clamp(0, 1), flow, pair.owner1, pair.owner2, pair.valid, pair.kind)
