"""Test support: the NVAE fixture's weight recipe and the official checkpoint file structure.

Implements ``../shared/fixtures/nvae/RECIPE.md`` sections 2 and 5 from the fixture's key lists
alone (official key names; nothing from ``zoo.models.nvae``), so that loading such a file through
``zoo.load`` checks the converter and the network against the official model's numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "FULL_CONFIGS",
    "TINY_CONFIGS",
    "official_checkpoint",
    "recipe_state_dict",
    "write_official_checkpoint",
]

TINY_CONFIGS = ("tiny-mnist", "tiny-cifar-flow", "tiny-celeba-3scale")
FULL_CONFIGS = ("full-mnist", "full-cifar10", "full-celeba64")


def _draw(key: str, shape: tuple[int, ...], uniform: bool = False) -> torch.Tensor:
    generator = torch.Generator(device="cpu")
    generator.manual_seed(zlib.crc32(key.encode("utf-8")))
    sampler = torch.rand if uniform else torch.randn
    return sampler(shape, generator=generator, dtype=torch.float64)


def recipe_state_dict(rows: list[list[Any]]) -> OrderedDict[str, torch.Tensor]:
    """The recipe's official state dict for ``keys.json`` rows ``[key, shape, dtype]``;
    ``weight_normalized`` aliases share storage with their weight, as in a real checkpoint."""
    keys = {row[0] for row in rows}
    out: dict[str, torch.Tensor] = {}

    def value(key: str, shape: tuple[int, ...]) -> torch.Tensor:
        if key.endswith("num_batches_tracked"):
            return torch.zeros(shape, dtype=torch.int64)
        if key.endswith(".weight_normalized"):
            return out[key[: -len("weight_normalized")] + "weight"]
        if key.endswith(".running_var"):
            v = _draw(key, shape, uniform=True) + 0.5
        elif key.endswith(".running_mean"):
            v = _draw(key, shape) * 0.1
        elif key.endswith(".log_weight_norm"):
            w = out[key[: -len("log_weight_norm")] + "weight"].double()
            norm = torch.sqrt((w * w).sum(dim=tuple(range(1, w.dim())))).view(shape)
            v = torch.log(norm + 0.01) + 0.05 * _draw(key, shape)
        elif key.endswith(".bias"):
            v = _draw(key, shape) * 0.05
        elif key.endswith(".weight") and key[: -len("weight")] + "running_var" in keys:
            v = _draw(key, shape) * 0.1 + 1.0
        else:
            fan_in = math.prod(shape[1:]) if len(shape) >= 2 else 1
            v = _draw(key, shape) * math.sqrt(1.0 / fan_in)
        return v.to(torch.float32)

    def dependent(key: str) -> bool:
        return key.endswith((".log_weight_norm", ".weight_normalized"))

    for key, shape, _ in sorted(rows, key=lambda row: dependent(row[0])):
        out[key] = value(key, tuple(shape))
    return OrderedDict((row[0], out[row[0]]) for row in rows)


def official_checkpoint(fixture_dir: Path, state_dict: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """An official ``checkpoint.pt`` dict for a fixture folder (recipe weights by default)."""
    rows = json.loads((fixture_dir / "keys.json").read_text())
    args = argparse.Namespace(**json.loads((fixture_dir / "args.json").read_text()),
                              num_total_iter=1000)
    return {"epoch": 1, "state_dict": recipe_state_dict(rows) if state_dict is None else state_dict,
            "optimizer": {"state": {}, "param_groups": []}, "global_step": 10, "args": args,
            "arch_instance": {}, "scheduler": {}, "grad_scalar": {}}


def write_official_checkpoint(fixture_dir: Path, path: Path) -> Path:
    torch.save(official_checkpoint(fixture_dir), path)
    return path
