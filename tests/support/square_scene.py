"""A hand-checkable video: a square translating over a static background, and an oracle flow
network that returns its exact flow (for E_warp and occlusion masks with known answers)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SquareFlowOracle", "square_clip"]


def square_clip(frames: int, size: tuple[int, int] = (32, 48), side: int = 8, start: tuple[int, int] = (10, 6),
                step: int = 4, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(T, 3, H, W) clip: a square of ``side`` px (red 1) whose top-left corner is at (x, y) =
    ``start`` in frame 0 and moves ``step`` px right per frame, over a static background (red 0,
    green and blue a fixed pattern in [0.1, 0.9])."""
    height, width = size
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij")
    background = torch.stack([torch.zeros_like(xs), 0.5 + 0.4 * torch.sin(xs / 3 + ys / 5),
                              0.5 + 0.4 * torch.cos(xs / 4 - ys / 7)])
    clip = background.repeat(frames, 1, 1, 1)
    x0, y0 = start
    for t in range(frames):
        x = x0 + t * step
        clip[t, :, y0:y0 + side, x:x + side] = torch.tensor([1.0, 0.25, 0.75], dtype=dtype)[:, None, None]
    return clip


class SquareFlowOracle(nn.Module):
    """Exact flow of a :func:`square_clip` pair: the square's displacement on its pixels of frame 1
    (red > 0.5), 0 on the static background. Has the attribute FlowSupervisor expects of a PWC-Net."""

    check_values = True

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the oracle a device, dtype and something to freeze

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        height, width = image1.shape[-2:]
        ys, xs = torch.meshgrid(torch.arange(height, dtype=image1.dtype), torch.arange(width, dtype=image1.dtype),
                                indexing="ij")
        mask1, mask2 = (image[:, 0] > 0.5 for image in (image1, image2))

        def centre(mask: torch.Tensor, coordinate: torch.Tensor) -> torch.Tensor:
            return (mask * coordinate).sum((1, 2)) / mask.sum((1, 2))

        shift_x = centre(mask2, xs) - centre(mask1, xs)
        shift_y = centre(mask2, ys) - centre(mask1, ys)
        flow = torch.stack([shift_x[:, None, None] * mask1, shift_y[:, None, None] * mask1], dim=1)
        return flow + self.anchor * 0
