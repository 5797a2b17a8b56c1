"""Optical-flow metrics as torchmetrics ``Metric`` subclasses (sum states, so DDP gives the same numbers).

All metrics are updated with ``update(pred, target, valid=None)``: ``pred`` and ``target`` are
(B, 2, H, W) flow in pixels, ``valid`` (B, H, W) bool (``None``: every pixel). Invalid pixels are
ignored entirely (their values may be NaN).

Two averagings, as the benchmarks define them (``average=`` argument):

- ``"pixel"`` (default): one mean over every valid pixel of every image seen. This is the
  Sintel and Middlebury EPE, and the KITTI 2015 Fl-all (the devkit sums outliers and valid
  pixels over the whole set before dividing).
- ``"image"``: the mean over each image's valid pixels, then the mean over images (images
  without valid pixels are skipped). This is the per-image EPE that KITTI training results are
  usually reported with (e.g. RAFT's and PWC-Net's "KITTI-15 train EPE").

Units: :class:`EndPointError` in pixels; :class:`FlAll` in percent; :class:`PixelAccuracy` as a
fraction in [0, 1].
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = ["EndPointError", "FlAll", "PixelAccuracy", "end_point_error"]

Average = Literal["pixel", "image"]


def end_point_error(pred: Tensor, target: Tensor) -> Tensor:
    """Euclidean distance between two flows (B, 2, H, W) -> (B, H, W), in pixels."""
    return torch.linalg.vector_norm(pred - target, dim=1)


class _ValidPixelMean(Metric):
    """The mean of a per-pixel quantity over valid pixels, averaged per pixel or per image."""

    full_state_update = False
    scale = 1.0  # multiplies the mean (100 for percentages)

    def __init__(self, average: Average = "pixel", **kwargs) -> None:
        super().__init__(**kwargs)
        if average not in ("pixel", "image"):
            raise ValueError(f"average must be 'pixel' or 'image', got {average!r}")
        self.average = average
        for name in ("pixel_sum", "pixel_count", "image_sum", "image_count"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        """The quantity at each pixel: (B, 2, H, W) flows -> (B, H, W)."""
        raise NotImplementedError

    def update(self, pred: Tensor, target: Tensor, valid: Tensor | None = None) -> None:
        valid = _check_inputs(pred, target, valid)
        values = torch.where(valid, self.per_pixel(pred.detach(), target), 0).double()
        sums = values.sum(dim=(1, 2))
        counts = valid.sum(dim=(1, 2)).double()
        self.pixel_sum += sums.sum()
        self.pixel_count += counts.sum()
        seen = counts > 0
        self.image_sum += (sums[seen] / counts[seen]).sum()
        self.image_count += seen.sum()

    def compute(self) -> Tensor:
        if self.average == "pixel":
            total, count = self.pixel_sum, self.pixel_count
        else:
            total, count = self.image_sum, self.image_count
        if count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=total.device)
        return self.scale * total / count


class EndPointError(_ValidPixelMean):
    """Average end-point error (px) over valid pixels."""

    is_differentiable = False
    higher_is_better = False

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        return end_point_error(pred, target)


class FlAll(_ValidPixelMean):
    """KITTI Fl-all: percentage of valid pixels whose EPE exceeds both 3 px and 5 % of |target|."""

    is_differentiable = False
    higher_is_better = False
    scale = 100.0

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        epe = end_point_error(pred, target)
        magnitude = torch.linalg.vector_norm(target, dim=1)
        return ((epe > 3.0) & (epe > 0.05 * magnitude)).to(pred.dtype)


class PixelAccuracy(_ValidPixelMean):
    """Fraction of valid pixels whose EPE is below ``threshold`` px (the "1px / 3px / 5px" accuracies)."""

    is_differentiable = False
    higher_is_better = True

    def __init__(self, threshold: float, average: Average = "pixel", **kwargs) -> None:
        super().__init__(average=average, **kwargs)
        if not threshold > 0:
            raise ValueError(f"threshold must be a positive number of pixels, got {threshold!r}")
        self.threshold = float(threshold)

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        return (end_point_error(pred, target) < self.threshold).to(pred.dtype)


def _check_inputs(pred: Tensor, target: Tensor, valid: Tensor | None) -> Tensor:
    """Validate shapes; returns ``valid`` as a bool (B, H, W) tensor."""
    if pred.ndim != 4 or pred.shape[1] != 2 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (B, 2, H, W) flows, got {tuple(pred.shape)} and {tuple(target.shape)}")
    expected = (pred.shape[0], *pred.shape[2:])
    if valid is None:
        return torch.ones(expected, dtype=torch.bool, device=pred.device)
    if tuple(valid.shape) != expected:
        raise ValueError(f"valid must be (B, H, W) = {expected}, got {tuple(valid.shape)}")
    return valid.bool()
