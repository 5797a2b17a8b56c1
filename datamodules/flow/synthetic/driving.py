"""Driving scenes: a camera on a car moving over a textured ground plane (KITTI-like flow).

World coordinates (m) have x right, y down, z forward, origin at the frame-1 camera, ground plane
``y = h`` (camera height ``h``). The scene (:mod:`.planar_world` surfaces): an unbounded ground
textured as a road with lane markings between sidewalks and verges, a sky plane 5 km away, often
a far backdrop with a skyline (60-250 m), facades of building blocks along either side, cars as
boxes (near face, the side facing the camera, roof) parked or driving along the road (some
oncoming), and upright billboards: poles, trees and pedestrians (opaque only inside their
silhouettes, :mod:`.shapes`; pedestrians walk).

Ego-motion between the frames: forward speed uniform in [0, 1.7] m per frame (one pair in ten
nearly stopped), yaw N(0, 0.8 deg) with the matching sideways drift of an arc, pitch and roll
jitter N(0, 0.2 / 0.1 deg), on a camera that is itself pitched / rolled / yawed by a few degrees
against the road. The flow is the exact projection of the 3-D motion (:func:`.planar_world.scene_flow`):
it grows toward the image borders and bottom, shows parallax by depth, and has occlusions at
every object. The focal length is KITTI's (721.5 px at 375x1242) times 0.85-1.2, scaled with
``sqrt(H * W / (375 * 1242))`` at other sizes, and the bottom row looks 0.2-0.32 rad below the
optical axis (KITTI: ~0.28) at any aspect ratio, so magnitudes reach ~250 px at KITTI's size (the
bottom corners at top speed) and proportionally less on smaller frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoo.datamodules.flow.synthetic.pair import SyntheticPair
from zoo.datamodules.flow.synthetic.planar_world import (
    PinholeCamera,
    RigidMotion,
    Surface,
    mipmap,
    render_frame,
    scene_flow,
)
from zoo.datamodules.flow.synthetic.shapes import shape_coverage
from zoo.datamodules.flow.synthetic.textures import fractal_noise, natural_texture

__all__ = ["KITTI_FOCAL", "KITTI_SIZE", "DrivingScene", "render_driving", "sample_driving_scene"]

KITTI_SIZE = (375, 1242)
#: Focal length (px) of KITTI's colour cameras at 375x1242 (its calibration files: ~721.5).
KITTI_FOCAL = 721.5
_SKY_DISTANCE = 5000.0
#: Texture families of man-made surfaces (facades, cars): more repetition and flat paint.
_BUILT = {"repeated": 0.45, "cellular": 0.15, "fractal": 0.15, "flat": 0.15, "patchwork": 0.1}


@dataclass
class DrivingScene:
    """Cameras of both frames, the surfaces, and the camera height ``height`` (m) over the ground ``y = height``."""

    camera1: PinholeCamera
    camera2: PinholeCamera
    surfaces: list[Surface]
    height: float


@dataclass(frozen=True)
class _Road:
    centre: float  # x (m) of the road's centre line
    width: float
    sidewalks: tuple[float, float]  # left, right (m, 0: none)


def render_driving(rng: np.random.Generator, size: tuple[int, int], device="cpu") -> SyntheticPair:
    """One driving pair: images, exact flow, owners (surface index; the ground is 0) and validity."""
    scene = sample_driving_scene(rng, size, device)
    image1, depth1, owner1 = render_frame(scene.camera1, scene.surfaces, 0, size, device)
    image2, _, owner2 = render_frame(scene.camera2, scene.surfaces, 1, size, device)
    flow, valid = scene_flow(scene.camera1, scene.camera2, scene.surfaces, depth1, owner1)
    return SyntheticPair(image1.clamp(0, 1), image2.clamp(0, 1), flow, owner1, owner2, valid, kind="driving")


def sample_driving_scene(rng: np.random.Generator, size: tuple[int, int], device="cpu") -> DrivingScene:
    """The cameras and surfaces of one pair (textures on ``device``), drawn from ``rng``."""
    camera1, camera2, height = _cameras(rng, size)
    road = _road(rng)
    detail = mipmap(_detail_texture(rng, device))
    surfaces = [_ground(rng, road, height, camera1.focal, detail, device), _sky(rng, camera1.focal, device)]
    if rng.random() < 0.75:
        surfaces.append(_backdrop(rng, road, height, camera1, size, device))
    surfaces += _facades(rng, road, height, camera1.focal, detail, device)
    surfaces += _cars(rng, road, height, camera1.focal, detail, device)
    surfaces += _billboards(rng, road, height, camera1.focal, detail, device)
    return DrivingScene(camera1, camera2, surfaces, height)


def _road(rng: np.random.Generator) -> _Road:
    """A 6-14 m road with the camera in one of its lanes; each side has a 0-4 m sidewalk 70 % of the time."""
    width = rng.uniform(6, 14)
    sidewalks = rng.uniform(0, 4, 2) * (rng.random(2) < 0.7)
    return _Road(rng.uniform(-0.35, 0.35) * width, width, (float(sidewalks[0]), float(sidewalks[1])))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-to-world rotation: yaw right about y (down), then pitch down about x, then roll about z (rad)."""
    cy, sy, cp, sp, cr, sr = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
    yawing = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    pitching = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    rolling = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return yawing @ pitching @ rolling


