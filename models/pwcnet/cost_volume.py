"""The PWC-Net cost volume (correlation layer), in pure PyTorch.

This is the function the official CUDA ``Correlation`` kernel computes with kernel size 1,
stride 1 and ``pad = max_displacement``. ``benchmarks/pwcnet_inference.py`` compares this
shifted-slice formulation with an ``unfold`` one and a banded batched matmul; on CPU the
shifted slices are the fastest of them (each product is a plain elementwise kernel over
memory that is already laid out, and nothing larger than one product is materialised).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cost_volume", "num_displacements"]


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
        (B, D * D, H, W) cost volume in the dtype of the inputs (not yet activated).
    """
    if features1.shape != features2.shape:
        raise ValueError(f"cost_volume: feature maps differ in shape: {tuple(features1.shape)} vs {tuple(features2.shape)}")
    if features1.dim() != 4:
        raise ValueError(f"cost_volume: expected (B, C, H, W) feature maps, got shape {tuple(features1.shape)}")
    if max_displacement < 0:
        raise ValueError(f"cost_volume: max_displacement must be >= 0, got {max_displacement}")
    channels, height, width = features1.shape[1:]
    size = 2 * max_displacement + 1
    r = max_displacement
    padded = F.pad(features2, (r, r, r, r))
    if torch.is_grad_enabled() and (features1.requires_grad or features2.requires_grad):
        # Training: ``out=`` below is not differentiable, so the volume is stacked out of place.
        shifted = (padded[:, :, dy:dy + height, dx:dx + width] for dy in range(size) for dx in range(size))
        return torch.stack([(features1 * f2).sum(dim=1) for f2 in shifted], dim=1) / channels
    products = [
        (features1 * padded[:, :, dy:dy + height, dx:dx + width]).sum(dim=1)
        for dy in range(size) for dx in range(size)
    ]
    return torch.stack(products, dim=1) / channels
