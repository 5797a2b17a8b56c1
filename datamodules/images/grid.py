"""Tiling a batch of images into one picture (sample grids, logged images)."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["image_grid"]


def image_grid(images: torch.Tensor, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images into one uint8 grid.

    Args:
        images: ``(N, C, H, W)`` values in [0, 1] (clamped).
        columns: images per row (default: as square as possible).
        padding: black pixels between and around the tiles.

    Returns:
        uint8 ``(rows (H + p) + p, columns (W + p) + p, C)``.
    """
    n, c, h, w = images.shape
    columns = max(1, min(n, columns or math.ceil(math.sqrt(n))))
    rows = math.ceil(n / columns)
    grid = np.zeros((rows * (h + padding) + padding, columns * (w + padding) + padding, c), np.uint8)
    pixels = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    for i, image in enumerate(pixels.permute(0, 2, 3, 1).cpu().numpy()):
        row, col = divmod(i, columns)
        top, left = padding + row * (h + padding), padding + col * (w + padding)
        grid[top:top + h, left:left + w] = image
    return grid
