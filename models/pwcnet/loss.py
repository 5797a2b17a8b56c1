"""PWC-Net's training losses: the multi-scale loss of pre-training and the robust fine-tuning loss.

As in the paper (Sun et al., CVPR 2018, eq. 3 and 4) and the official Caffe training
(``Caffe/model/train.prototxt`` of NVlabs/PWC-Net):

* The ground truth is multiplied by 1/20 (the network predicts flow / 20) and downsampled to the
  resolution of every level 2..6 with FlowNet's ``Downsample`` layer.
* Level l contributes ``alpha_l * sum over pixels of rho(flow_l - gt_l)``, with
  ``alpha = 0.32, 0.08, 0.02, 0.01, 0.005`` for levels 6..2 and
  ``rho(e) = ||e||_2`` (pre-training, Caffe ``L1Loss`` with ``l2_per_location``) or
  ``rho(e) = (|e_u| + |e_v| + epsilon) ** q`` with ``epsilon = 0.01, q = 0.4`` (fine-tuning,
  Caffe ``LpqLoss`` with p = 1).
* Caffe's losses sum over pixels and divide by the batch size only; so do we. Pixels without
  ground truth contribute nothing (Caffe's ``LpqLoss`` zeroes their error, leaving a constant
  ``epsilon ** q`` each, which has no gradient).
* The weight decay term ``gamma * |theta|^2`` of the paper is the optimiser's ``weight_decay``
  (see :mod:`zoo.models.pwcnet.module`), not part of these functions.

Downsampling the ground truth: FlowNet's ``Downsample`` (used by the official PWC-Net training) is
an *average*, not point sampling. Output pixel ``i`` of a map of size ``n`` taken from size ``N``
sits at input position ``x_i = i (N - 1) / (n - 1)`` (corners aligned) and averages the input
with tent weights ``max(0, 1 - |x - x_i| / s)``, ``s = (N - 1) / (n - 1)`` (about ``2^l``),
separately in y and x. Invalid pixels (Caffe: NaN) are left out of the average, and an output
pixel is invalid when more than half of its weight falls on invalid input. We reproduce exactly
that (:func:`downsample_flow`); re-implementations that use bilinear ``interpolate`` or average
pooling give slightly different targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from zoo.models.pwcnet.cost_volume import cost_volume

__all__ = [
    "LEVEL_WEIGHTS",
    "ROBUST_EPSILON",
    "ROBUST_Q",
    "displacement_targets",
    "downsample_flow",
    "feature_matching_loss",
    "multiscale_loss",
    "tent_weights",
]

#: Loss weights alpha of levels 2, 3, 4, 5, 6 (the order of ``PWCNet.forward_levels``).
LEVEL_WEIGHTS = (0.005, 0.01, 0.02, 0.08, 0.32)
#: epsilon and q of the robust loss (|e|_1 + epsilon) ** q.
ROBUST_EPSILON = 0.01
ROBUST_Q = 0.4


def tent_weights(source: int, target: int, *, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> Tensor:
    """The (target, source) matrix of FlowNet's ``Downsample`` along one axis (rows not normalised).

    Row ``i`` holds ``max(0, 1 - |x - x_i| / s)`` for ``x = 0 .. source - 1`` with
    ``x_i = i * s`` and ``s = (source - 1) / (target - 1)``. For ``target == 1`` (where Caffe
    would divide by zero) the single output sits at the centre and averages the whole axis with
    a tent of half-width ``source``.
    """
    if source < 1 or target < 1 or target > source:
        raise ValueError(f"tent_weights: need 1 <= target <= source, got source={source}, target={target}")
    x = torch.arange(source, dtype=torch.float64, device=device)
    if target == 1:
        centres = torch.tensor([(source - 1) / 2], dtype=torch.float64, device=device)
        scale = float(source)
    else:
        scale = (source - 1) / (target - 1)
        centres = torch.arange(target, dtype=torch.float64, device=device) * scale
    weights = (1 - (x[None, :] - centres[:, None]).abs() / scale).clamp_(min=0)
    return weights.to(dtype)


def downsample_flow(flow: Tensor, valid: Tensor | None, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Ground truth at a coarser level, as FlowNet's ``Downsample`` layer computes it.

    The values are averaged, not rescaled: pass flow already in the units of the level's
    prediction (for PWC-Net, pixels of the input resolution / 20).

    Args:
        flow: (B, 2, H, W) ground truth.
        valid: (B, H, W) bool mask of pixels with ground truth, or None (all valid).
        size: (h, w) of the level, h <= H, w <= W.

    Returns:
        ``(flow (B, 2, h, w), valid (B, h, w) bool)``; invalid output pixels hold 0.
    """
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(f"downsample_flow: flow must be (B, 2, H, W), got {tuple(flow.shape)}")
    height, width = flow.shape[-2:]
    rows = tent_weights(height, size[0], dtype=flow.dtype, device=flow.device)  # (h, H)
    cols = tent_weights(width, size[1], dtype=flow.dtype, device=flow.device)   # (w, W)

    def blur(x: Tensor) -> Tensor:  # (..., H, W) -> (..., h, w)
        return rows @ x @ cols.T

    if valid is None:
        return blur(flow) / blur(flow.new_ones(height, width)), flow.new_ones(
            flow.shape[0], *size, dtype=torch.bool)
    if valid.shape != (flow.shape[0], height, width):
        raise ValueError(f"downsample_flow: valid must be (B, H, W) = {(flow.shape[0], height, width)}, "
                         f"got {tuple(valid.shape)}")
    mask = valid.to(flow.dtype)
    valid_weight = blur(mask)
    total_weight = blur(flow.new_ones(height, width))
    values = blur(torch.where(valid[:, None], flow, 0))
    coarse_valid = valid_weight >= 0.5 * total_weight
    coarse = torch.where(coarse_valid[:, None], values / valid_weight.clamp(min=1e-12)[:, None], 0)
    return coarse, coarse_valid