def _cameras(rng: np.random.Generator, size: tuple[int, int]) -> tuple[PinholeCamera, PinholeCamera, float]:
    height_px, width_px = size
    scale = math.sqrt(height_px * width_px / (KITTI_SIZE[0] * KITTI_SIZE[1]))
    focal = KITTI_FOCAL * scale * math.exp(rng.uniform(math.log(0.85), math.log(1.2)))
    # The bottom row looks 0.2-0.32 rad below the optical axis whatever the aspect ratio (KITTI:
    # ~0.28), so the nearest ground, hence the largest motion, scales with the focal length.
    cx = (width_px - 1) * (0.5 + rng.normal(0, 0.02))
    cy = max(0.3 * (height_px - 1), height_px - 1 - focal * rng.uniform(0.2, 0.32))
    yaw0, pitch0, roll0 = np.radians(rng.normal(0, [2.0, 1.5, 1.0]))
    stopped = rng.random() < 0.1
    speed = rng.uniform(0, 0.05) if stopped else rng.uniform(0.05, 1.7)
    yaw = math.radians(float(np.clip(rng.normal(0, 0.8), -3, 3))) * (0.2 if stopped else 1.0)
    d_pitch, d_roll = np.radians(rng.normal(0, [0.2, 0.1]))
    heading = _rotation(yaw0, 0.0, 0.0)
    # An arc: the car moves along the chord, half-way between its old and new heading.
    drift = np.array([rng.normal(0, 0.02), rng.normal(0, 0.01), 0])
    step = heading @ (_rotation(yaw / 2, 0, 0) @ np.array([0.0, 0.0, speed]) + drift)
    first = _rotation(yaw0, pitch0, roll0)
    second = _rotation(yaw0 + yaw, pitch0 + d_pitch, roll0 + d_roll)
    height = rng.uniform(1.3, 2.0)
    return (PinholeCamera(focal, cx, cy, first.T, np.zeros(3)), PinholeCamera(focal, cx, cy, second.T, step), height)


def _texture(rng, extent: tuple[float, float], nearest: float, focal: float, device, families=None, max_side=256):
    """A natural texture for a surface of ``extent`` (u, v) m seen from ``nearest`` m at best:
    about two pixels per texel there (the detail maps add the finer grain), at most ``max_side``
    texels a side. Returns (texture (3, rows, cols), texel m)."""
    texel = max(2 * nearest / focal, max(extent) / max_side, 0.01)
    rows, cols = (max(4, int(math.ceil(e / texel / 4)) * 4) for e in (extent[1], extent[0]))
    texel = max(extent[0] / cols, extent[1] / rows)
    # natural_texture measures features in px at scale 1: here one unit is 4 cm of the surface.
    return natural_texture(rng, rows, cols, 0.04 / texel, device, families), texel


