"""Procedurally rendered image pairs with exact optical flow, in the spirit of FlyingChairs and AutoFlow.

Each pair is a stack of layers drawn back to front: one textured background filling the frame
and 4 to 10 textured foreground objects of random shapes (unions of blobs, ellipses, rotated
rectangles and thin bars, sometimes with holes). Each layer moves by its own affine motion (translation,
rotation, isotropic scaling, a little shear) between the frames and keeps its depth order, so
objects occlude the background and each other, and disocclude what they leave.

Rendering is inverse mapping: frame 1 samples each layer's texture at the canvas position of the
pixel, frame 2 samples it at the position the pixel's point came from, ``A^-1 x``. The forward
flow of a frame-1 pixel ``x`` owned by a layer with motion ``A`` is therefore exactly
``A(x) - x``, for every pixel of frame 1 (also those occluded in frame 2). A pixel belongs to
the front-most layer whose coverage exceeds one half there.

Textures (``_texture``) are palette-mapped fractal noise: 3 to 6 octaves of bicubic value noise
whose coarsest cell is 12-120 px and whose spectral slope is random, sharpened by a random
contrast (smooth gradients up to hard-edged patches), coloured by a 2-5 colour palette, with
optional fine grain (2 px cells) and oriented stripes; so edges of all scales and orientations,
and flat regions, occur as in photographs of man-made scenes.

Motion statistics (pixels at 384x512; all lengths scale with ``sqrt(H * W / (384 * 512))``):

- background: translation length log-normal, median 5 px, log-sd 1.0 (capped at 120 px);
  rotation N(0, 1.5 deg); scale exp N(0, 0.03);
- objects: translation length log-normal, median 9 px, log-sd 1.15 (capped at 250 px);
  rotation N(0, 10 deg) capped at 40 deg; scale exp N(0, 0.08) in [0.7, 1.4]; shear N(0, 0.02).

Rotation and scaling add motion that grows with the distance from a layer's centre. Measured
over all pixels of 200 pairs at 384x512 (``benchmarks/synthetic_flow.py``): mean 12.3 px,
median 9.1 px, 94 % of pixels under 30 px, 1.2 % in 50-100 px and 0.26 % past 100 px (max ~260 px),
the shape of FlyingChairs' histogram (most motion under ~30 px, a tail past 100 px). Most motion
is small because the fine pyramid levels of PWC-Net learn from it; the heavy tail teaches the
coarse levels the large displacements that KITTI and Sintel need.

Photometric changes (``photometric=True``): each layer's brightness changes by a few percent
between the frames, frame 2 gets a global gain and offset, both frames may share a slight
Gaussian blur (defocus), and each frame gets its own sensor noise. With ``photometric=False``
frame 2 is exactly frame 1's layers moved.

Every pair is a pure function of ``(seed, index)``, bit for bit, whatever torch's thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["SyntheticFlow", "SyntheticPair", "MotionStatistics"]

_REFERENCE_AREA = 384 * 512


@dataclass(frozen=True)
class MotionStatistics:
    """Parameters of the layers' random affine motions (lengths in px at 384x512)."""

    background_median: float = 5.0
    background_log_sd: float = 1.0
    background_cap: float = 120.0
    background_rotation_deg: float = 1.5
    background_log_scale_sd: float = 0.03
    object_median: float = 9.0
    object_log_sd: float = 1.15
    object_cap: float = 250.0
    object_rotation_deg: float = 10.0
    object_rotation_cap_deg: float = 40.0
    object_log_scale_sd: float = 0.08
    object_shear_sd: float = 0.02


@dataclass
class SyntheticPair:
    """One rendered pair: images (3, H, W) in [0, 1], flow (2, H, W) px, and the front-most layer
    id of every pixel in each frame, ``owner1`` / ``owner2`` (H, W) int64 (0 = background)."""

    image1: torch.Tensor
    image2: torch.Tensor
    flow: torch.Tensor
    owner1: torch.Tensor
    owner2: torch.Tensor


@dataclass
class _Layer:
    canvas: torch.Tensor  # (4, h, w): premultiplied RGB and coverage
    to_canvas: np.ndarray  # (2, 3) affine: frame-1 pixel -> canvas pixel
    motion: np.ndarray  # (2, 3) affine: frame-1 pixel -> frame-2 pixel
    background: bool