def _pixel_penalty(error: Tensor, robust: bool, epsilon: float, q: float) -> Tensor:
    """(B, 2, h, w) error -> (B, h, w) penalty: L2 norm, or (L1 norm + epsilon) ** q."""
    if robust:
        return (error.abs().sum(dim=1) + epsilon) ** q
    # sqrt of a sum of squares, written so that its gradient at exactly zero error is 0, not NaN.
    squared = error.square().sum(dim=1)
    return torch.where(squared > 0, squared.clamp(min=1e-20).sqrt(), 0)


def multiscale_loss(flows: Sequence[Tensor], target: Tensor, valid: Tensor | None = None, *,
                    weights: Sequence[float] = LEVEL_WEIGHTS, flow_scale: float = 20.0,
                    robust: bool = False, epsilon: float = ROBUST_EPSILON,
                    q: float = ROBUST_Q) -> tuple[Tensor, list[Tensor]]:
    """The paper's multi-scale loss (or its robust variant) of one batch.

    Args:
        flows: predictions of levels 2..6 (``PWCNet.forward_levels``), level l (B, 2, H/2^l, W/2^l)
            in units of 1/``flow_scale`` pixel.
        target: (B, 2, H, W) ground-truth flow in pixels.
        valid: (B, H, W) bool mask of pixels with ground truth (sparse KITTI), or None.
        weights: alpha of each entry of ``flows``.
        flow_scale: the network's flow unit (20: the ground truth is multiplied by 1/20).
        robust: use (|e|_1 + epsilon) ** q instead of |e|_2.

    Returns:
        ``(total, per_level)``: the weighted sum, and each level's unweighted loss, all scalars
        (sums over valid pixels divided by the batch size). Computed in float32 at least.
    """
    if len(flows) != len(weights):
        raise ValueError(f"multiscale_loss: {len(flows)} flow levels but {len(weights)} weights")
    if target.dim() != 4 or target.shape[1] != 2:
        raise ValueError(f"multiscale_loss: target must be (B, 2, H, W) flow, got {tuple(target.shape)}")
    dtype = torch.promote_types(target.dtype, torch.float32)
    scaled = target.to(dtype) / flow_scale
    per_level = []
    for flow in flows:
        if flow.shape[0] != target.shape[0] or flow.shape[1] != 2:
            raise ValueError(f"multiscale_loss: prediction {tuple(flow.shape)} does not fit target {tuple(target.shape)}")
        gt, gt_valid = downsample_flow(scaled, valid, tuple(flow.shape[-2:]))
        penalty = _pixel_penalty(flow.to(dtype) - gt, robust, epsilon, q)
        per_level.append(torch.where(gt_valid, penalty, 0).sum() / target.shape[0])
    total = sum(w * loss for w, loss in zip(weights, per_level))
    return total, per_level