def _detail_texture(rng: np.random.Generator, device) -> torch.Tensor:
    """A zero-mean modulation (1, 256, 256) of 1-16 texel grain, +-3-12 %, tiled at 1 cm."""
    return rng.uniform(0.03, 0.12) * fractal_noise(rng, 256, 256, rng.uniform(4, 16), 1.0, device)[None]


def _ground(rng, road: _Road, height: float, focal: float, detail, device) -> Surface:
    """The ground plane: verge | sidewalk | road | sidewalk | verge across x, repeating along z."""
    texel, across = 0.06, 40.0
    dash = rng.uniform(8, 12)
    rows = int(2 * dash / texel / 4) * 4
    left_verge = across / 2 + road.centre - road.width / 2 - road.sidewalks[0]
    bands = [(left_verge, None), (road.sidewalks[0], "sidewalk"), (road.width, "road"),
             (road.sidewalks[1], "sidewalk"), (across - left_verge - sum(road.sidewalks) - road.width, None)]
    columns = []
    for width_m, kind in bands:
        cols = int(round(width_m / texel))
        if cols <= 0:
            continue
        if kind == "road":
            columns.append(_asphalt(rng, rows, cols, texel, road.width, dash, device))
        else:
            families = {"repeated": 0.6, "flat": 0.2, "fractal": 0.2} if kind == "sidewalk" else None
            columns.append(natural_texture(rng, rows, cols, 0.04 / texel, device, families))
    texture = torch.cat(columns, dim=2)
    origin = np.array([-across / 2, height, rng.uniform(-50, 0)])
    return Surface(origin, np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), (math.inf, math.inf), texel, mipmap(texture),
                   detail=detail, name="ground")


def _asphalt(rng, rows: int, cols: int, texel: float, width: float, dash: float, device) -> torch.Tensor:
    """Grey grainy asphalt (3, rows, cols) with dashed lane lines and solid edge lines."""
    grain = fractal_noise(rng, rows, cols, rng.uniform(2, 12), 1.0, device)
    grey = rng.uniform(0.15, 0.45) * (1 + rng.uniform(0.05, 0.25) * grain)
    tint = torch.from_numpy(1 + rng.normal(0, 0.03, 3)).float().to(device)[:, None, None]
    across = (torch.arange(cols, device=device, dtype=torch.float32) + 0.5) * texel  # m from the road's left edge
    along = (torch.arange(rows, device=device, dtype=torch.float32) + 0.5) * texel
    line_width, paint = rng.uniform(0.1, 0.2), rng.uniform(0.6, 0.95)
    lanes = max(1, int(round(width / rng.uniform(3.0, 3.8))))
    def line(centre: float) -> torch.Tensor:  # (1, cols) anti-aliased paint of a line along z
        return ((line_width / 2 - (across - centre).abs()) / texel + 0.5).clamp(0, 1)[None, :]

    marking = torch.zeros(rows, cols, device=device)
    painted = ((along % dash) < 3.0).float()[:, None]  # dashes: 3 m of paint per period
    for boundary in range(1, lanes):
        marking = torch.maximum(marking, painted * line(boundary * width / lanes))
    if rng.random() < 0.7:  # solid edge lines
        for centre in (0.3, width - 0.3):
            marking = torch.maximum(marking, line(centre))
    return (grey * tint) * (1 - marking) + paint * marking


def _sky(rng, focal: float, device) -> Surface:
    """A plane 5 km ahead: a vertical gradient from zenith to horizon with soft clouds."""
    texel = 4 * _SKY_DISTANCE / focal
    rows, cols, horizon = 256, 512, 200
    grey = rng.uniform(0, 1)  # 0: blue sky, 1: overcast
    zenith = torch.from_numpy(np.array([0.3, 0.5, 0.85]) * (1 - grey) + grey * rng.uniform(0.5, 0.9)).float()
    zenith = zenith * rng.uniform(0.6, 1.1)
    low = zenith + rng.uniform(0.1, 0.4) * (1 - zenith)
    ramp = (torch.arange(rows, dtype=torch.float32) / horizon).clamp(max=1)
    sky = (zenith[:, None] * (1 - ramp) + low[:, None] * ramp)[:, :, None].expand(3, rows, cols).to(device)
    clouds = (fractal_noise(rng, rows, cols, rng.uniform(24, 96), 2.0, device) - rng.uniform(-0.5, 1.5)).clamp(0, 1)
    sky = sky + rng.uniform(0, 0.8) * clouds * (rng.uniform(0.75, 1.0) - sky)
    origin = np.array([-cols / 2 * texel, -horizon * texel, _SKY_DISTANCE])
    return Surface(origin, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), (math.inf, math.inf), texel, mipmap(sky), name="sky")