class SyntheticFlow(Dataset):
    """Procedural optical-flow pairs; no download.

    Args:
        size: (H, W) of the images.
        length: number of pairs (indices ``0 .. length - 1``).
        seed: pairs are a pure function of ``(seed, index)``; use different seeds for training
            and validation.
        photometric: brightness changes between frames, blur and noise (see the module doc).
        motion: the motion statistics.
        transform: applied to each item dict (e.g. :class:`datamodules.flow_augment.FlowAugmentation`).

    Items are dicts: ``image1``, ``image2`` float32 (3, H, W) in [0, 1], ``flow`` float32
    (2, H, W) px, ``valid`` bool (H, W) (all True: the flow is known everywhere) and ``meta``.
    """

    name = "synthetic"
    sparse = False

    def __init__(
        self,
        size: tuple[int, int] = (384, 512),
        length: int = 22232,
        seed: int = 0,
        photometric: bool = True,
        motion: MotionStatistics = MotionStatistics(),
        transform: Callable[[dict], dict] | None = None,
    ) -> None:
        height, width = (int(s) for s in size)
        if height < 8 or width < 8:
            raise ValueError(f"SyntheticFlow size must be at least 8x8 pixels, got {size}")
        if length < 1:
            raise ValueError(f"SyntheticFlow length must be positive, got {length}")
        self.size = (height, width)
        self.length = int(length)
        self.seed = int(seed)
        self.photometric = photometric
        self.motion = motion
        self.transform = transform
        self._scale = math.sqrt(height * width / _REFERENCE_AREA)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        pair = self.render(index)
        item = {
            "image1": pair.image1,
            "image2": pair.image2,
            "flow": pair.flow,
            "valid": torch.ones(self.size, dtype=torch.bool),
            "meta": {"dataset": self.name, "sequence": f"seed{self.seed}", "frame": int(index), "paths": ("", "", "")},
        }
        return self.transform(item) if self.transform is not None else item

    def render(self, index: int) -> SyntheticPair:
        """Render pair ``index`` with its per-pixel layer ownership."""
        if not 0 <= index < self.length:
            raise IndexError(f"SyntheticFlow index {index} out of range [0, {self.length})")
        rng = np.random.default_rng([self.seed, int(index)])
        layers = [self._background(rng)]
        layers += [self._object(rng) for _ in range(rng.integers(4, 11))]
        height, width = self.size
        flow = torch.zeros(2, height, width)
        image1, owner1 = self._composite(layers, frame=0, flow=flow)
        image2, owner2 = self._composite(layers, frame=1, gains=self._layer_gains(rng, len(layers)))
        if self.photometric:
            image1, image2 = _degrade(rng, image1, image2)
        return SyntheticPair(image1.clamp_(0, 1), image2.clamp_(0, 1), flow, owner1, owner2)

    # --- scene description -------------------------------------------------------------------

    def _background(self, rng: np.random.Generator) -> _Layer:
        height, width = self.size
        margin = max(4, int(0.1 * max(height, width)))
        canvas = _texture(rng, height + 2 * margin, width + 2 * margin, self._scale)
        canvas = torch.cat([canvas, torch.ones_like(canvas[:1])])
        stats = self.motion
        motion = self._affine(
            centre=((width - 1) / 2, (height - 1) / 2),
            translation=self._translation(rng, stats.background_median, stats.background_log_sd, stats.background_cap),
            rotation=math.radians(rng.normal(0, stats.background_rotation_deg)),
            scale=math.exp(rng.normal(0, stats.background_log_scale_sd)),
            shear=0.0,
        )
        # A sub-pixel offset, so that frame 1 is a resampling of the texture just as frame 2 is
        # (otherwise frame 1 would be systematically sharper).
        offset = margin + rng.uniform(0, 1, 2)
        to_canvas = np.array([[1.0, 0.0, offset[0]], [0.0, 1.0, offset[1]]])
        return _Layer(canvas, to_canvas, motion, background=True)

    def _object(self, rng: np.random.Generator) -> _Layer:
        height, width = self.size
        diameter = max(4.0, min(height, width) * math.exp(rng.uniform(math.log(0.12), math.log(0.65))))
        side = int(math.ceil(diameter)) + 4
        coverage = _shape(rng, side)
        colour = _texture(rng, side, side, self._scale)
        canvas = torch.cat([colour * coverage, coverage])
        centre = (rng.uniform(-0.1, 1.1) * (width - 1), rng.uniform(-0.1, 1.1) * (height - 1))
        stats = self.motion
        rotation_cap = math.radians(stats.object_rotation_cap_deg)
        motion = self._affine(
            centre=centre,
            translation=self._translation(rng, stats.object_median, stats.object_log_sd, stats.object_cap),
            rotation=float(np.clip(math.radians(rng.normal(0, stats.object_rotation_deg)), -rotation_cap, rotation_cap)),
            scale=float(np.clip(math.exp(rng.normal(0, stats.object_log_scale_sd)), 0.7, 1.4)),
            shear=rng.normal(0, stats.object_shear_sd),
        )
        half = (side - 1) / 2
        to_canvas = np.array([[1.0, 0.0, half - centre[0]], [0.0, 1.0, half - centre[1]]])
        return _Layer(canvas, to_canvas, motion, background=False)

    def _translation(self, rng: np.random.Generator, median: float, log_sd: float, cap: float) -> np.ndarray:
        length = min(median * math.exp(rng.normal(0, log_sd)), cap) * self._scale
        angle = rng.uniform(0, 2 * math.pi)
        return length * np.array([math.cos(angle), math.sin(angle)])

    @staticmethod
    def _affine(centre, translation, rotation, scale, shear) -> np.ndarray:
        """(2, 3) map x -> c + S R (x - c) + t, about the layer's centre ``c``."""
        cos, sin = math.cos(rotation), math.sin(rotation)
        linear = scale * np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
        c = np.asarray(centre)
        return np.concatenate([linear, (c - linear @ c + translation)[:, None]], axis=1)

    def _layer_gains(self, rng: np.random.Generator, count: int) -> np.ndarray | None:
        """Per-layer RGB brightness factors applied in frame 2 (None without photometric changes)."""
        if not self.photometric:
            return None
        return np.exp(rng.normal(0, 0.04, (count, 1)) + rng.normal(0, 0.01, (count, 3)))

    # --- rendering ---------------------------------------------------------------------------

    def _composite(self, layers, frame: int, flow: torch.Tensor | None = None, gains=None):
        """Draw ``layers`` back to front in frame 0 or 1; in frame 0 also fill ``flow``.

        Returns the image (3, H, W) and the owner map (H, W).
        """
        height, width = self.size
        image = torch.zeros(3, height, width)
        owner = torch.zeros(height, width, dtype=torch.int64)
        for layer_id, layer in enumerate(layers):
            to_canvas = layer.to_canvas if frame == 0 else _compose(layer.to_canvas, _invert(layer.motion))
            box = (0, height, 0, width) if layer.background else _footprint(layer, frame, height, width)
            if box is None:
                continue
            y0, y1, x0, x1 = box
            rgba = _sample(layer.canvas, to_canvas, box, "reflection" if layer.background else "zeros")
            if gains is not None:
                rgba[:3] *= torch.from_numpy(gains[layer_id]).float()[:, None, None]
            alpha = rgba[3]
            region = image[:, y0:y1, x0:x1]
            region.mul_(1 - alpha).add_(rgba[:3])
            owned = alpha > 0.5
            owner[y0:y1, x0:x1][owned] = layer_id
            if flow is not None:
                flow[:, y0:y1, x0:x1] = torch.where(owned, _displacement(layer.motion, box), flow[:, y0:y1, x0:x1])
        return image, owner


