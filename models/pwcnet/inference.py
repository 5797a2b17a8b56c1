"""Running a PWC-Net for inference: no autograd, and reduced precision where the device has it.

``estimate_flow`` is what ``zoo flow`` and the benchmark call; with ``max_size`` it estimates on
downscaled frames and scales the flow back (large frames in bounded memory): ``zoo flow --max-size``
for image pairs, frames and videos alike. Reduced precision means autocast:
convolutions run in bfloat16 (CPU with native bf16 instructions, CUDA with bf16 support) or
float16 (other CUDA devices), while the network keeps the sampling coordinates of the warp and
the returned flow in float32 (see :func:`zoo.models.pwcnet.warp.warp`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo.models.pwcnet.pipeline import resize_flow

__all__ = ["PRECISIONS", "bf16_supported", "cpu_flags", "downscaled_size", "estimate_flow", "resolve_precision"]

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


def downscaled_size(height: int, width: int, max_size: int | None = None) -> tuple[int, int]:
    """The (height, width) at which :func:`estimate_flow` runs the network for frames of
    ``height`` x ``width``: their own size, or, when the longer side exceeds ``max_size``, scaled
    (aspect kept, sides rounded, at least 1 px) so that the longer side is ``max_size``."""
    if max_size is not None and max_size < 1:
        raise ValueError(f"max_size must be a positive number of pixels, got {max_size}")
    if max_size is None or max(height, width) <= max_size:
        return height, width
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def estimate_flow(network: torch.nn.Module, image1: torch.Tensor, image2: torch.Tensor,
                  precision: str = "float32", max_size: int | None = None) -> torch.Tensor:
    """Flow from ``image1`` to ``image2`` under ``torch.inference_mode``.

    Args:
        network: a :class:`zoo.models.pwcnet.network.PWCNet` (or anything with its ``forward``), in eval mode.
        image1, image2: (B, 3, H, W) RGB in [0, 1] (see ``PWCNet.forward`` for accepted inputs);
            moved to the network's device.
        precision: one of :data:`PRECISIONS`.
        max_size: when the longer side of the frames exceeds it, the network sees them at
            :func:`downscaled_size` (bilinear, antialiased: h x w), and its flow is resized to
            H x W (bilinear) with u multiplied by W / w and v by H / h, so that the flow is in
            pixels of the frames as given. Memory then follows h x w, not H x W (plus the
            full-size frames and flow).

    Returns:
        (B, 2, H, W) float32 flow in pixels of the input resolution.
    """
    device = next(network.parameters()).device
    precision = resolve_precision(precision, device)
    height, width = image1.shape[-2:]
    size = downscaled_size(height, width, max_size)
    with torch.inference_mode():
        image1, image2 = (_shrink(image.to(device), size) for image in (image1, image2))
        with torch.autocast(device.type, dtype=_DTYPES.get(precision, torch.bfloat16), enabled=precision in _DTYPES):
            flow = network(image1, image2).float()
        return resize_flow(flow, (height, width))


def _shrink(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, *size), bilinear and antialiased; unchanged at its own size."""
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
