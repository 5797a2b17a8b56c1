"""NVAE's building layers: weight-normalised and masked convolutions, squeeze-excitation.

Weight normalisation (Salimans & Kingma) is stored as in the official code: a raw ``weight``
and a per-output-channel ``log_weight_norm`` (shape ``(C_out, 1, 1, 1)``); the convolution uses
``exp(log_weight_norm) * weight / (||weight|| + 1e-5)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MaskedWeightNormConv2d",
    "SqueezeExcitation",
    "WeightNormConv2d",
    "autoregressive_mask",
    "normalize_weight",
]


def normalize_weight(weight: torch.Tensor, log_weight_norm: torch.Tensor) -> torch.Tensor:
    """Weight-normalised kernel: each output filter rescaled to norm ``exp(log_weight_norm)``.

    Works on a single kernel ``(C_out, ...)`` with ``log_weight_norm (C_out, 1, 1, 1)`` and on a
    stack ``(N, C_out, ...)`` with ``(N, C_out, 1, 1, 1)`` (the first ``log_weight_norm.dim() - 4``
    dimensions are batch dimensions).
    """
    lead = log_weight_norm.dim() - 4
    dims = tuple(range(lead, weight.dim()))[1:]
    norm = torch.sqrt(torch.sum(weight * weight, dim=dims, keepdim=True))
    return torch.exp(log_weight_norm) * weight / (norm + 1e-5)


class WeightNormConv2d(nn.Conv2d):
    """``nn.Conv2d`` with weight normalisation (official ``Conv2D`` with ``weight_norm=True``).

    In eval mode without autograd the normalised kernel is cached until a parameter changes
    (tracked by the tensors' version counters), so repeated sampling does not redo it. Under
    ``torch.compile`` / ``torch.export`` the normalisation is traced into the graph instead.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, dilation: int = 1, groups: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias)
        with torch.no_grad():
            norm = torch.sqrt(torch.sum(self.weight * self.weight, dim=(1, 2, 3))).view(-1, 1, 1, 1)
        self.log_weight_norm = nn.Parameter(torch.log(norm + 1e-2))
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def raw_weight(self) -> torch.Tensor:
        """The kernel before normalisation (masked convolutions apply their mask here)."""
        return self.weight

    def normalized_weight(self) -> torch.Tensor:
        """The kernel the convolution uses, ``(C_out, C_in / groups, k, k)``."""
        if self.training or torch.is_grad_enabled() or torch.compiler.is_compiling():
            self._cache = None
            return normalize_weight(self.raw_weight(), self.log_weight_norm)
        key = (self.weight._version, self.log_weight_norm._version, self.weight.data_ptr(),
               self.log_weight_norm.data_ptr(), self.weight.dtype)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, normalize_weight(self.raw_weight(), self.log_weight_norm))
        return self._cache[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.normalized_weight(), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


def autoregressive_mask(kernel_size: int, in_channels: int, out_channels: int, groups: int,
                        zero_diagonal: bool, mirror: bool) -> torch.Tensor:
    """Kernel mask ``(C_out, C_in / groups, k, k)`` of a causal (raster-order) convolution.

    Rows below the centre and pixels right of the centre are masked out. At the centre pixel,
    channel ``i`` of the output sees input channels ``<= i`` (``< i`` with ``zero_diagonal``),
    where channels are matched in blocks when the counts differ. A depthwise convolution
    (``groups == in_channels``) sees its own channel unless ``zero_diagonal``. ``mirror`` flips
    the spatial order (the second cell of a flow pair runs bottom-up).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f"a masked convolution needs an odd kernel size, got {kernel_size}")
    if groups == 1:
        centre = torch.ones(out_channels, in_channels)
        if out_channels >= in_channels:
            ratio = out_channels // in_channels
            for i in range(in_channels):
                centre[i * ratio:(i + 1) * ratio, i + 1:] = 0
                if zero_diagonal:
                    centre[i * ratio:(i + 1) * ratio, i] = 0
        else:
            ratio = in_channels // out_channels
            for i in range(out_channels):
                centre[i, (i + 1) * ratio:] = 0
                if zero_diagonal:
                    centre[i, i * ratio:(i + 1) * ratio] = 0
    elif groups == in_channels:
        centre = torch.full((out_channels, 1), 0.0 if zero_diagonal else 1.0)
    else:
        raise ValueError(f"masked convolution supports groups 1 or {in_channels}, got {groups}")
    m = (kernel_size - 1) // 2
    mask = torch.ones(out_channels, in_channels // groups, kernel_size, kernel_size)
    mask[:, :, m:, :] = 0
    mask[:, :, m, :m] = 1
    mask[:, :, m, m] = centre
    return torch.flip(mask, dims=(2, 3)) if mirror else mask


class MaskedWeightNormConv2d(WeightNormConv2d):
    """Weight-normalised convolution whose kernel is masked for autoregressive flows
    (official ``ARConv2d``); the mask is applied before normalisation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, groups: int = 1,
                 bias: bool = False, zero_diagonal: bool = False, mirror: bool = False) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                         groups=groups, bias=bias)
        mask = autoregressive_mask(kernel_size, in_channels, out_channels, groups,
                                   zero_diagonal, mirror)
        self.register_buffer("mask", mask, persistent=False)
        with torch.no_grad():
            masked = self.weight * mask
            norm = torch.sqrt(torch.sum(masked * masked, dim=(1, 2, 3))).view(-1, 1, 1, 1)
            self.log_weight_norm.copy_(torch.log(norm + 1e-2))

    def raw_weight(self) -> torch.Tensor:
        return self.weight * self.mask


class SqueezeExcitation(nn.Module):
    """Channel gating by the global average: ``x * sigmoid(W2 relu(W1 mean_hw(x)))``.

    The hidden width is ``max(C // 16, 4)`` as in the official code.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = max(channels // 16, 4)
        self.reduce = nn.Linear(channels, hidden)
        self.expand = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]
