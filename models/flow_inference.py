"""Optical-flow inference for any flow network of the zoo: no autograd, reduced precision where the
device has it, and frames downscaled to a size budget with the flow scaled back.

A flow network here is any ``nn.Module`` whose ``forward(image1, image2)`` takes two (B, 3, H, W)
RGB batches in [0, 1] and returns their (B, 2, H, W) flow (u, v) in pixels (records with task
``optical-flow``, see :mod:`zoo.catalog.records`). :func:`estimate_flow` is what ``zoo flow``,
``zoo eval`` and ``zoo benchmark`` call; with ``max_size`` it estimates on downscaled frames and
scales the flow back (large frames in bounded memory). Precision: :mod:`zoo.models.precision`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.models.precision import autocast

__all__ = ["downscaled_size", "estimate_flow", "resize_flow"]


def resize_flow(flow: torch.Tensor, size: tuple[int, int], units: tuple[int, int] | None = None,
                align_corners: bool = False) -> torch.Tensor:
    """A flow field resampled to another resolution, its vectors rescaled to the new pixels.

    Args:
        flow: (B, 2, h, w) flow (u, v) in pixels of an image of ``units`` = (h_u, w_u) pixels
            (default (h, w): pixels of the flow's own grid; a network may predict flow on a grid coarser
            than the pixels it counts, as PWC-Net's flow 2 at a quarter of its input).
        size: (H, W), the target resolution.
        align_corners: of the bilinear resampling.

    Returns:
        (B, 2, H, W) flow in pixels of the (H, W) grid: bilinear, u multiplied by W / w_u and v
        by H / h_u.
    """
    height, width = size
    unit_h, unit_w = units or flow.shape[-2:]
    if tuple(flow.shape[-2:]) == (height, width) and (unit_h, unit_w) == (height, width):
        return flow
    scale = flow.new_tensor([width / unit_w, height / unit_h]).view(1, 2, 1, 1)
    return F.interpolate(flow, size=(height, width), mode="bilinear", align_corners=align_corners) * scale


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
        network: a flow network (see the module docstring), in eval mode.
        image1, image2: (B, 3, H, W) RGB in [0, 1] (sizes the network takes, e.g. any for PWC-Net);
            moved to the network's device.
        precision: one of :data:`zoo.models.precision.PRECISIONS`.
        max_size: when the longer side of the frames exceeds it, the network sees them at
            :func:`downscaled_size` (bilinear, antialiased: h x w), and its flow is resized to
            H x W (bilinear) with u multiplied by W / w and v by H / h, so that the flow is in
            pixels of the frames as given. Memory then follows h x w, not H x W (plus the
            full-size frames and flow).

    Returns:
        (B, 2, H, W) float32 flow in pixels of the input resolution.
    """
    device = next(network.parameters()).device
    height, width = image1.shape[-2:]
    size = downscaled_size(height, width, max_size)
    with torch.inference_mode():
        image1, image2 = (_shrink(image.to(device), size) for image in (image1, image2))
        with autocast(device, precision):
            flow = network(image1, image2).float()
        return resize_flow(flow, (height, width))


def _shrink(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, h, w) -> (B, C, *size), bilinear and antialiased; unchanged at its own size."""
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)