def _footprint(layer: _Layer, frame: int, height: int, width: int):
    """The clipped pixel box (y0, y1, x0, x1) that an object's canvas covers in a frame, or None."""
    h, w = layer.canvas.shape[1:]
    corners = np.array([[-1, -1, 1], [w, -1, 1], [-1, h, 1], [w, h, 1]], dtype=np.float64).T
    to_image = _invert(layer.to_canvas)
    if frame == 1:
        to_image = _compose(layer.motion, to_image)
    points = to_image @ corners
    x0, y0 = np.floor(points.min(axis=1)).astype(int)
    x1, y1 = np.ceil(points.max(axis=1)).astype(int) + 1
    x0, x1, y0, y1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
    return (y0, y1, x0, x1) if x0 < x1 and y0 < y1 else None


def _pixel_grid(box) -> tuple[torch.Tensor, torch.Tensor]:
    y0, y1, x0, x1 = box
    return torch.arange(x0, x1, dtype=torch.float64)[None, :], torch.arange(y0, y1, dtype=torch.float64)[:, None]


def _sample(canvas: torch.Tensor, to_canvas: np.ndarray, box, padding: str) -> torch.Tensor:
    """Bilinear samples of ``canvas`` (C, h, w) at ``to_canvas`` of the pixels of ``box`` -> (C, bh, bw)."""
    h, w = canvas.shape[1:]
    # grid_sample with align_corners=False puts the centre of pixel i at (2 i + 1) / size - 1.
    normalise = np.array([[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0]])
    m = _compose(normalise, to_canvas)
    xs, ys = (c.float() for c in _pixel_grid(box))
    m = m.tolist()
    grid = torch.stack([m[0][0] * xs + m[0][1] * ys + m[0][2], m[1][0] * xs + m[1][1] * ys + m[1][2]], dim=-1)
    return F.grid_sample(canvas[None], grid[None], mode="bilinear", padding_mode=padding, align_corners=False)[0]


