"""Backward warping of second-frame features by a flow field, as the official PWC-Net does it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["VALID_THRESHOLD", "warp"]

#: A warped sample is kept when bilinear sampling of a map of ones gives at least this value,
#: i.e. when (almost) all four neighbours lie inside the map; otherwise it is set to 0.
VALID_THRESHOLD = 0.9999


def _sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 2) grid in [-1, 1] for ``grid_sample(align_corners=True)`` at ``pixel + flow``."""
    _, _, height, width = flow.shape
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device)
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device)
    x = (xs.view(1, 1, width) + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    y = (ys.view(1, height, 1) + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    return torch.stack((x, y), dim=-1)


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample ``features`` at ``pixel + flow`` (bilinear, zeros outside), masking border samples.

    Pixel centre ``x`` maps to ``2 x / (W - 1) - 1`` (the ``align_corners=True`` convention, the
    only behaviour of ``grid_sample`` when the official code was written). A sample whose
    bilinear weights do not (almost) all fall inside the map, i.e. where a warped map of ones is
    below :data:`VALID_THRESHOLD`, is set to 0; kept samples are not rescaled.

    Args:
        features: (B, C, H, W) second-frame features.
        flow: (B, 2, H, W) displacement in pixels of this map, (u, v) = (+x right, +y down).

    Returns:
        (B, C, H, W) warped features, dtype of ``features``. Coordinates are computed in at
        least float32 even when the features are bfloat16/float16.
    """
    if flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[2:] != features.shape[2:] or flow.shape[0] != features.shape[0]:
        raise ValueError(f"warp: flow must be (B, 2, H, W) matching features {tuple(features.shape)}, got {tuple(flow.shape)}")
    dtype = torch.promote_types(torch.promote_types(flow.dtype, features.dtype), torch.float32)
    grid = _sampling_grid(flow.to(dtype))
    sampled = F.grid_sample(features.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    ones = torch.ones_like(grid[..., 0]).unsqueeze(1)
    coverage = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return (sampled * (coverage >= VALID_THRESHOLD)).to(features.dtype)
