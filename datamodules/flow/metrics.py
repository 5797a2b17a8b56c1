"""Optical-flow metrics as torchmetrics ``Metric`` subclasses (sum states, so DDP gives the same numbers).

All metrics are updated with ``update(pred, target, valid=None)``: ``pred`` and ``target`` are
(B, 2, H, W) flow in pixels, ``valid`` (B, H, W) bool (``None``: every pixel). Invalid pixels are
ignored entirely (their values may be NaN).

A ground truth finer than the prediction is given as ``target`` (B, K, 2, H, W): K values per
predicted pixel, e.g. Spring's four per 2x2 block at twice the frame resolution. As the Spring
benchmark scores a prediction (cv-stuttgart/springwebsite, ``evaluation.py``, ``get_errors_flow``),
the pixel's end-point error is the smallest of its K errors and, for :class:`FlAll`, the flow's
length the largest of the K lengths. K = 1 is the plain (B, 2, H, W) case. The metrics built on the
end-point error take such targets; :class:`AngularError` does not.

Two averagings, as the benchmarks define them (``average=`` argument):

- ``"pixel"`` (default): one mean over every valid pixel of every image seen. This is the
  Sintel and Middlebury EPE, and the KITTI 2015 Fl-all (the devkit sums outliers and valid
  pixels over the whole set before dividing).
- ``"image"``: the mean over each image's valid pixels, then the mean over images (images
  without valid pixels are skipped). This is the per-image EPE that KITTI training results are
  usually reported with (e.g. RAFT's and PWC-Net's "KITTI-15 train EPE"), and ptlflow's WAUC
  (the default of :class:`WeightedAreaUnderCurve`; the Spring benchmark itself pools its pixels).

Units: :class:`EndPointError` in pixels; :class:`AngularError` in degrees (Middlebury's average
angular error, AAE: the angle between the space-time vectors ``(u, v, 1)`` of the two flows, Barron
et al. 1994, as Baker et al. IJCV 2011 define it for the Middlebury benchmark); :class:`FlAll` and
:class:`OutlierRate` (Spring's "1px": the share of valid pixels whose EPE exceeds the threshold) in
percent; :class:`PixelAccuracy` as a
fraction in [0, 1]; :class:`WeightedAreaUnderCurve` (WAUC, from the Spring benchmark) in percent,
[0, 100], higher is better: with end-point errors ``e_p`` of the ``N`` valid pixels of an image,
thresholds ``delta_i = i / 20`` px and weights ``w_i = 1 - (i - 1) / 100`` (i = 1 .. 100, see
:data:`WAUC_THRESHOLDS` and :data:`WAUC_WEIGHTS`),

    WAUC = 100 * sum_i w_i * #{p : e_p <= delta_i} / (N * sum_i w_i),

the accuracy curve from 0.05 to 5 px weighted toward small errors.

Occluded and non-occluded pixels (Sintel's "unmatched" and "matched" regions) are measured by
updating a metric with the valid mask restricted to them, :func:`occlusion_split`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = [
    "WAUC_THRESHOLDS",
    "WAUC_WEIGHTS",
    "AngularError",
    "EndPointError",
    "FlAll",
    "OutlierRate",
    "PixelAccuracy",
    "WeightedAreaUnderCurve",
    "end_point_error",
    "occlusion_split",
]

Average = Literal["pixel", "image"]

_WAUC_STEPS = torch.arange(1, 101, dtype=torch.float64)  # i = 1 .. 100
#: WAUC's error thresholds delta_i = i / 20 px: 0.05, 0.10, ..., 5 px, float64 (100,).
WAUC_THRESHOLDS = _WAUC_STEPS / 20
#: WAUC's weights w_i = 1 - (i - 1) / 100: 1, 0.99, ..., 0.01, float64 (100,).
WAUC_WEIGHTS = 1 - (_WAUC_STEPS - 1) / 100


def end_point_error(pred: Tensor, target: Tensor) -> Tensor:
    """Euclidean distance between two flows (B, 2, H, W) -> (B, H, W), in pixels; for a ``target``
    of K values per pixel (B, K, 2, H, W), the smallest of the K distances."""
    if target.ndim == 5:
        return torch.linalg.vector_norm(pred[:, None] - target, dim=2).amin(dim=1)
    return torch.linalg.vector_norm(pred - target, dim=1)


def flow_length(target: Tensor) -> Tensor:
    """|target| (B, 2, H, W) -> (B, H, W) px; for K values per pixel (B, K, 2, H, W), the largest length."""
    if target.ndim == 5:
        return torch.linalg.vector_norm(target, dim=2).amax(dim=1)
    return torch.linalg.vector_norm(target, dim=1)


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


class AngularError(_ValidPixelMean):
    """Average angular error (degrees) over valid pixels: at each pixel
    ``arccos((1 + u u_gt + v v_gt) / (sqrt(1 + u^2 + v^2) sqrt(1 + u_gt^2 + v_gt^2)))``, computed in float64."""

    is_differentiable = False
    higher_is_better = False

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        if target.ndim != 4:
            raise ValueError(f"AngularError takes one ground-truth value per pixel (B, 2, H, W), got {tuple(target.shape)}")
        pred, target = pred.double(), target.double()
        dot = 1 + (pred * target).sum(dim=1)
        norms = torch.sqrt(1 + (pred**2).sum(dim=1)) * torch.sqrt(1 + (target**2).sum(dim=1))
        return torch.rad2deg(torch.arccos(torch.clamp(dot / norms, -1.0, 1.0)))


class FlAll(_ValidPixelMean):
    """KITTI Fl-all (Spring's Fl): percentage of valid pixels whose EPE exceeds both 3 px and 5 % of |target|."""

    is_differentiable = False
    higher_is_better = False
    scale = 100.0

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        epe = end_point_error(pred, target)
        return ((epe > 3.0) & (epe > 0.05 * flow_length(target))).to(pred.dtype)


class OutlierRate(_ValidPixelMean):
    """Percentage of valid pixels whose EPE exceeds ``threshold`` px (Spring's "1px" at 1)."""

    is_differentiable = False
    higher_is_better = False
    scale = 100.0

    def __init__(self, threshold: float = 1.0, average: Average = "pixel", **kwargs) -> None:
        super().__init__(average=average, **kwargs)
        if not threshold > 0:
            raise ValueError(f"threshold must be a positive number of pixels, got {threshold!r}")
        self.threshold = float(threshold)

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        return (end_point_error(pred, target) > self.threshold).to(pred.dtype)


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


class WeightedAreaUnderCurve(_ValidPixelMean):
    """WAUC (%, [0, 100], higher is better): the weighted share of valid pixels within 0.05 .. 5 px.

    Per pixel, ``100 * sum_i w_i [e <= delta_i] / sum_i w_i`` (module docstring); its mean over
    an image's valid pixels is the image's WAUC. The default ``average="image"`` is the mean of
    the per-image values, as ptlflow reports it; images without valid pixels are skipped
    (ptlflow counts them as 0). ``average="pixel"`` pools the pixels of all images, as the Spring
    benchmark's ``getWAUC`` does over every pixel it scores.
    """

    is_differentiable = False
    higher_is_better = True
    scale = 100.0

    def __init__(self, average: Average = "image", **kwargs) -> None:
        super().__init__(average=average, **kwargs)

    def per_pixel(self, pred: Tensor, target: Tensor) -> Tensor:
        """float64 (B, H, W) in [0, 1]: the weighted share of thresholds the pixel's error is within."""
        epe = end_point_error(pred, target)
        # how many thresholds lie strictly below e: the pixel counts for every later one (e <= delta_i)
        below = torch.searchsorted(WAUC_THRESHOLDS.to(epe.device, epe.dtype), epe.contiguous(), side="left")
        return _WAUC_SHARE_BY_THRESHOLDS_BELOW.to(epe.device)[below]


def _wauc_share_by_thresholds_below() -> Tensor:
    """float64 (101,): entry k = sum_{i > k} w_i / sum_i w_i, the share of a pixel with k thresholds below its error."""
    tail = WAUC_WEIGHTS.flip(0).cumsum(0).flip(0)
    return torch.cat([tail, tail.new_zeros(1)]) / WAUC_WEIGHTS.sum()


_WAUC_SHARE_BY_THRESHOLDS_BELOW = _wauc_share_by_thresholds_below()


def occlusion_split(valid: Tensor | None, occluded: Tensor) -> tuple[Tensor, Tensor]:
    """The valid pixels split by an occlusion map: ``(valid & occluded, valid & ~occluded)``.

    Args:
        valid: (B, H, W) bool, or None for every pixel.
        occluded: (B, H, W) bool, True where a pixel of frame 1 is occluded in frame 2.

    Returns:
        Two (B, H, W) bool masks, to pass as ``valid`` to a metric's ``update``.
    """
    if occluded.ndim != 3 or occluded.dtype != torch.bool:
        raise ValueError(f"occluded must be a (B, H, W) bool mask, got {occluded.dtype} {tuple(occluded.shape)}")
    if valid is None:
        valid = torch.ones_like(occluded)
    elif valid.shape != occluded.shape:
        raise ValueError(f"valid must have the shape of occluded {tuple(occluded.shape)}, got {tuple(valid.shape)}")
    valid = valid.bool()
    return valid & occluded, valid & ~occluded


def _check_inputs(pred: Tensor, target: Tensor, valid: Tensor | None) -> Tensor:
    """Validate shapes; returns ``valid`` as a bool (B, H, W) tensor."""
    candidates = target.ndim == 5 and target.shape[0] == pred.shape[0] and target.shape[2:] == pred.shape[1:]
    if pred.ndim != 4 or pred.shape[1] != 2 or not (pred.shape == target.shape or candidates):
        raise ValueError(f"pred must be a (B, 2, H, W) flow and target (B, 2, H, W) or (B, K, 2, H, W), "
                         f"got {tuple(pred.shape)} and {tuple(target.shape)}")
    expected = (pred.shape[0], *pred.shape[2:])
    if valid is None:
        return torch.ones(expected, dtype=torch.bool, device=pred.device)
    if tuple(valid.shape) != expected:
        raise ValueError(f"valid must be (B, H, W) = {expected}, got {tuple(valid.shape)}")
    return valid.bool()
