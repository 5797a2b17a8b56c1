"""``tinynet``: a two-layer architecture registered by the ``tinynet`` fixture (tests/conftest.py).

It stands for any zoo architecture: its foreign ("upstream") layout names its layers differently,
so layout detection and conversion are exercised end to end with real files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

LAYOUTS = ("tinynet-upstream",)
_RENAME = {"conv1.weight": "stem.weight", "conv1.bias": "stem.bias",
           "conv2.weight": "head.weight", "conv2.bias": "head.bias"}


class TinyNet(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.head = nn.Conv2d(width, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.stem(x)))


def detect_layout(ckpt: Mapping[str, Any]) -> str | None:
    state = ckpt.get("state_dict", ckpt)
    return "tinynet-upstream" if "conv1.weight" in state else None


def convert(ckpt: Mapping[str, Any], layout: str) -> tuple[dict, dict]:
    state = ckpt.get("state_dict", ckpt)
    unexpected = sorted(set(state) - set(_RENAME))
    if unexpected:
        raise ValueError(f"unexpected keys: {', '.join(unexpected)}")
    return {_RENAME[k]: v for k, v in state.items()}, {"width": state["conv1.weight"].shape[0]}


def upstream_state(width: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = TinyNet(width)
    return {k: net.state_dict()[v].clone() for k, v in _RENAME.items()}


def example_input() -> torch.Tensor:
    return torch.linspace(0, 1, 3 * 8 * 8).reshape(1, 3, 8, 8)


def reference_output(state: Mapping[str, torch.Tensor], width: int = 4) -> torch.Tensor:
    net = TinyNet(width)
    net.load_state_dict({v: state[k] for k, v in _RENAME.items()})
    return net(example_input())
