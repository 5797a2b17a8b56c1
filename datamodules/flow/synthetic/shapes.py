"""Random object silhouettes: anti-aliased coverage masks of unions of blobs, ellipses, rotated
rectangles and thin bars, sometimes with a hole (the v1 generator's shapes, bit for bit)."""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["shape_coverage"]


def shape_coverage(rng: np.random.Generator, side: int, device="cpu") -> torch.Tensor:
    """Anti-aliased coverage (1, side, side) in [0, 1] of a random shape filling most of the square."""
    coords = torch.arange(side, dtype=torch.float32, device=device) - (side - 1) / 2
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    radius = (side - 4) / 2
    coverage = torch.zeros(side, side, device=device)
    for part in range(rng.integers(1, 4)):
        size = radius * (1.0 if part == 0 else rng.uniform(0.3, 0.7))
        offset = (radius - size) * rng.uniform(-1, 1, 2)
        distance = _primitive_distance(rng, xs - offset[0], ys - offset[1], size)
        coverage = torch.maximum(coverage, (0.5 - distance).clamp_(0, 1))
    if rng.random() < 0.2:
        size = radius * rng.uniform(0.1, 0.3)
        offset = (radius - size) * rng.uniform(-0.5, 0.5, 2)
        hole = (0.5 - _primitive_distance(rng, xs - offset[0], ys - offset[1], size)).clamp_(0, 1)
        coverage = coverage * (1 - hole)
    return coverage[None]


def _primitive_distance(rng: np.random.Generator, xs: torch.Tensor, ys: torch.Tensor, size: float) -> torch.Tensor:
    """Approximate signed distance (px, negative inside) to a random blob, ellipse or rotated rectangle
    that fits in a disc of radius ``size`` around the origin."""
    angle = rng.uniform(0, math.pi)
    u = xs * math.cos(angle) + ys * math.sin(angle)
    v = -xs * math.sin(angle) + ys * math.cos(angle)
    kind = rng.integers(3)
    if kind == 0:  # star-shaped blob: radius modulated by a few harmonics
        theta = torch.atan2(v, u)
        boundary = torch.ones_like(theta)
        for k in range(2, 6):
            boundary += rng.uniform(0, 0.25 / k) * torch.cos(k * theta + rng.uniform(0, 2 * math.pi))
        boundary *= size / (1 + 0.25 * sum(1 / k for k in range(2, 6)))
        return torch.hypot(u, v) - boundary
    # One in four ellipses / rectangles is a thin bar (legs, poles, frames: thin structures).
    a, b = size, size * (rng.uniform(0.04, 0.15) if rng.random() < 0.25 else rng.uniform(0.25, 1.0))
    if kind == 1:  # ellipse
        return (torch.sqrt((u / a) ** 2 + (v / b) ** 2) - 1) * b
    a, b = a / math.sqrt(2), b / math.sqrt(2)  # rectangle whose corners stay inside the disc
    return torch.maximum(u.abs() - a, v.abs() - b)