def _backdrop(rng, road: _Road, height: float, camera: PinholeCamera, size, device) -> Surface:
    """A far plane (60-250 m) with a skyline of blocks or hills: opaque below the skyline."""
    distance = rng.uniform(60, 250)
    half = distance * size[1] / (2 * camera.focal) * 1.6 + abs(road.centre) + 20
    top = rng.uniform(8, 45)
    texture, texel = _texture(rng, (2 * half, top), distance, camera.focal, device, max_side=512)
    rows, cols = texture.shape[1:]
    if rng.random() < 0.5:  # blocks: piecewise-constant heights
        edges = np.cumsum(rng.uniform(3, 40, cols) / texel).astype(int)
        skyline = rng.uniform(0.1, 1.0, cols)[np.searchsorted(edges, np.arange(cols), side="right")]
    else:  # hills and tree lines: smooth
        skyline = 0.55 + 0.25 * fractal_noise(rng, 1, cols, max(4.0, 40 / texel), 1.0).numpy()[0]
    skyline_rows = torch.from_numpy((1 - np.clip(skyline, 0.05, 1.0)) * rows).float().to(device)
    opacity = ((torch.arange(rows, device=device, dtype=torch.float32)[:, None] + 0.5 - skyline_rows[None]) + 0.5).clamp(0, 1)
    origin = np.array([-half, height - rows * texel, distance])
    return Surface(origin, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), (cols * texel, rows * texel), texel,
                   mipmap(torch.cat([texture, opacity[None]])), name="backdrop")


def _facades(rng, road: _Road, height: float, focal: float, detail, device) -> list[Surface]:
    """Blocks of building fronts along each side of the road (65 % of sides), with gaps."""
    surfaces = []
    for side in (-1, 1):
        if rng.random() > 0.65:
            continue
        sidewalk = road.sidewalks[0 if side < 0 else 1]
        x = road.centre + side * (road.width / 2 + sidewalk + rng.uniform(0, 4))
        z, end = rng.uniform(-15, 3), rng.uniform(30, 150)
        while z < end:
            length, storey = rng.uniform(6, 30), rng.uniform(3, 25)
            texture, texel = _texture(rng, (length, storey), max(abs(x), 1.0), focal, device, _BUILT)
            origin = np.array([x, height - storey, z])
            surfaces.append(Surface(origin, np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), (length, storey), texel,
                                    mipmap(texture), detail=detail, name="facade"))
            z += length + (rng.uniform(2, 15) if rng.random() < 0.4 else 0.0)
    return surfaces


def _turn(angle: float, centre: np.ndarray, translation: np.ndarray | None = None) -> RigidMotion:
    """Rotation by ``angle`` (rad) about the vertical line through ``centre``, then ``translation`` (m)."""
    rotation = _rotation(angle, 0, 0)
    return RigidMotion(rotation, centre - rotation @ centre + (0 if translation is None else translation))


