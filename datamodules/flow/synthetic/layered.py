"""Layered scenes with exact optical flow, in the spirit of FlyingChairs and AutoFlow (the v1 generator).

Each pair is a stack of layers drawn back to front: one textured background filling the frame
and 4 to 10 textured foreground objects of random shapes (:mod:`.shapes`). Each layer moves by
its own affine motion (translation, rotation, isotropic scaling, a little shear) between the
frames and keeps its depth order, so objects occlude the background and each other, and
disocclude what they leave.

Rendering is inverse mapping: frame 1 samples each layer's canvas at the canvas position of the
pixel, frame 2 samples it at the position the pixel's point came from, ``A^-1 x``. The forward
flow of a frame-1 pixel ``x`` owned by a layer with motion ``A`` is therefore exactly
``A(x) - x``, for every pixel of frame 1 (also those occluded in frame 2). A pixel belongs to
the front-most layer whose coverage exceeds one half there. A layer may also carry a smooth
deformation ``g`` (:mod:`.deformation`): frame 1 then shows at ``x`` the canvas point of
``x + g(x)``, so the flow is ``A(x + g(x)) - x``, exact as well.

Motion statistics of v1 (pixels at 384x512; all lengths scale with ``sqrt(H * W / (384 * 512))``):

- background: translation length log-normal, median 5 px, log-sd 1.0 (capped at 120 px);
  rotation N(0, 1.5 deg); scale exp N(0, 0.03);
- objects: translation length log-normal, median 9 px, log-sd 1.15 (capped at 250 px);
  rotation N(0, 10 deg) capped at 40 deg; scale exp N(0, 0.08) in [0.7, 1.4]; shear N(0, 0.02).

Rotation and scaling add motion that grows with the distance from a layer's centre; measured over
all pixels of 200 pairs at 384x512: mean 12.3 px, median 9.1 px, 94 % under 30 px, 0.26 % past
100 px (max ~260 px), the shape of FlyingChairs' histogram.

``render_layered_v1`` is today's generator bit for bit (``recipe="v1"``): textures of
:func:`.textures.palette_texture`, per-layer brightness changes and :func:`.degradation.degrade_v1`
drawn from the same Generator after the scene.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datamodules.flow.synthetic.degradation import degrade_v1
from zoo.datamodules.flow.synthetic.pair import SyntheticPair
from zoo.datamodules.flow.synthetic.shapes import shape_coverage
from zoo.datamodules.flow.synthetic.textures import natural_texture, palette_texture

__all__ = ["SUBPIXEL_MOTION", "Layer", "LayeredScene", "MotionStatistics", "render_layered", "render_layered_v1"]

_REFERENCE_AREA = 384 * 512

#: (rng, height, width, scale, device) -> (3, height, width) texture.
Texture = Callable[..., torch.Tensor]


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


#: Middlebury-like small motion: median translations 0.3 / 0.5 px, rotations and scalings that add
#: well under a pixel across a layer.
SUBPIXEL_MOTION = MotionStatistics(
    background_median=0.3, background_log_sd=0.8, background_cap=2.0, background_rotation_deg=0.05,
    background_log_scale_sd=0.002, object_median=0.5, object_log_sd=0.8, object_cap=3.0, object_rotation_deg=0.3,
    object_rotation_cap_deg=1.0, object_log_scale_sd=0.004, object_shear_sd=0.001,
)


@dataclass
class Layer:
    canvas: torch.Tensor  # (4, h, w): premultiplied RGB and coverage
    to_canvas: np.ndarray  # (2, 3) affine: frame-1 pixel -> canvas pixel
    motion: np.ndarray  # (2, 3) affine: frame-1 pixel -> frame-2 pixel
    background: bool
    deformation: torch.Tensor | None = None  # (2, H, W) px: frame 1 shows at x the point of x + g(x)


class LayeredScene:
    """Samples and renders layered scenes of one frame size.

    Args:
        size: (H, W) of the frames.
        motion: the layers' motion statistics.
        texture: the texture generator of the background and objects.
        device: where the pixels are computed.
    """

    def __init__(self, size: tuple[int, int], motion: MotionStatistics = MotionStatistics(),
                 texture: Texture = palette_texture, device: torch.device | str = "cpu") -> None:
        self.size = size
        self.motion = motion
        self.texture = texture
        self.device = torch.device(device)
        self.scale = math.sqrt(size[0] * size[1] / _REFERENCE_AREA)

    def sample_layers(self, rng: np.random.Generator, objects: tuple[int, int] = (4, 11)) -> list[Layer]:
        """The background and ``objects[0] <= n < objects[1]`` objects, back to front."""
        layers = [self.background(rng)]
        return layers + [self.object(rng) for _ in range(rng.integers(*objects))]

    def render(self, layers: list[Layer], gains: np.ndarray | None = None):
        """Frames 1 and 2 of ``layers``, the flow and the owners; ``gains`` (layers, 1 or 3) scale
        each layer's colour in frame 2. Returns (image1, image2, flow, owner1, owner2)."""
        flow = torch.zeros(2, *self.size, device=self.device)
        image1, owner1 = self._composite(layers, frame=0, flow=flow)
        image2, owner2 = self._composite(layers, frame=1, gains=gains)
        return image1, image2, flow, owner1, owner2

    def render_clip(self, layers: list[Layer], frames: int) -> torch.Tensor:
        """``frames`` frames of ``layers``, each layer moving by its motion once more per frame
        (frame k shows the layer through ``motion^k``); frames 0 and 1 are :meth:`render`'s
        images. Returns (frames, 3, H, W) in [0, 1]."""
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        return torch.stack([self._composite(layers, frame=k)[0] for k in range(frames)]).clamp_(0, 1)

    # --- scene description -------------------------------------------------------------------

    def background(self, rng: np.random.Generator) -> Layer:
        height, width = self.size
        margin = max(4, int(0.1 * max(height, width)))
        canvas = self.texture(rng, height + 2 * margin, width + 2 * margin, self.scale, self.device)
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
        return Layer(canvas, to_canvas, motion, background=True)

    def object(self, rng: np.random.Generator) -> Layer:
        height, width = self.size
        diameter = max(4.0, min(height, width) * math.exp(rng.uniform(math.log(0.12), math.log(0.65))))
        side = int(math.ceil(diameter)) + 4
        coverage = shape_coverage(rng, side, self.device)
        colour = self.texture(rng, side, side, self.scale, self.device)
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
        return Layer(canvas, to_canvas, motion, background=False)

    def _translation(self, rng: np.random.Generator, median: float, log_sd: float, cap: float) -> np.ndarray:
        length = min(median * math.exp(rng.normal(0, log_sd)), cap) * self.scale
        angle = rng.uniform(0, 2 * math.pi)
        return length * np.array([math.cos(angle), math.sin(angle)])

    @staticmethod
    def _affine(centre, translation, rotation, scale, shear) -> np.ndarray:
        """(2, 3) map x -> c + S R (x - c) + t, about the layer's centre ``c``."""
        cos, sin = math.cos(rotation), math.sin(rotation)
        linear = scale * np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
        c = np.asarray(centre)
        return np.concatenate([linear, (c - linear @ c + translation)[:, None]], axis=1)

    # --- rendering ---------------------------------------------------------------------------

    def _composite(self, layers: list[Layer], frame: int, flow: torch.Tensor | None = None, gains=None):
        """Draw ``layers`` back to front in frame 0, 1 (or later, :meth:`render_clip`); in frame 0 also fill ``flow``.

        Returns the image (3, H, W) and the owner map (H, W).
        """
        height, width = self.size
        image = torch.zeros(3, height, width, device=self.device)
        owner = torch.zeros(height, width, dtype=torch.int64, device=self.device)
        for layer_id, layer in enumerate(layers):
            to_canvas = layer.to_canvas if frame == 0 else _compose(layer.to_canvas, _invert(_power(layer.motion, frame)))
            box = (0, height, 0, width) if layer.background else _footprint(layer, frame, height, width)
            if box is None:
                continue
            y0, y1, x0, x1 = box
            offset = layer.deformation[:, y0:y1, x0:x1] if frame == 0 and layer.deformation is not None else None
            rgba = _sample(layer.canvas, to_canvas, box, "reflection" if layer.background else "zeros", offset)
            if gains is not None:
                rgba[:3] *= torch.from_numpy(gains[layer_id]).float().to(self.device)[:, None, None]
            alpha = rgba[3]
            region = image[:, y0:y1, x0:x1]
            region.mul_(1 - alpha).add_(rgba[:3])
            owned = alpha > 0.5
            owner[y0:y1, x0:x1][owned] = layer_id
            if flow is not None:
                displacement = _displacement(layer.motion, box, offset, self.device)
                flow[:, y0:y1, x0:x1] = torch.where(owned, displacement, flow[:, y0:y1, x0:x1])
        return image, owner


