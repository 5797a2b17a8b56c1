"""The record every scene renderer returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SyntheticPair"]


@dataclass
class SyntheticPair:
    """One rendered pair.

    Attributes:
        image1, image2: (3, H, W) float32 in [0, 1].
        flow: (2, H, W) float32 px, forward (frame 1 -> frame 2), exact for every frame-1 pixel,
            also those occluded in frame 2.
        owner1, owner2: (H, W) int64 id of the surface or layer seen at each pixel in each frame;
            one id is the same material in both frames (0 = background or ground).
        valid: (H, W) bool, False only where a frame-1 point has no image in frame 2 (it passed
            behind the camera); ``None`` means valid everywhere.
        kind: the scene kind that rendered the pair (``"layered-v1"``, ``"driving"``, ...).
    """

    image1: torch.Tensor
    image2: torch.Tensor
    flow: torch.Tensor
    owner1: torch.Tensor
    owner2: torch.Tensor
    valid: torch.Tensor | None = None
    kind: str = "layered-v1"
