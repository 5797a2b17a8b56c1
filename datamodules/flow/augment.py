"""Training augmentation for optical flow, as in FlowNet / PWC-Net training.

Geometry: one random affine map per pair, the same for both frames: random scaling
(``2 ** U(scale_range)``, with independent x/y stretch), optional small rotation, a random crop
inside the scaled image, horizontal (and optionally vertical) flips. Frames are resampled
bilinearly; the flow is resampled and its vectors are transformed by the map's linear part (so
scaling scales the flow, a horizontal flip negates u, a rotation rotates the vectors).

Sparse ground truth (KITTI, HD1K) is never interpolated: each valid pixel is moved to the output
pixel nearest to its transformed position, keeps its own (transformed) vector, and pixels that
no valid input pixel reaches are invalid. For dense ground truth a pixel is valid only if all
input pixels its bilinear sample touches are valid (so invalid values never leak in either).

Photometry (FlowNet's colour augmentation): brightness, contrast, saturation, per-channel gains,
gamma and additive Gaussian noise; with probability ``asymmetric_prob`` the two frames get
independent parameters.

Randomness comes from torch's global generator; ``FlowDataModule``'s training loader seeds it per
sample (:mod:`zoo.datamodules.resumable_loader`), so augmented batches are reproducible and resumable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["FlowAugmentation", "PhotometricJitter", "affine_augment"]


@dataclass(frozen=True)
class PhotometricJitter:
    """Ranges of the colour augmentation (all factors drawn uniformly)."""

    brightness: float = 0.3  # image * U(1 - b, 1 + b)
    contrast: float = 0.3  # mean + (image - mean) * U(1 - c, 1 + c)
    saturation: float = 0.3  # grey + (image - grey) * U(1 - s, 1 + s)
    channel_gain: float = 0.05  # per-channel factors U(1 - g, 1 + g)
    gamma: tuple[float, float] = (0.7, 1.5)  # image ** U(gamma)
    noise_std: float = 0.02  # additive N(0, U(0, noise_std))
    asymmetric_prob: float = 0.2

    def __call__(self, image1: Tensor, image2: Tensor) -> tuple[Tensor, Tensor]:
        """Jitter two (3, H, W) frames in [0, 1]; returns new frames in [0, 1]."""
        if _uniform(0, 1) < self.asymmetric_prob:
            return self._jitter(image1, self._draw()), self._jitter(image2, self._draw())
        params = self._draw()
        return self._jitter(image1, params), self._jitter(image2, params)

    def _draw(self) -> dict:
        return {
            "brightness": _uniform(1 - self.brightness, 1 + self.brightness),
            "contrast": _uniform(1 - self.contrast, 1 + self.contrast),
            "saturation": _uniform(1 - self.saturation, 1 + self.saturation),
            "gain": torch.empty(3, 1, 1).uniform_(1 - self.channel_gain, 1 + self.channel_gain),
            "gamma": _uniform(*self.gamma),
            "noise": _uniform(0, self.noise_std),
        }

    @staticmethod
    def _jitter(image: Tensor, p: dict) -> Tensor:
        image = image * p["brightness"] * p["gain"].to(image.device)
        grey = image.mean(dim=0, keepdim=True)
        image = grey + (image - grey) * p["saturation"]
        image = image.mean() + (image - image.mean()) * p["contrast"]
        image = image.clamp(0, 1) ** p["gamma"]
        image = image + p["noise"] * torch.randn_like(image)
        return image.clamp(0, 1)


class FlowAugmentation:
    """Random crop, scale, stretch, rotation, flips and colour jitter of a flow item dict.

    Args:
        crop_size: (H, W) of the output.
        scale_range: log2 of the scale factor is drawn from this range (clamped so the scaled
            frame still covers the crop).
        stretch: log2 of an extra x/y aspect factor is drawn from ``U(-stretch, stretch)``.
        rotation_deg: rotation drawn from ``U(-rotation_deg, rotation_deg)`` (0: none).
        hflip_prob, vflip_prob: flip probabilities.
        photometric: colour jitter, or None.
        sparse: the ground truth is sparse (KITTI, HD1K): move valid pixels, never interpolate.

    Items: ``image1``, ``image2`` (3, H, W), ``flow`` (2, H, W), ``valid`` (H, W); other keys pass through.
    """

    def __init__(
        self,
        crop_size: tuple[int, int],
        scale_range: tuple[float, float] = (-0.2, 0.6),
        stretch: float = 0.2,
        rotation_deg: float = 0.0,
        hflip_prob: float = 0.5,
        vflip_prob: float = 0.1,
        photometric: PhotometricJitter | None = PhotometricJitter(),
        sparse: bool = False,
    ) -> None:
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f"crop_size must be (H, W) of positive ints, got {crop_size!r}")
        if scale_range[0] > scale_range[1]:
            raise ValueError(f"scale_range must be (low, high), got {scale_range!r}")
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.scale_range = scale_range
        self.stretch = stretch
        self.rotation_deg = rotation_deg
        self.hflip_prob = hflip_prob
        self.vflip_prob = vflip_prob
        self.photometric = photometric
        self.sparse = sparse

    def __call__(self, item: dict) -> dict:
        image1, image2 = item["image1"], item["image2"]
        if self.photometric is not None:
            image1, image2 = self.photometric(image1, image2)
        matrix = self._random_affine(tuple(image1.shape[-2:]))
        out = dict(item)
        out["image1"], out["image2"], out["flow"], out["valid"] = affine_augment(
            image1, image2, item["flow"], item["valid"], matrix, self.crop_size, sparse=self.sparse
        )
        return out

    def _random_affine(self, size: tuple[int, int]) -> Tensor:
        """(2, 3) map from input pixel centres to output pixel centres."""
        height, width = size
        crop_h, crop_w = self.crop_size
        log_scale = _uniform(*self.scale_range)
        log_stretch = _uniform(-self.stretch, self.stretch)
        sx, sy = 2 ** (log_scale + log_stretch / 2), 2 ** (log_scale - log_stretch / 2)
        sx, sy = max(sx, crop_w / width), max(sy, crop_h / height)  # the scaled frame covers the crop
        angle = math.radians(_uniform(-self.rotation_deg, self.rotation_deg))
        cos, sin = math.cos(angle), math.sin(angle)
        rotation = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        linear = rotation @ torch.diag(torch.tensor([sx, sy], dtype=torch.float64))
        # In continuous coordinates u = pixel centre + 0.5: scale u -> D u, rotate about the scaled
        # frame's centre c, crop at offset o: p + 0.5 = R (D u - c) + c - o.
        centre = torch.tensor([width * sx / 2, height * sy / 2], dtype=torch.float64)
        offset = torch.tensor([_uniform(0, width * sx - crop_w), _uniform(0, height * sy - crop_h)], dtype=torch.float64)
        translation = 0.5 * linear.sum(dim=1) - rotation @ centre + centre - offset - 0.5
        matrix = torch.cat([linear, translation[:, None]], dim=1)
        for axis, prob, extent in ((0, self.hflip_prob, crop_w), (1, self.vflip_prob, crop_h)):
            if _uniform(0, 1) < prob:
                matrix[axis] = -matrix[axis]
                matrix[axis, 2] += extent - 1
        return matrix


def affine_augment(
    image1: Tensor, image2: Tensor, flow: Tensor, valid: Tensor, matrix: Tensor, size: tuple[int, int], sparse: bool = False
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Apply one affine map to a flow pair.

    Args:
        image1, image2: (3, H, W) frames; flow (2, H, W) px; valid (H, W) bool.
        matrix: (2, 3) map from input pixel centres (x right, y down) to output pixel centres.
        size: (h, w) of the output.
        sparse: move valid flow pixels (nearest output pixel) instead of interpolating.

    Returns:
        frames (3, h, w), flow (2, h, w) transformed by the map's linear part, valid (h, w).
    """
    matrix = matrix.to(torch.float64)
    linear = matrix[:, :2]
    grid = _sampling_grid(matrix, tuple(image1.shape[-2:]), size).to(image1.device)
    frames = F.grid_sample(torch.stack([image1, image2]).float(), grid.expand(2, -1, -1, -1), mode="bilinear",
                           padding_mode="zeros", align_corners=False)
    if sparse:
        new_flow, new_valid = _move_sparse(flow, valid, matrix, size)
    else:
        stacked = torch.cat([flow, valid[None].to(flow.dtype)])[None].float()
        sampled = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        new_valid = sampled[2] > 1 - 1e-4
        new_flow = torch.einsum("ij,jhw->ihw", linear.float().to(sampled.device), sampled[:2])
        new_flow = torch.where(new_valid, new_flow, 0)
    return frames[0], frames[1], new_flow, new_valid


