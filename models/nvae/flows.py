"""Volume-preserving inverse autoregressive flow cells applied to posterior samples.

Each cell shifts the sample by a mean that depends autoregressively (raster order over space,
ordered over channels) on the sample itself: ``z' = z - mu(z)``. Its Jacobian is triangular
with a unit diagonal, so the log-determinant is exactly zero. A flow stage pairs a top-down
cell with a mirrored (bottom-up) one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.nvae.layers import MaskedWeightNormConv2d

__all__ = ["AutoregressiveShift", "FlowPair"]


class AutoregressiveShift(nn.Module):
    """``z -> z - mu(z)`` with ``mu`` from masked convolutions: 3x3 (strictly causal, 6x
    channels), ELU, 5x5 depthwise, ELU, ELU, 1x1 (official ``CellAR``)."""

    def __init__(self, latent_channels: int, mirror: bool, expansion: int = 6) -> None:
        super().__init__()
        hidden = latent_channels * expansion
        self.expand = MaskedWeightNormConv2d(latent_channels, hidden, 3, zero_diagonal=True,
                                             mirror=mirror)
        self.depthwise = MaskedWeightNormConv2d(hidden, hidden, 5, groups=hidden, mirror=mirror)
        self.mean = MaskedWeightNormConv2d(hidden, latent_channels, 1, bias=True, mirror=mirror)
        with torch.no_grad():  # start close to the identity map
            self.mean.log_weight_norm.add_(math.log(0.1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        hidden = F.elu(self.depthwise(F.elu(self.expand(z))))
        return z - self.mean(F.elu(hidden))


class FlowPair(nn.Module):
    """A raster-order shift followed by a reverse-raster-order one (official ``PairedCellAR``)."""

    def __init__(self, latent_channels: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList([AutoregressiveShift(latent_channels, mirror=False),
                                    AutoregressiveShift(latent_channels, mirror=True)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """The transformed latent; the log-determinant is zero."""
        for cell in self.cells:
            z = cell(z)
        return z
