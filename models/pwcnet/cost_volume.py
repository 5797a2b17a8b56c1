"""The PWC-Net cost volume (correlation layer), in pure PyTorch.

This is the function the official CUDA ``Correlation`` kernel computes with kernel size 1,
stride 1 and ``pad = max_displacement``: for every pixel, the dot products of its feature vector
with those of the (2d+1)^2 pixels around it in the other frame.

It is computed as batched matrix products over a band. The width is cut into tiles of
``TILE`` pixels; for one row offset ``dy``, a tile of frame-1 features (TILE x C) times the
frame-2 window it can see (C x (TILE + 2d)) holds all 2d+1 horizontal offsets of every pixel of
the tile on a diagonal band, which is read out through a strided view. This does the work at
matrix-multiply speed with nine large ``bmm`` calls per level, instead of (2d+1)^2 memory-bound
elementwise passes. ``benchmarks/pwcnet_inference.py`` compares it with the shifted-slice loop,
``unfold`` (:func:`cost_volume_unfold`, which is what ONNX export traces) and a per-pixel band
matmul; it is the fastest of them on CPU and exact (float64 agrees with the definition to ~1e-16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["TILE", "cost_volume", "cost_volume_unfold", "num_displacements"]

#: Width of the tiles of the band matmul: the best trade-off on CPU between the wasted products
#: outside the band ((TILE + 2d) / (2d + 1) times the useful ones) and the efficiency of small matmuls.
TILE = 8


def num_displacements(max_displacement: int) -> int:
    """Channels of the cost volume: ``(2 * max_displacement + 1) ** 2`` (81 for 4)."""
    return (2 * max_displacement + 1) ** 2


def cost_volume(features1: torch.Tensor, features2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """Correlation of every pixel of ``features1`` with a window of ``features2``.

    ``out[b, k, y, x] = sum_c features1[b, c, y, x] * features2[b, c, y + dy, x + dx] / C`` with
    ``dy = k // D - max_displacement``, ``dx = k % D - max_displacement``, ``D = 2 * max_displacement + 1``
    (dy-major order), and ``features2`` read as 0 outside the map.

    Args:
        features1: (B, C, H, W) features of the first frame.
        features2: (B, C, H, W) features of the (warped) second frame, same shape and dtype.
        max_displacement: largest displacement in pixels of this level, in each direction.

    Returns:
        (B, D * D, H, W) cost volume in the dtype of the inputs (not yet activated); differentiable.
    """
    if features1.shape != features2.shape:
        raise ValueError(f"cost_volume: feature maps differ in shape: {tuple(features1.shape)} vs {tuple(features2.shape)}")
    if features1.dim() != 4:
        raise ValueError(f"cost_volume: expected (B, C, H, W) feature maps, got shape {tuple(features1.shape)}")
    if max_displacement < 0:
        raise ValueError(f"cost_volume: max_displacement must be >= 0, got {max_displacement}")
    if torch.compiler.is_exporting():
        return cost_volume_unfold(features1, features2, max_displacement)
    batch, channels, height, width = features1.shape
    r = max_displacement
    size, span = 2 * r + 1, TILE + 2 * r
    tiles = -(-width // TILE)
    padded_width = tiles * TILE
    # frame 1 as (B*H*tiles, TILE, C); frame 2 as the (C, span) window of each tile, rows padded by r
    # dividing frame 1 by C first keeps float16 products in range and saves a pass over the volume
    rows1 = F.pad(features1 / channels, (0, padded_width - width)).permute(0, 2, 3, 1).reshape(
        batch, height, tiles, TILE, channels)
    padded2 = F.pad(features2, (r, r + padded_width - width, r, r))
    windows = padded2.unfold(3, span, TILE).permute(0, 2, 3, 1, 4).contiguous()  # (B, H + 2r, tiles, C, span)
    bands = []
    for dy in range(size):
        products = torch.bmm(rows1.reshape(-1, TILE, channels), windows[:, dy:dy + height].reshape(-1, channels, span))
        # products[t, i, j]: tile pixel i against window column j, i.e. displacement dx = j - i - r;
        # the stride span + 1 walks the diagonal band j - i = 0 .. 2r
        bands.append(products.as_strided((batch, height, tiles, TILE, size),
                                         (height * tiles * TILE * span, tiles * TILE * span, TILE * span, span + 1, 1)))
    volume = torch.stack(bands, dim=1).view(batch, size, height, padded_width, size)[:, :, :, :width]
    return volume.permute(0, 1, 4, 2, 3).reshape(batch, size * size, height, width)


def cost_volume_unfold(features1: torch.Tensor, features2: torch.Tensor, max_displacement: int = 4) -> torch.Tensor:
    """:func:`cost_volume` with all ``(2d+1)^2`` windows of ``features2`` gathered at once by
    ``F.unfold`` (materialises a (B, C, (2d+1)^2, H, W) tensor): same arguments and result.

    It is what ``torch.export`` (and so ONNX export) traces: the band matmul's strided view
    becomes index gathers there that are wrong for symbolic image sizes, while ``unfold`` is one
    ONNX ``Im2Col``-style pattern per level (tracing 81 shifted slices instead takes minutes).
    """
    batch, channels, height, width = features1.shape
    r = max_displacement
    size = 2 * r + 1
    windows = F.unfold(F.pad(features2, (r, r, r, r)), size).view(batch, channels, size * size, height, width)
    return (features1.unsqueeze(2) * windows).sum(1) / channels
