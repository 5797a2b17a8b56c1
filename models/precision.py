"""Arithmetic precision of inference: which precisions a device runs natively, and autocast to one.

Reduced precision means autocast: matrix products and convolutions run in bfloat16 (CPU with
native bf16 instructions, CUDA with bf16 support) or float16 (CUDA), while the network may keep
numerically sensitive steps in float32 itself.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

import torch

__all__ = ["PRECISIONS", "autocast", "bf16_supported", "cpu_flags", "resolve_precision"]

PRECISIONS = ("auto", "float32", "bfloat16", "float16")
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this CPU (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 convolutions natively (not by emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> ``"bfloat16"`` where the device has bf16 units, ``"float16"`` on other CUDA
    devices, else ``"float32"``; an explicit precision is checked and returned."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        if precision == "float16" and device.type == "cpu":
            raise ValueError("precision 'float16' needs a CUDA device; use 'bfloat16' or 'float32' on CPU")
        return precision
    if bf16_supported(device):
        return "bfloat16"
    return "float16" if device.type == "cuda" else "float32"


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[str]:
    """``torch.inference_mode`` and autocast to ``precision`` (resolved by :func:`resolve_precision`;
    float32: no autocast); yields the resolved precision."""
    precision = resolve_precision(precision, device)
    dtype = _DTYPES.get(precision)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        yield precision
