"""Flow geometry on pixel grids: backward warping with its validity mask, and occlusion masks
from forward-backward consistency.

Conventions (those of the whole zoo): images or features (B, C, H, W); flows (B, 2, H, W) in
pixels of their own grid, (u, v) = (+x right, +y down), the flow of a pixel ``x`` of frame 1 being
``p2 - x`` where ``p2`` is the point of frame 2 it shows; masks (B, 1, H, W) bool, True where
valid. Pixel centres sit at integer coordinates 0 .. W - 1 and 0 .. H - 1 (the
``align_corners=True`` convention of ``grid_sample``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["UNFLOW_ALPHA1", "UNFLOW_ALPHA2", "occlusion_mask", "sampling_grid", "sampling_inside", "warp"]

#: Sundaram et al.'s forward-backward consistency tolerance as UnFlow (Meister et al., AAAI 2018)
#: sets it: ``|w_f + w_b|^2 < alpha1 (|w_f|^2 + |w_b|^2) + alpha2`` (alpha2 in px^2).
UNFLOW_ALPHA1 = 0.01
UNFLOW_ALPHA2 = 0.5


def _check_flow(name: str, flow: torch.Tensor, batch: int | None = None, size: tuple[int, ...] | None = None) -> None:
    if not isinstance(flow, torch.Tensor) or flow.dim() != 4 or flow.shape[1] != 2 or not flow.is_floating_point():
        shape = tuple(flow.shape) if isinstance(flow, torch.Tensor) else type(flow).__name__
        raise ValueError(f"{name} must be a float (B, 2, H, W) flow in pixels, got {shape}")
    if size is not None and (flow.shape[0] != batch or tuple(flow.shape[2:]) != tuple(size)):
        raise ValueError(f"{name} must be ({batch}, 2, {size[0]}, {size[1]}) to match, got {tuple(flow.shape)}")


def sampling_grid(flow: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 2) grid in [-1, 1] for ``grid_sample(align_corners=True)`` at ``pixel + flow``.

    Pixel centre ``x`` maps to ``2 x / (W - 1) - 1``; a side of one pixel maps to -1.
    """
    _, _, height, width = flow.shape
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device)
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device)
    x = (xs.view(1, 1, width) + flow[:, 0]) * (2.0 / max(width - 1, 1)) - 1.0
    y = (ys.view(1, height, 1) + flow[:, 1]) * (2.0 / max(height - 1, 1)) - 1.0
    return torch.stack((x, y), dim=-1)


def sampling_inside(flow: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) bool: True where ``pixel + flow`` lies inside the grid, ``0 <= x <= W - 1`` and
    ``0 <= y <= H - 1`` (all of a bilinear sample's weight falls on pixels of the map)."""
    _, _, height, width = flow.shape
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, width)
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device).view(height, 1)
    x, y = xs + flow[:, 0], ys + flow[:, 1]
    return ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).unsqueeze(1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` sampled at ``pixel + flow`` (bilinear), and where that sample is valid.

    With ``image`` = frame 2 and ``flow`` = the flow of frame 1 to frame 2, the result is frame 2
    brought onto frame 1's grid: it equals frame 1 wherever the flow is right and the point is
    visible in both frames. Differentiable with respect to ``image`` and ``flow`` (the mask is not).

    Args:
        image: (B, C, H, W) any float dtype (images in [0, 1], features, or a flow to carry along).
        flow: (B, 2, H, W) pixels.

    Returns:
        ``(warped, valid)``: warped (B, C, H, W) in ``image``'s dtype, 0 where ``valid`` is False;
        valid (B, 1, H, W) bool, True where ``pixel + flow`` lies inside the image
        (:func:`sampling_inside`). Coordinates are computed in at least float32.

    Raises:
        ValueError: shapes that are not (B, C, H, W) and (B, 2, H, W) of one size.
    """
    if not isinstance(image, torch.Tensor) or image.dim() != 4:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (B, C, H, W) tensor, got {shape}")
    _check_flow("flow", flow, image.shape[0], image.shape[2:])
    dtype = torch.promote_types(torch.promote_types(flow.dtype, image.dtype), torch.float32)
    flow = flow.to(dtype)
    warped = F.grid_sample(image.to(dtype), sampling_grid(flow), mode="bilinear", padding_mode="zeros",
                           align_corners=True)
    valid = sampling_inside(flow)
    return (warped * valid).to(image.dtype), valid


def occlusion_mask(forward: torch.Tensor, backward: torch.Tensor, alpha1: float = UNFLOW_ALPHA1,
                   alpha2: float = UNFLOW_ALPHA2) -> torch.Tensor:
    """Pixels of frame 1 visible in frame 2, by forward-backward consistency (Sundaram et al., ECCV 2010).

    The backward flow is warped onto frame 1 by the forward flow, ``b(x) = backward(x + forward(x))``;
    a pixel is consistent when ``|forward + b|^2 < alpha1 (|forward|^2 + |b|^2) + alpha2`` (UnFlow's
    alpha1 = 0.01, alpha2 = 0.5 px^2 by default). A pixel whose forward flow leaves frame 2 has no
    correspondence and counts as occluded.

    Args:
        forward: (B, 2, H, W) flow of frame 1 to frame 2, px.
        backward: (B, 2, H, W) flow of frame 2 to frame 1, px.
        alpha1: relative tolerance (dimensionless), >= 0.
        alpha2: absolute tolerance, px^2, >= 0.

    Returns:
        (B, 1, H, W) bool, True where the pixel is visible in frame 2 (not occluded).
    """
    _check_flow("forward", forward)
    _check_flow("backward", backward, forward.shape[0], forward.shape[2:])
    if alpha1 < 0 or alpha2 < 0:
        raise ValueError(f"alpha1 and alpha2 must be >= 0, got {alpha1} and {alpha2}")
    with torch.no_grad():
        back, inside = warp(backward, forward)
        forward = forward.to(back.dtype)
        mismatch = (forward + back).square().sum(1, keepdim=True)
        scale = forward.square().sum(1, keepdim=True) + back.square().sum(1, keepdim=True)
        return (mismatch < alpha1 * scale + alpha2) & inside
