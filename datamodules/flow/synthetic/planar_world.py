"""A world of textured planar quads seen by a moving pinhole camera: ray casting and exact flow.

Coordinates are metres; the camera looks along +z with x right and y down (image conventions),
pixel ``(x, y)`` is the centre of column ``x``, row ``y``. Each frame is rendered by casting the
ray of every pixel against every :class:`Surface` (in the pose it has in that frame) and keeping
the nearest hit whose texture is opaque there. A surface's texture is a mip-map pyramid sampled
at the level of the pixel's footprint on the surface (so far ground does not alias), at the
surface coordinates of the hit; the same material point therefore looks the same in both frames.

Flow is the exact projection of 3-D motion: the frame-1 hit point ``P`` of pixel ``x`` (on the
surface seen there, also when it is hidden in frame 2) moves with its surface's rigid motion to
``P'`` and is projected by camera 2; ``flow(x) = project_2(P') - x``, computed in float64. A point
that ends up behind camera 2 has no image: ``valid`` is False there (and the flow 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datamodules.flow.synthetic.textures import pixel_coordinates

__all__ = ["PinholeCamera", "RigidMotion", "Surface", "mipmap", "render_frame", "scene_flow"]

#: Rays hit nothing nearer than this (m).
NEAR = 0.05


@dataclass(frozen=True)
class RigidMotion:
    """World motion of a surface from frame 1 to frame 2: ``P -> rotation @ P + translation`` (m)."""

    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics (px) and pose: world point ``P`` is at ``rotation @ (P - centre)`` in camera coordinates."""

    focal: float
    cx: float
    cy: float
    rotation: np.ndarray  # (3, 3) world -> camera
    centre: np.ndarray  # (3,) m

    def ray_matrix(self) -> np.ndarray:
        """(3, 3) ``M`` with world ray direction ``M @ (x, y, 1)`` of pixel (x, y), camera depth 1 per unit."""
        f = self.focal
        inverse_intrinsics = np.array([[1 / f, 0, -self.cx / f], [0, 1 / f, -self.cy / f], [0, 0, 1]])
        return self.rotation.T @ inverse_intrinsics

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and camera depths (N,) of world points (N, 3)."""
        camera = (points - self.centre) @ self.rotation.T
        return self.focal * camera[:, :2] / camera[:, 2:] + np.array([self.cx, self.cy]), camera[:, 2]


@dataclass
class Surface:
    """A textured plane patch: material point ``(u, v)`` m is at ``origin + u axis_u + v axis_v``
    in frame 1; ``0 <= u <= extent[0]``, ``0 <= v <= extent[1]`` (``inf``: unbounded, the texture
    repeats mirrored). ``pyramid[0]`` is the texture (3 or 4 channels: RGB in [0, 1] and opacity)
    at ``texel`` m per texel; texel ``(i, j)`` covers ``u`` in ``[j, j + 1] * texel``. An optional
    ``detail`` pyramid (1 channel, zero mean, tiled at ``detail_texel`` m) multiplies the colour by
    ``1 + detail``: fine structure near the camera without a huge texture."""

    origin: np.ndarray  # (3,)
    axis_u: np.ndarray  # (3,) unit
    axis_v: np.ndarray  # (3,) unit, orthogonal to axis_u
    extent: tuple[float, float]
    texel: float
    pyramid: list[torch.Tensor]
    motion: RigidMotion | None = None
    detail: list[torch.Tensor] | None = None
    detail_texel: float = 0.01
    name: str = "surface"  # what it depicts: "ground", "sky", "car", ...

    def pose(self, frame: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(origin, axis_u, axis_v) in frame 0 (the first) or 1."""
        if frame == 0 or self.motion is None:
            return self.origin, self.axis_u, self.axis_v
        rotation = self.motion.rotation
        return self.motion.apply(self.origin[None])[0], rotation @ self.axis_u, rotation @ self.axis_v

    def corners(self, frame: int) -> np.ndarray | None:
        """The four corners (4, 3) in a frame, None for unbounded surfaces."""
        if math.isinf(self.extent[0]) or math.isinf(self.extent[1]):
            return None
        origin, u, v = self.pose(frame)
        return np.array([origin + a * self.extent[0] * u + b * self.extent[1] * v for a in (0, 1) for b in (0, 1)])


def mipmap(texture: torch.Tensor) -> list[torch.Tensor]:
    """The pyramid of ``texture`` (C, h, w): 2x2 means down to a few texels."""
    levels = [texture]
    while min(levels[-1].shape[1:]) >= 4:
        levels.append(F.avg_pool2d(levels[-1][None], 2)[0])
    return levels