def _cars(rng, road: _Road, height: float, focal: float, detail, device) -> list[Surface]:
    """Boxes of car size, parked at the road's edges or driving in its lanes (oncoming on the left)."""
    surfaces, taken = [], []
    lanes = max(1, int(round(road.width / 3.5)))
    for _ in range(min(10, rng.poisson(3.5))):
        parked = rng.random() < 0.4
        if parked:
            x = road.centre + rng.choice([-1, 1]) * (road.width / 2 - 1.0)
        else:
            lane = rng.integers(lanes)
            x = road.centre - road.width / 2 + (lane + 0.5) * road.width / lanes
        oncoming = not parked and lanes > 1 and x < road.centre
        speed = 0.0 if parked else rng.uniform(0.2, 2.0) * (-1 if oncoming else 1)
        z = rng.uniform(max(5.0, 2 + 2.5 * max(0.0, -speed + 1.7)), 70)
        if any(abs(x - x2) < 2.2 and abs(z - z2) < 7 for x2, z2 in taken) or (abs(x) < 1.6 and z < 8):
            continue
        taken.append((x, z))
        width, tall, length = rng.uniform(1.6, 2.0), rng.uniform(1.3, 1.9), rng.uniform(3.6, 5.0)
        tall *= 1.4 if rng.random() < 0.15 else 1.0  # vans and trucks
        left, top = x - width / 2, height - tall
        near_side = left if x > 0 else left + width  # the side the camera sees
        faces = [(np.array([left, top, z]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), (width, tall)),
                 (np.array([near_side, top, z]), np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), (length, tall)),
                 (np.array([left, top, z]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), (width, length))]
        centre = np.array([x, height, z + length / 2])
        pose = _turn(math.radians(rng.normal(0, 1.0 if parked else 2.0)), centre)
        motion = None if parked else _turn(math.radians(rng.normal(0, 0.5)), pose.apply(centre[None])[0], np.array([0, 0, speed]))
        for origin, axis_u, axis_v, extent in faces:
            texture, texel = _texture(rng, extent, z, focal, device, {"flat": 0.5, "cellular": 0.25, "fractal": 0.25}, 128)
            surfaces.append(Surface(pose.apply(origin[None])[0], pose.rotation @ axis_u, pose.rotation @ axis_v, extent,
                                    texel, mipmap(texture), motion, detail=detail, name="car"))
    return surfaces


def _billboards(rng, road: _Road, height: float, focal: float, detail, device) -> list[Surface]:
    """Upright planar objects turned roughly toward the camera: poles at the kerb, trees on the
    verges and walking pedestrians on the sidewalks, opaque inside their silhouettes."""
    kinds = ["pole"] * int(rng.integers(0, 7)) + ["tree"] * int(rng.integers(0, 7)) + ["pedestrian"] * int(rng.integers(0, 4))
    surfaces = []
    for kind in kinds:
        side = rng.choice([-1, 1])
        sidewalk = road.sidewalks[0 if side < 0 else 1]
        if kind == "pole":
            size, offset = (rng.uniform(0.08, 0.35), rng.uniform(2.5, 9)), rng.uniform(0.2, sidewalk + 1)
        elif kind == "tree":
            size, offset = (rng.uniform(1, 6), rng.uniform(1, 8)), sidewalk + rng.uniform(0.5, 8)
        else:
            size, offset = (rng.uniform(0.4, 0.8), rng.uniform(1.4, 1.9)), rng.uniform(0, sidewalk + 0.5)
        x, z = road.centre + side * (road.width / 2 + offset), rng.uniform(4, 80)
        texture, texel = _texture(rng, size, z, focal, device, max_side=128)
        if kind != "pole":
            rows, cols = texture.shape[1:]
            silhouette = shape_coverage(rng, max(rows, cols) + 4, device)[:, 2:-2, 2:-2]
            opacity = F.interpolate(silhouette[None], size=(rows, cols), mode="bilinear", align_corners=False)[0]
            texture = torch.cat([texture, opacity])
        turn = _rotation(rng.uniform(-0.5, 0.5), 0, 0)
        origin = np.array([x, height, z]) - turn @ np.array([size[0] / 2, size[1], 0])
        motion = None
        if kind == "pedestrian":
            motion = RigidMotion(np.eye(3), np.array([rng.uniform(-0.15, 0.15), 0, rng.uniform(-0.2, 0.2)]))
        surfaces.append(Surface(origin, turn @ np.array([1.0, 0, 0]), turn @ np.array([0, 1.0, 0]), size, texel,
                                mipmap(texture), motion, detail=detail if kind == "tree" else None, name=kind))
    return surfaces
