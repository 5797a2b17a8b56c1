"""The network and converter of ``toyflow``, a third architecture that lives in the test tree only.

``ToyFlow`` is an optical-flow network in the zoo's sense (``forward(image1, image2)``: two (B, 3,
H, W) RGB batches in [0, 1] -> (B, 2, H, W) flow in pixels) with a hand-checkable answer: one 1x1
convolution of the stacked frames, ``flow[c] = sum_j W[c, j] x[j] + b[c]`` with ``x`` =
(image1 RGB, image2 RGB). Its "upstream" files are plain ``torch.save`` dicts ``{"weight": (2, 6),
"bias": (2,)}``, so that loading them goes through this converter (``LAYOUTS``, ``detect_layout``,
``convert``), as a real architecture's official files do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["LAYOUTS", "ToyFlow", "convert", "detect_layout"]

LAYOUTS = ("toyflow-upstream",)


class ToyFlow(nn.Module):
    """Flow as one 1x1 convolution of the two frames stacked along channels: 2 x 6 weights + 2 biases."""

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(6, 2, 1)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) twice -> (B, 2, H, W) flow (u, v) in pixels."""
        return self.mix(torch.cat([image1, image2], dim=1))


def detect_layout(checkpoint: Mapping[str, Any]) -> str | None:
    return "toyflow-upstream" if set(checkpoint) == {"weight", "bias"} else None


def convert(checkpoint: Mapping[str, Any], layout: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    weight, bias = checkpoint["weight"], checkpoint["bias"]
    if tuple(weight.shape) != (2, 6) or tuple(bias.shape) != (2,):
        raise ValueError(f"toyflow-upstream: expected weight (2, 6) and bias (2,), got {tuple(weight.shape)} "
                         f"and {tuple(bias.shape)}")
    return {"mix.weight": weight[:, :, None, None], "mix.bias": bias}, {}
