"""Backward warping of second-frame features by a flow field, as the official PWC-Net does it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zoo.datamodules.flow.warping import sampling_grid

__all__ = ["NVLABS_MASK", "SNIKLAUS_MASK", "VALID_THRESHOLD", "MaskRule", "warp"]

#: A warped sample is kept when bilinear sampling of a map of ones gives at least this value,
#: i.e. when (almost) all four neighbours lie inside the map; otherwise it is set to 0.
VALID_THRESHOLD = 0.9999


@dataclass(frozen=True)
class MaskRule:
    """Which warped samples are kept, from the coverage (a warped map of ones, in [0, 1]).

    Attributes:
        threshold: the coverage a kept sample needs.
        inclusive: keep at ``coverage >= threshold`` (True) or only above it (False).
    """

    threshold: float
    inclusive: bool = True

    def keeps(self, coverage: torch.Tensor) -> torch.Tensor:
        """bool tensor of ``coverage``'s shape: True where the sample is kept."""
        return coverage >= self.threshold if self.inclusive else coverage > self.threshold


#: NVlabs' and ptlflow's rule: keep at coverage >= 0.9999.
NVLABS_MASK = MaskRule(VALID_THRESHOLD)
#: sniklaus/pytorch-pwc's ``backwarp``: keep at coverage > 0.999 (a sample with one neighbour
#: outside by less than 0.001 px is kept here and dropped by NVlabs).
SNIKLAUS_MASK = MaskRule(0.999, inclusive=False)


def warp(features: torch.Tensor, flow: torch.Tensor, mask: MaskRule = NVLABS_MASK) -> torch.Tensor:
    """Sample ``features`` at ``pixel + flow`` (bilinear, zeros outside), masking border samples.

    Pixel centre ``x`` maps to ``2 x / (W - 1) - 1`` (the ``align_corners=True`` convention, the
    only behaviour of ``grid_sample`` when the official code was written). A sample whose
    bilinear weights do not (almost) all fall inside the map, i.e. where a warped map of ones
    fails ``mask`` (NVlabs: below :data:`VALID_THRESHOLD`), is set to 0; kept samples are not
    rescaled.

    Args:
        features: (B, C, H, W) second-frame features.
        flow: (B, 2, H, W) displacement in pixels of this map, (u, v) = (+x right, +y down).
        mask: the rule that keeps a sample (:data:`NVLABS_MASK` or :data:`SNIKLAUS_MASK`).

    Returns:
        (B, C, H, W) warped features, dtype of ``features``. Coordinates are computed in at
        least float32 even when the features are bfloat16/float16.
    """
    if flow.dim() != 4 or flow.shape[1] != 2 or flow.shape[2:] != features.shape[2:] or flow.shape[0] != features.shape[0]:
        raise ValueError(f"warp: flow must be (B, 2, H, W) matching features {tuple(features.shape)}, got {tuple(flow.shape)}")
    dtype = torch.promote_types(torch.promote_types(flow.dtype, features.dtype), torch.float32)
    grid = sampling_grid(flow.to(dtype))
    sampled = F.grid_sample(features.to(dtype), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    ones = torch.ones_like(grid[..., 0]).unsqueeze(1)
    coverage = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return (sampled * mask.keeps(coverage)).to(features.dtype)