def displacement_targets(flow: Tensor, radius: int) -> tuple[Tensor, Tensor]:
    """Soft one-hot targets over the cost volume's ``(2 radius + 1)^2`` displacements.

    Args:
        flow: (B, 2, h, w) true displacement in pixels of the level.
        radius: the cost volume's ``max_displacement``.

    Returns:
        ``(target (B, D*D, h, w), inside (B, h, w) bool)``: the bilinear weights of the four integer
        displacements around ``flow`` (dy-major channel order, as :func:`zoo.models.pwcnet.cost_volume.cost_volume`),
        and where all four lie inside the search window (elsewhere the target is 0).
    """
    size = 2 * radius + 1
    x0, y0 = flow[:, 0].floor(), flow[:, 1].floor()
    fx, fy = flow[:, 0] - x0, flow[:, 1] - y0
    inside = (x0 >= -radius) & (x0 < radius) & (y0 >= -radius) & (y0 < radius)
    target = flow.new_zeros(flow.shape[0], size * size, *flow.shape[-2:])
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            index = ((y0 + dy + radius) * size + (x0 + dx + radius)).long().clamp_(0, size * size - 1)
            target.scatter_add_(1, index[:, None], (wy * wx * inside)[:, None])
    return target, inside


def feature_matching_loss(pyramid1: Sequence[Tensor], pyramid2: Sequence[Tensor], target: Tensor,
                          valid: Tensor | None = None, levels: Sequence[int] = (2, 3, 4, 5, 6), radius: int = 4,
                          temperature: float = 0.07) -> Tensor:
    """Cross-entropy of the true displacement among the cost volume's candidates (not in the paper).

    An auxiliary loss on the feature pyramid alone: at every level, the cosine similarities of a
    frame-1 feature with the ``(2 radius + 1)^2`` frame-2 features around it (the unwarped cost
    volume of unit-length features), divided by ``temperature``, are a softmax over displacements
    whose target is the ground truth bilinearly split over its four integer neighbours. Pixels whose
    motion leaves the window, or without ground truth, are skipped. From-scratch training otherwise sits for thousands of
    iterations at the zero-flow solution: freshly initialised features barely distinguish
    displacements (the true one is the cost volume's maximum for ~2 % of pixels), so the estimators
    have nothing to read; this term makes the features discriminative from the first steps.

    Args:
        pyramid1, pyramid2: features of levels 1..6 of both frames (``FeaturePyramid`` output).
        target: (B, 2, H, W) ground-truth flow in pixels of the input resolution.
        valid: (B, H, W) bool mask of pixels with ground truth, or None (all valid).
        levels: pyramid levels to supervise.
        radius: search radius in pixels of each level.
        temperature: softmax temperature of the cosine similarities.

    Returns:
        Scalar: the mean over levels of the mean cross-entropy (nats) over pixels inside the window.
    """
    losses = []
    for level in levels:
        features1 = torch.nn.functional.normalize(pyramid1[level - 1].float(), dim=1)
        features2 = torch.nn.functional.normalize(pyramid2[level - 1].float(), dim=1)
        with torch.autocast(features1.device.type, enabled=False):  # cosines near 1 need float32
            similarity = cost_volume(features1, features2, radius) * features1.shape[1]  # undo the 1/C
        flow, flow_valid = downsample_flow(target.float() / 2 ** level, valid, tuple(similarity.shape[-2:]))
        weights, inside = displacement_targets(flow, radius)
        inside &= flow_valid
        cross_entropy = -(weights * torch.log_softmax(similarity / temperature, dim=1)).sum(dim=1)
        losses.append(cross_entropy[inside].mean() if inside.any() else cross_entropy.sum() * 0)
    return torch.stack(losses).mean()