def render_layered_v1(rng: np.random.Generator, size: tuple[int, int], motion: MotionStatistics,
                      photometric: bool, device="cpu") -> SyntheticPair:
    """Today's (v1) pair from a fresh ``default_rng([seed, index])``, bit for bit on the CPU."""
    scene = LayeredScene(size, motion, palette_texture, device)
    layers = scene.sample_layers(rng)
    gains = np.exp(rng.normal(0, 0.04, (len(layers), 1)) + rng.normal(0, 0.01, (len(layers), 3))) if photometric else None
    image1, image2, flow, owner1, owner2 = scene.render(layers, gains)
    if photometric:
        image1, image2 = degrade_v1(rng, image1, image2)
    return SyntheticPair(image1.clamp_(0, 1), image2.clamp_(0, 1), flow, owner1, owner2, kind="layered-v1")


def render_layered(rng: np.random.Generator, size: tuple[int, int], device="cpu", motion: MotionStatistics = MotionStatistics(),
                   texture: Texture = natural_texture, kind: str = "layered") -> SyntheticPair:
    """A v2 layered pair: v1's scene structure and ``motion`` with ``texture`` (natural textures by
    default), without photometric changes (the camera model adds them)."""
    scene = LayeredScene(size, motion, texture, device)
    image1, image2, flow, owner1, owner2 = scene.render(scene.sample_layers(rng))
    return SyntheticPair(image1.clamp_(0, 1), image2.clamp_(0, 1), flow, owner1, owner2, kind=kind)