def _displacement(motion: np.ndarray, box) -> torch.Tensor:
    """``motion(x) - x`` over the pixels of ``box``: (2, bh, bw) float32, computed in float64."""
    xs, ys = _pixel_grid(box)
    a = motion
    u = (a[0, 0] - 1) * xs + a[0, 1] * ys + a[0, 2]
    v = a[1, 0] * xs + (a[1, 1] - 1) * ys + a[1, 2]
    return torch.stack([u, v]).float()


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (2, 3) affine map ``outer(inner(x))``."""
    return outer[:, :2] @ np.concatenate([inner, [[0.0, 0.0, 1.0]]])[:2] + np.concatenate(
        [np.zeros((2, 2)), outer[:, 2:]], axis=1
    )


def _invert(affine: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(affine[:, :2])
    return np.concatenate([linear, -linear @ affine[:, 2:]], axis=1)


# --- textures and shapes -------------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, height: int, width: int, cell: float) -> torch.Tensor:
    """Smooth noise (height, width), zero mean and unit variance per lattice value, features of ~``cell`` px.

    Coarse lattices are interpolated bicubically (bilinear creases would show); below 8 px cells
    bilinear interpolation looks the same and costs a quarter.
    """
    rows, cols = int(height / cell) + 3, int(width / cell) + 3
    lattice = torch.from_numpy(rng.standard_normal((1, 1, rows, cols), dtype=np.float32))
    mode = "bicubic" if cell >= 8 else "bilinear"
    upsampled = F.interpolate(lattice, scale_factor=cell, mode=mode, align_corners=False)[0, 0]
    top, left = rng.integers(0, max(1, upsampled.shape[0] - height)), rng.integers(0, max(1, upsampled.shape[1] - width))
    return upsampled[top : top + height, left : left + width]


def _fractal_noise(rng: np.random.Generator, height: int, width: int, coarsest: float, finest: float) -> torch.Tensor:
    """Fractal noise (height, width) with octaves from ``coarsest`` to ``finest`` cell size (px) and a
    random spectral slope, standardised to zero mean and unit variance.

    Synthesised like a Laplacian pyramid: the sum so far is upsampled 2x and the next octave's
    lattice added, so only the last upsampling works at full resolution.
    """
    slope = rng.uniform(0.3, 1.3)
    octaves = max(1, int(math.log2(coarsest / finest)) + 1)
    cell = coarsest / 2 ** (octaves - 1)
    rows, cols = int(height / coarsest) + 3, int(width / coarsest) + 3
    field = torch.from_numpy(rng.standard_normal((1, 1, rows, cols), dtype=np.float32))
    for octave in range(1, octaves):
        field = F.interpolate(field, scale_factor=2, mode="bicubic", align_corners=False)
        noise = rng.standard_normal(field.shape, dtype=np.float32)
        field += 2.0 ** (-octave * slope) * torch.from_numpy(noise)
    mode = "bicubic" if cell >= 8 else "bilinear"
    field = F.interpolate(field, scale_factor=cell, mode=mode, align_corners=False)[0, 0]
    top = rng.integers(0, max(1, field.shape[0] - height + 1))
    left = rng.integers(0, max(1, field.shape[1] - width + 1))
    field = field[top : top + height, left : left + width]
    # numpy's float64 reduction has a fixed order: pairs are bit-identical whatever torch's thread count.
    values = field.numpy()
    return (field - float(values.mean(dtype=np.float64))) / max(float(values.std(dtype=np.float64)), 1e-6)


def _palette(rng: np.random.Generator, count: int) -> torch.Tensor:
    """(count, 3) colours with random saturation around a random grey."""
    colours = rng.random((count, 3)) ** rng.uniform(0.6, 1.6)
    grey = colours.mean(axis=1, keepdims=True)
    return torch.from_numpy(grey + rng.uniform(0.2, 1.0) * (colours - grey)).float()


def _texture(rng: np.random.Generator, height: int, width: int, scale: float) -> torch.Tensor:
    """A procedural RGB texture (3, height, width) in about [0, 1]."""
    coarsest = max(3.0, scale * math.exp(rng.uniform(math.log(12), math.log(120))))
    finest = max(2.0, coarsest / 2 ** rng.integers(2, 6))
    field = _fractal_noise(rng, height, width, coarsest, finest)
    sharpness = math.exp(rng.uniform(math.log(0.5), math.log(6)))
    level = (0.5 + 0.5 * torch.tanh(sharpness * field)).clamp_(0, 1)
    colours = _palette(rng, int(rng.integers(2, 6)))
    # Piecewise-linear palette lookup as a 1-D bilinear sample: level 0 -> first colour, 1 -> last.
    lookup = torch.stack([level * 2 - 1, torch.zeros_like(level)], dim=-1)
    texture = F.grid_sample(colours.T[None, :, None], lookup[None], mode="bilinear", align_corners=True)[0]
    if rng.random() < 0.3:
        texture = texture * (1 - rng.uniform(0.3, 0.9) * _stripes(rng, height, width, scale))
    if rng.random() < 0.5:
        texture = texture + rng.uniform(0.02, 0.08) * _value_noise(rng, height, width, 2.0)
    return texture


def _stripes(rng: np.random.Generator, height: int, width: int, scale: float) -> torch.Tensor:
    """Oriented, slightly wavy stripes (height, width) in [0, 1]."""
    angle = rng.uniform(0, math.pi)
    period = max(4.0, scale * math.exp(rng.uniform(math.log(4), math.log(40))))
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) * (2 * math.pi / period)
    phase = phase + rng.uniform(0, 3) * _value_noise(rng, height, width, period * 4)
    # Edges of tanh(k sin) are about period / (pi k) px wide; keep them at least ~1 px (no aliasing).
    sharpness = min(rng.uniform(1, 10), period / 3)
    return 0.5 + 0.5 * torch.tanh(sharpness * torch.sin(phase))


def _shape(rng: np.random.Generator, side: int) -> torch.Tensor:
    """Anti-aliased coverage (1, side, side) in [0, 1] of a random shape filling most of the square."""
    coords = torch.arange(side, dtype=torch.float32) - (side - 1) / 2
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    radius = (side - 4) / 2
    coverage = torch.zeros(side, side)
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


def _degrade(rng: np.random.Generator, image1: torch.Tensor, image2: torch.Tensor):
    """Global brightness change of frame 2, shared defocus blur, independent sensor noise."""
    image2 = image2 * math.exp(rng.normal(0, 0.03)) + rng.normal(0, 0.02)
    if rng.random() < 0.3:
        sigma = rng.uniform(0.3, 1.2)
        image1, image2 = (_gaussian_blur(image, sigma) for image in (image1, image2))
    if rng.random() < 0.5:
        sigma = rng.uniform(0.002, 0.02)
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        image1 = image1 + sigma * torch.randn(image1.shape, generator=generator)
        image2 = image2 + sigma * torch.randn(image2.shape, generator=generator)
    return image1, image2


def _gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (3, H, W) with replicated borders (shifted sums: faster than conv2d here)."""
    radius = max(1, int(math.ceil(2.5 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = taps / taps.sum()
    height, width = image.shape[1:]
    padded = F.pad(image[None], (radius, radius, radius, radius), mode="replicate")[0]
    rows = sum(float(t) * padded[:, :, i : i + width] for i, t in enumerate(taps))
    return sum(float(t) * rows[:, i : i + height] for i, t in enumerate(taps))
