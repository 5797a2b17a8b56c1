"""NVAE's residual cells and the operations inside them.

A residual cell computes ``skip(x) + 0.1 * se(ops(x))``. Its type decides the stride: ``normal``
cells keep the resolution, ``down`` cells halve it and double the channels (the skip is a
factorised reduction), ``up`` cells double it and halve the channels (the skip is a bilinear
up-sampling followed by a 1x1 convolution). The operations come from the architecture instance
(see :data:`zoo.models.nvae.config.ARCH_INSTANCES`).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.nvae.config import CHANNEL_MULT
from zoo.models.nvae.layers import SqueezeExcitation, WeightNormConv2d

__all__ = [
    "BN_MOMENTUM",
    "BNActConv",
    "ConvBNSwish",
    "DecoderCombiner",
    "EncoderCombiner",
    "FactorizedReduce",
    "InvertedResidual",
    "ResidualCell",
    "UpsampleConv",
    "batch_norm",
    "cell_stride",
    "make_op",
]

BN_MOMENTUM = 0.05
"""Momentum of every batch norm (official value); eps is PyTorch's 1e-5."""


def batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


def cell_stride(cell_type: str) -> int:
    """1 for ``normal*``/``combiner*`` cells, 2 for ``down*``, -1 (up-sampling) for ``up*``."""
    if cell_type.startswith(("normal", "combiner")):
        return 1
    if cell_type.startswith("down"):
        return 2
    if cell_type.startswith("up"):
        return -1
    raise ValueError(f"unknown cell type {cell_type!r}")


class BNActConv(nn.Module):
    """Batch norm, activation (Swish or ELU), optional nearest x2 up-sampling, then a
    weight-normalised ``k x k`` convolution with bias (official ``BNSwishConv``/``BNELUConv``)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, dilation: int = 1,
                 activation: str = "swish") -> None:
        super().__init__()
        self.upsample = stride == -1
        self.activation = F.silu if activation == "swish" else F.elu
        self.bn = batch_norm(in_channels)
        self.conv = WeightNormConv2d(in_channels, out_channels, 3, stride=abs(stride),
                                     padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.bn(x))
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x)


class ConvBNSwish(nn.Module):
    """Plain convolution (no weight normalisation, no bias), batch norm, Swish."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, dilation: int = 1) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                              padding=padding, groups=groups, dilation=dilation, bias=False)
        self.bn = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.bn(self.conv(x)))


class InvertedResidual(nn.Module):
    """MobileNetV2-style block: [nearest x2 up-sampling], BN, 1x1 expansion (BN-Swish),
    ``k x k`` depthwise (or grouped) convolution with the stride (BN-Swish), 1x1 projection, BN.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int,
                 kernel_size: int, groups: int, dilation: int = 1) -> None:
        super().__init__()
        if stride not in (1, 2, -1):
            raise ValueError(f"InvertedResidual supports stride 1, 2 or -1 (up), got {stride}")
        hidden = int(round(in_channels * expansion))
        self.upsample = stride == -1
        self.bn_in = batch_norm(in_channels)
        self.expand = ConvBNSwish(in_channels, hidden, kernel_size=1)
        self.depthwise = ConvBNSwish(hidden, hidden, kernel_size=kernel_size, stride=max(stride, 1),
                                     groups=hidden if groups == 0 else groups, dilation=dilation)
        self.project = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.bn_out = batch_norm(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.bn_out(self.project(self.depthwise(self.expand(self.bn_in(x)))))


_MBCONV = re.compile(r"mconv_e(\d+)k(\d+)g(\d+)")


def make_op(name: str, in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """The operation ``name`` of an architecture instance (``res_bnswish``, ``mconv_e6k5g0``...)."""
    if name == "res_bnswish":
        return BNActConv(in_channels, out_channels, stride)
    if name == "res_bnswish5":
        return BNActConv(in_channels, out_channels, stride, dilation=2)
    if name == "res_bnelu":
        return BNActConv(in_channels, out_channels, stride, activation="elu")
    match = _MBCONV.fullmatch(name)
    if match:
        expansion, kernel, groups = (int(v) for v in match.groups())
        return InvertedResidual(in_channels, out_channels, stride, expansion, kernel, groups)
    raise ValueError(f"unknown cell operation {name!r}")


class FactorizedReduce(nn.Module):
    """Stride-2 skip path: Swish, then four 1x1 stride-2 convolutions on the input shifted by
    (0,0), (1,1), (0,1), (1,0) pixels, concatenated along channels."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        quarter = out_channels // 4
        widths = (quarter, quarter, quarter, out_channels - 3 * quarter)
        self.convs = nn.ModuleList(WeightNormConv2d(in_channels, w, 1, stride=2) for w in widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(x)
        shifted = (x, x[:, :, 1:, 1:], x[:, :, :, 1:], x[:, :, 1:, :])
        return torch.cat([conv(s) for conv, s in zip(self.convs, shifted)], dim=1)


class UpsampleConv(nn.Module):
    """Up-sampling skip path: bilinear x2 (align_corners=True), 1x1 convolution without bias."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = WeightNormConv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class ResidualCell(nn.Module):
    """``skip(x) + 0.1 * se(ops(x))``; see the module docstring for the cell types."""

    def __init__(self, in_channels: int, out_channels: int, cell_type: str,
                 ops: tuple[str, ...], use_se: bool) -> None:
        super().__init__()
        self.cell_type = cell_type
        stride = cell_stride(cell_type)
        if stride == 1:
            self.skip: nn.Module = nn.Identity()
        elif stride == 2:
            self.skip = FactorizedReduce(in_channels, CHANNEL_MULT * in_channels)
        else:
            self.skip = UpsampleConv(in_channels, in_channels // CHANNEL_MULT)
        self.ops = nn.Sequential(*(
            make_op(name, in_channels if i == 0 else out_channels, out_channels,
                    stride if i == 0 else 1)
            for i, name in enumerate(ops)))
        self.se = SqueezeExcitation(out_channels) if use_se else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + 0.1 * self.se(self.ops(x))


class EncoderCombiner(nn.Module):
    """Adds a 1x1 projection of the decoder state to the encoder feature of the same scale."""

    def __init__(self, encoder_channels: int, decoder_channels: int) -> None:
        super().__init__()
        self.conv = WeightNormConv2d(decoder_channels, encoder_channels, 1)

    def forward(self, encoder_feature: torch.Tensor, decoder_state: torch.Tensor) -> torch.Tensor:
        return encoder_feature + self.conv(decoder_state)


class DecoderCombiner(nn.Module):
    """Merges a latent sample into the decoder state: 1x1 conv of ``cat([state, z])``."""

    def __init__(self, channels: int, latent_channels: int) -> None:
        super().__init__()
        self.conv = WeightNormConv2d(channels + latent_channels, channels, 1)

    def forward(self, state: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([state, z], dim=1))
