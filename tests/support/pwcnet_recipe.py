"""Test support: the PWC-Net fixture's weight recipe and the official file layouts.

Implements ``../shared/fixtures/pwcnet/RECIPE.md`` sections 1 and 5 independently of
``zoo.models.pwcnet.convert`` (its own renaming table), so that writing a file with these helpers and
reading it through the converter checks the converter against the fixture's specification.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from pathlib import Path
from typing import Any

import torch

__all__ = ["FIXTURE_LAYOUTS", "nvlabs_to_sniklaus_name", "official_checkpoint", "recipe_nvlabs", "write_official_file"]

GAINS = {"predict_flow6.weight": 24.0, "predict_flow5.weight": 6.0, "predict_flow4.weight": 3.0,
         "predict_flow3.weight": 3.0}
LEVEL_WORD = {1: "One", 2: "Two", 3: "Thr", 4: "Fou", 5: "Fiv", 6: "Six"}
INDEX_WORD = {0: "One", 1: "Two", 2: "Thr", 3: "Fou", 4: "Fiv"}
#: The official file structures the tests write: NVlabs bare or wrapped dict, sniklaus in the
#: file (``module``) and run-time (``net``) spellings, ptlflow Lightning checkpoint.
FIXTURE_LAYOUTS = ("nvlabs-bare", "nvlabs-wrapped", "sniklaus", "sniklaus-runtime", "ptlflow")


def recipe_nvlabs(fixture_dir: Path) -> dict[str, torch.Tensor]:
    """The recipe weights (float64) under NVlabs names, in the order of ``keys-nvlabs.json``."""
    entries = json.loads((fixture_dir / "keys-nvlabs.json").read_text())["keys"]
    weights = {}
    for key, shape in entries:
        generator = torch.Generator().manual_seed(zlib.crc32(key.encode("utf-8")))
        z = torch.randn(shape, generator=generator, dtype=torch.float64)
        if key.endswith(".bias"):
            weights[key] = z * 0.01
            continue
        transposed = key.startswith(("deconv", "upfeat"))
        fan_in = (shape[0] if transposed else shape[1]) * shape[2] * shape[3]
        weights[key] = z * (math.sqrt(2.0 / fan_in) * GAINS.get(key, 1.0))
    return weights


_SNIKLAUS_RULES = [
    (r"conv([1-5])a\.0\.(\w+)", lambda m: f"moduleExtractor.module{LEVEL_WORD[int(m[1])]}.0.{m[2]}"),
    (r"conv([1-5])aa\.0\.(\w+)", lambda m: f"moduleExtractor.module{LEVEL_WORD[int(m[1])]}.2.{m[2]}"),
    (r"conv([1-5])b\.0\.(\w+)", lambda m: f"moduleExtractor.module{LEVEL_WORD[int(m[1])]}.4.{m[2]}"),
    (r"conv6aa\.0\.(\w+)", lambda m: f"moduleExtractor.moduleSix.0.{m[1]}"),
    (r"conv6a\.0\.(\w+)", lambda m: f"moduleExtractor.moduleSix.2.{m[1]}"),
    (r"conv6b\.0\.(\w+)", lambda m: f"moduleExtractor.moduleSix.4.{m[1]}"),
    (r"conv([2-6])_([0-4])\.0\.(\w+)", lambda m: f"module{LEVEL_WORD[int(m[1])]}.module{INDEX_WORD[int(m[2])]}.0.{m[3]}"),
    (r"predict_flow([2-6])\.(\w+)", lambda m: f"module{LEVEL_WORD[int(m[1])]}.moduleSix.0.{m[2]}"),
    (r"deconv([3-6])\.(\w+)", lambda m: f"module{LEVEL_WORD[int(m[1]) - 1]}.moduleUpflow.{m[2]}"),
    (r"upfeat([3-6])\.(\w+)", lambda m: f"module{LEVEL_WORD[int(m[1]) - 1]}.moduleUpfeat.{m[2]}"),
    (r"dc_conv([1-6])\.0\.(\w+)", lambda m: f"moduleRefiner.moduleMain.{2 * (int(m[1]) - 1)}.{m[2]}"),
    (r"dc_conv7\.(\w+)", lambda m: f"moduleRefiner.moduleMain.12.{m[1]}"),
]


def nvlabs_to_sniklaus_name(key: str) -> str | None:
    """RECIPE.md section 5: the sniklaus file name of an NVlabs key (None for ``deconv2``)."""
    for pattern, rename in _SNIKLAUS_RULES:
        match = re.fullmatch(pattern, key)
        if match:
            return rename(match)
    return None


def official_checkpoint(nvlabs: dict[str, torch.Tensor], variant: str) -> Any:
    """The object an official file of ``variant`` (one of :data:`FIXTURE_LAYOUTS`) holds."""
    if variant == "nvlabs-bare":
        return dict(nvlabs)
    if variant == "nvlabs-wrapped":
        return {"state_dict": dict(nvlabs)}
    if variant in ("sniklaus", "sniklaus-runtime"):
        renamed = {nvlabs_to_sniklaus_name(k): v for k, v in nvlabs.items() if not k.startswith("deconv2.")}
        if variant == "sniklaus-runtime":
            renamed = {k.replace("module", "net"): v for k, v in renamed.items()}
        return renamed
    if variant == "ptlflow":
        state = {k: v for k, v in nvlabs.items() if not k.startswith("deconv2.")}
        return {"state_dict": state, "hyper_parameters": {"div_flow": 20.0, "md": 4},
                "epoch": 0, "global_step": 0, "pytorch-lightning_version": "1.9.5"}
    raise ValueError(variant)


def write_official_file(path: Path, nvlabs: dict[str, torch.Tensor], variant: str,
                        dtype: torch.dtype = torch.float32) -> Path:
    """``torch.save`` the recipe as an official file of ``variant``, tensors cast to ``dtype``."""
    torch.save(official_checkpoint({k: v.to(dtype) for k, v in nvlabs.items()}, variant), path)
    return path