def render_frame(camera: PinholeCamera, surfaces: list[Surface], frame: int, size: tuple[int, int], device):
    """Ray-cast ``surfaces`` in their pose of ``frame`` (0 or 1).

    Returns the image (3, H, W) in [0, 1], the camera depth (H, W) m (inf where nothing was hit)
    and the owner (H, W) int64: the index of the surface seen (-1: none).
    """
    height, width = size
    image = torch.zeros(3, height, width, device=device)
    depth = torch.full((height, width), math.inf, device=device)
    owner = torch.full((height, width), -1, dtype=torch.int64, device=device)
    rays = camera.ray_matrix()
    for index in sorted(range(len(surfaces)), key=lambda i: _nearest_distance(camera, surfaces[i], frame)):
        surface = surfaces[index]
        box = _screen_box(camera, surface, frame, size)
        if box is None:
            continue
        hit = _intersect(camera, rays, surface, frame, box, depth, device)
        if hit is None:
            continue
        rows, cols, distance, colour = hit
        depth[rows, cols], owner[rows, cols], image[:, rows, cols] = distance, index, colour
    return image, depth, owner


def scene_flow(camera1: PinholeCamera, camera2: PinholeCamera, surfaces: list[Surface],
               depth1: torch.Tensor, owner1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward flow (2, H, W) float32 px and validity (H, W) bool of frame-1 pixels from their
    depth and owner (from :func:`render_frame`); float64 inside."""
    height, width = depth1.shape
    device = depth1.device
    ys, xs = pixel_coordinates(height, width, device, torch.float64)
    pixels = torch.stack([xs, ys, torch.ones_like(xs)]).reshape(3, -1)
    rays = torch.from_numpy(camera1.ray_matrix()).to(device)
    hit = depth1.double().reshape(1, -1)
    hit = torch.where(torch.isfinite(hit), hit, torch.zeros_like(hit))
    points = torch.from_numpy(camera1.centre).to(device)[:, None] + hit * (rays @ pixels)
    owners = owner1.reshape(-1)
    for index, surface in enumerate(surfaces):
        if surface.motion is not None:
            moving = owners == index
            rotation = torch.from_numpy(surface.motion.rotation).to(device)
            translation = torch.from_numpy(surface.motion.translation).to(device)
            points[:, moving] = rotation @ points[:, moving] + translation[:, None]
    camera = torch.from_numpy(camera2.rotation).to(device) @ (points - torch.from_numpy(camera2.centre).to(device)[:, None])
    valid = (camera[2] > NEAR) & torch.isfinite(depth1.reshape(-1))
    z = torch.where(valid, camera[2], torch.ones_like(camera[2]))
    x2 = camera2.focal * camera[0] / z + camera2.cx
    y2 = camera2.focal * camera[1] / z + camera2.cy
    flow = torch.stack([x2 - pixels[0], y2 - pixels[1]]) * valid
    return flow.reshape(2, height, width).float(), valid.reshape(height, width)


def _nearest_distance(camera: PinholeCamera, surface: Surface, frame: int) -> float:
    """Distance (m) from the camera to a surface's nearest corner (inf for unbounded): rendering
    near to far lets the depth test skip the texture lookups of hidden surfaces."""
    corners = surface.corners(frame)
    return math.inf if corners is None else float(np.linalg.norm(corners - camera.centre, axis=1).min())


def _screen_box(camera: PinholeCamera, surface: Surface, frame: int, size: tuple[int, int]):
    """The pixel box (y0, y1, x0, x1) a surface may cover, None when it is out of view."""
    height, width = size
    corners = surface.corners(frame)
    if corners is None:
        return 0, height, 0, width
    pixels, depth = camera.project(corners)
    if (depth <= NEAR).all():
        return None
    if (depth <= NEAR).any():  # the quad crosses the camera plane: any pixel may see it
        return 0, height, 0, width
    x0, y0 = np.floor(pixels.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(pixels.max(axis=0)).astype(int) + 2
    x0, x1, y0, y1 = max(x0, 0), min(x1, width), max(y0, 0), min(y1, height)
    return (y0, y1, x0, x1) if x0 < x1 and y0 < y1 else None


def _intersect(camera, rays, surface: Surface, frame: int, box, depth: torch.Tensor, device):
    """The box pixels whose ray hits ``surface`` in front of ``depth``: (rows, cols, depth, RGB (3, N)), or None."""
    origin, axis_u, axis_v = surface.pose(frame)
    normal = np.cross(axis_u, axis_v)
    y0, y1, x0, x1 = box
    xs = torch.arange(x0, x1, dtype=torch.float32, device=device)[None, :]
    ys = torch.arange(y0, y1, dtype=torch.float32, device=device)[:, None]
    # Along pixel (x, y)'s ray c + t d, w . d is linear in (x, y); t is the camera depth of the hit.
    offset = camera.centre - origin
    facing = normal @ rays
    distance = float(-normal @ offset) / (facing[0] * xs + facing[1] * ys + facing[2])
    candidate = (distance > NEAR) & (distance < depth[y0:y1, x0:x1])
    rows, cols = candidate.nonzero(as_tuple=True)
    if rows.numel() == 0:
        return None
    distance = distance[rows, cols]
    x, y = (cols + x0).float(), (rows + y0).float()
    u, du_dx, du_dy = _surface_coordinate(axis_u @ rays, float(axis_u @ offset), facing, distance, x, y)
    v, dv_dx, dv_dy = _surface_coordinate(axis_v @ rays, float(axis_v @ offset), facing, distance, x, y)
    inside = torch.ones_like(u, dtype=torch.bool)
    if not math.isinf(surface.extent[0]):
        inside &= (u >= 0) & (u <= surface.extent[0])
    if not math.isinf(surface.extent[1]):
        inside &= (v >= 0) & (v <= surface.extent[1])
    footprint = torch.maximum(torch.hypot(du_dx, dv_dx), torch.hypot(du_dy, dv_dy))[inside]  # m per px
    u, v, rows, cols, distance = u[inside], v[inside], rows[inside], cols[inside], distance[inside]
    if rows.numel() == 0:
        return None
    colour = _sample_pyramid(surface.pyramid, u / surface.texel, v / surface.texel, footprint / surface.texel)
    if surface.detail is not None:
        texel = surface.detail_texel
        colour[:3] *= 1 + _sample_pyramid(surface.detail, u / texel, v / texel, footprint / texel)
    if colour.shape[0] == 4:
        opaque = colour[3] > 0.5
        rows, cols, distance, colour = rows[opaque], cols[opaque], distance[opaque], colour[:, opaque]
    return rows + y0, cols + x0, distance, colour[:3]


def _surface_coordinate(along, start, facing, distance, x, y):
    """A surface coordinate ``s = start + t (a . d)`` (m) of hits at depth ``t`` and its derivatives
    along x and y (m / px), for ``a . d = along @ (x, y, 1)`` and ``n . d = facing @ (x, y, 1)``."""
    rate = along[0] * x + along[1] * y + along[2]
    denominator = facing[0] * x + facing[1] * y + facing[2]
    # t = k / (n . d), so d(t (a . d))/dx = t (a_x (n . d) - (a . d) n_x) / (n . d).
    return (start + distance * rate, distance * (along[0] - rate * facing[0] / denominator),
            distance * (along[1] - rate * facing[1] / denominator))


def _sample_pyramid(pyramid: list[torch.Tensor], u: torch.Tensor, v: torch.Tensor, footprint: torch.Tensor) -> torch.Tensor:
    """Trilinear samples (C, N) at texel coordinates ``u``, ``v`` (N,) of level 0, blending the two
    levels around ``log2(footprint)`` (texels per pixel); mirrored beyond the texture."""
    channels, height, width = pyramid[0].shape
    level = torch.log2(footprint.clamp_min(1.0)).clamp_max(len(pyramid) - 1)
    lower = level.floor().long()
    grid = torch.stack([2 * u / width - 1, 2 * v / height - 1], dim=-1)
    samples = torch.empty(channels, u.numel(), device=u.device)
    for index in range(int(lower.min()), int(lower.max()) + 1):  # min and max are exact: order-free
        chosen = (lower == index).nonzero(as_tuple=True)[0]
        if chosen.numel() == 0:
            continue
        points = (grid if chosen.numel() == u.numel() else grid[chosen])[None, None]
        value = _grid_sample(pyramid[index], points)
        if index + 1 < len(pyramid):
            weight = (level[chosen] - index)[None]
            value = value + weight * (_grid_sample(pyramid[index + 1], points) - value)
        samples[:, chosen] = value
    return samples


def _grid_sample(texture: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (C, N) of ``texture`` (C, h, w) at normalised points (1, 1, N, 2), mirrored."""
    return F.grid_sample(texture[None], points, mode="bilinear", padding_mode="reflection", align_corners=False)[0, :, 0]