def _sampling_grid(matrix: Tensor, in_size: tuple[int, int], out_size: tuple[int, int]) -> Tensor:
    """grid_sample grid (1, h, w, 2) holding, for each output pixel, its input position."""
    height, width = in_size
    inverse_linear = torch.linalg.inv(matrix[:, :2])
    inverse = torch.cat([inverse_linear, -(inverse_linear @ matrix[:, 2:])], dim=1)
    ys, xs = torch.meshgrid(torch.arange(out_size[0], dtype=torch.float64), torch.arange(out_size[1], dtype=torch.float64), indexing="ij")
    x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    # align_corners=False: the centre of pixel i is at (2 i + 1) / size - 1.
    return torch.stack([(2 * x + 1) / width - 1, (2 * y + 1) / height - 1], dim=-1)[None].float()


def _move_sparse(flow: Tensor, valid: Tensor, matrix: Tensor, size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Scatter each valid pixel to the output pixel nearest its transformed position."""
    matrix = matrix.to(flow.device)
    ys, xs = torch.nonzero(valid, as_tuple=True)
    points = torch.stack([xs, ys]).to(torch.float64)
    target = torch.round(matrix[:, :2] @ points + matrix[:, 2:]).long()
    vectors = (matrix[:, :2] @ flow[:, ys, xs].to(torch.float64)).to(flow.dtype)
    inside = (target[0] >= 0) & (target[0] < size[1]) & (target[1] >= 0) & (target[1] < size[0])
    target, vectors = target[:, inside], vectors[:, inside]
    new_flow = torch.zeros(2, *size, dtype=flow.dtype, device=flow.device)
    new_valid = torch.zeros(size, dtype=torch.bool, device=flow.device)
    new_flow[:, target[1], target[0]] = vectors
    new_valid[target[1], target[0]] = True
    return new_flow, new_valid


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()
