"""Running a PWC-Net for inference: no autograd, and reduced precision where the device has it.

``estimate_flow`` is what ``zoo flow`` and the benchmark call; its ``max_size`` (with
:func:`fit_longer_side`) is ``zoo flow --max-size`` for image pairs, frames and videos alike.
Reduced precision means autocast:
convolutions run in bfloat16 (CPU with native bf16 instructions, CUDA with bf16 support) or
float16 (other CUDA devices), while the network keeps the sampling coordinates of the warp and
the returned flow in float32 (see :func:`models.pwcnet.warp.warp`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F

from models.pwcnet.network import resize_flow

__all__ = ["PRECISIONS", "cpu_flags", "bf16_supported", "resolve_precision", "fit_longer_side", "estimate_flow"]

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


def fit_longer_side(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    """(h, w) of a ``height`` x ``width`` image downscaled so that its longer side is at most
    ``max_size`` pixels, aspect ratio kept (rounded, at least 1 px); unchanged when it already fits
    or ``max_size`` is None.

    Raises:
        ValueError: ``max_size`` is below 1.
    """
    if max_size is None or max(height, width) <= max_size:
        return height, width
    if max_size < 1:
        raise ValueError(f"max_size must be at least 1 px, got {max_size}")
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def estimate_flow(network: torch.nn.Module, image1: torch.Tensor, image2: torch.Tensor,
                  precision: str = "float32", max_size: int | None = None) -> torch.Tensor:
    """Flow from ``image1`` to ``image2`` under ``torch.inference_mode``.

    Args:
        network: a :class:`models.pwcnet.network.PWCNet` (or anything with its ``forward``), in eval mode.
        image1, image2: (B, 3, H, W) RGB in [0, 1] (see ``PWCNet.forward`` for accepted inputs);
            moved to the network's device.
        precision: one of :data:`PRECISIONS`.
        max_size: if given, the frames are downscaled (bilinear, antialiased) so that their longer
            side is at most this many pixels (:func:`fit_longer_side`) before the network, and the
            flow is scaled back to (H, W): resampled, u multiplied by W / w and v by H / h.

    Returns:
        (B, 2, H, W) float32 flow in pixels of the input resolution.
    """
    device = next(network.parameters()).device
    precision = resolve_precision(precision, device)
    image1, image2 = image1.to(device), image2.to(device)
    size = tuple(image1.shape[-2:])
    small = fit_longer_side(*size, max_size)
    with torch.inference_mode(), torch.autocast(device.type, dtype=_DTYPES.get(precision, torch.bfloat16),
                                                enabled=precision in _DTYPES):
        if small != size:
            image1, image2 = (F.interpolate(image, size=small, mode="bilinear", align_corners=False, antialias=True)
                              for image in (image1, image2))
        return resize_flow(network(image1, image2).float(), size)