def _footprint(layer: Layer, frame: int, height: int, width: int):
    """The clipped pixel box (y0, y1, x0, x1) that an object's canvas covers in a frame, or None."""
    h, w = layer.canvas.shape[1:]
    corners = np.array([[-1, -1, 1], [w, -1, 1], [-1, h, 1], [w, h, 1]], dtype=np.float64).T
    to_image = _invert(layer.to_canvas)
    if frame >= 1:
        to_image = _compose(_power(layer.motion, frame), to_image)
    points = to_image @ corners
    x0, y0 = np.floor(points.min(axis=1)).astype(int)
    x1, y1 = np.ceil(points.max(axis=1)).astype(int) + 1
    if frame == 0 and layer.deformation is not None:
        # max is exact, so the box does not depend on the thread count.
        margin = int(math.ceil(float(layer.deformation.abs().max()))) + 1
        x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    x0, x1, y0, y1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
    return (y0, y1, x0, x1) if x0 < x1 and y0 < y1 else None


def _pixel_grid(box, device) -> tuple[torch.Tensor, torch.Tensor]:
    y0, y1, x0, x1 = box
    return (torch.arange(x0, x1, dtype=torch.float64, device=device)[None, :],
            torch.arange(y0, y1, dtype=torch.float64, device=device)[:, None])


def _sample(canvas: torch.Tensor, to_canvas: np.ndarray, box, padding: str, offset: torch.Tensor | None) -> torch.Tensor:
    """Bilinear samples of ``canvas`` (C, h, w) at ``to_canvas`` of the pixels of ``box``, each
    displaced by ``offset`` (2, bh, bw) px if given -> (C, bh, bw)."""
    h, w = canvas.shape[1:]
    # grid_sample with align_corners=False puts the centre of pixel i at (2 i + 1) / size - 1.
    normalise = np.array([[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0]])
    m = _compose(normalise, to_canvas)
    xs, ys = (c.float() for c in _pixel_grid(box, canvas.device))
    if offset is not None:
        xs, ys = xs + offset[0], ys + offset[1]
    m = m.tolist()
    grid = torch.stack([m[0][0] * xs + m[0][1] * ys + m[0][2], m[1][0] * xs + m[1][1] * ys + m[1][2]], dim=-1)
    return F.grid_sample(canvas[None], grid[None], mode="bilinear", padding_mode=padding, align_corners=False)[0]


def _displacement(motion: np.ndarray, box, offset: torch.Tensor | None, device) -> torch.Tensor:
    """``motion(x + offset(x)) - x`` over the pixels of ``box``: (2, bh, bw) float32, computed in float64."""
    xs, ys = _pixel_grid(box, device)
    a = motion
    u = (a[0, 0] - 1) * xs + a[0, 1] * ys + a[0, 2]
    v = a[1, 0] * xs + (a[1, 1] - 1) * ys + a[1, 2]
    if offset is not None:
        gx, gy = offset.double()
        u, v = u + a[0, 0] * gx + a[0, 1] * gy, v + a[1, 0] * gx + a[1, 1] * gy
    return torch.stack([u, v]).float()


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The (2, 3) affine map ``outer(inner(x))``."""
    return outer[:, :2] @ np.concatenate([inner, [[0.0, 0.0, 1.0]]])[:2] + np.concatenate(
        [np.zeros((2, 2)), outer[:, 2:]], axis=1
    )


def _power(affine: np.ndarray, times: int) -> np.ndarray:
    """The (2, 3) affine map applied ``times`` >= 1 times (``affine`` itself for 1, so pairs stay bit for bit)."""
    result = affine
    for _ in range(times - 1):
        result = _compose(affine, result)
    return result


def _invert(affine: np.ndarray) -> np.ndarray:
    linear = np.linalg.inv(affine[:, :2])
    return np.concatenate([linear, -linear @ affine[:, 2:]], axis=1)
