"""Driving scenes: the flow at sampled pixels recomputed by hand from the camera model (float64,
independent of the renderer), motion that grows toward the bottom and the borders, moving objects,
and magnitudes that scale with the frame size."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.datamodules import SyntheticFlow
from zoo.datamodules.flow.synthetic.driving import render_driving, sample_driving_scene

SIZE = (150, 496)


def _ray(camera, x: float, y: float) -> np.ndarray:
    """World direction of pixel (x, y): R^T ((x - cx) / f, (y - cy) / f, 1)."""
    return camera.rotation.T @ np.array([(x - camera.cx) / camera.focal, (y - camera.cy) / camera.focal, 1.0])


def _project(camera, point: np.ndarray) -> np.ndarray:
    local = camera.rotation @ (point - camera.centre)
    return np.array([camera.focal * local[0] / local[2] + camera.cx, camera.focal * local[1] / local[2] + camera.cy])


def _hand_flow(scene, surface, x: int, y: int) -> np.ndarray:
    """Intersect pixel (x, y)'s frame-1 ray with the surface's plane, move the point with the
    surface, project it with camera 2."""
    camera1, camera2 = scene.camera1, scene.camera2
    direction = _ray(camera1, x, y)
    normal = np.cross(surface.axis_u, surface.axis_v)
    distance = normal @ (surface.origin - camera1.centre) / (normal @ direction)
    point = camera1.centre + distance * direction
    if surface.motion is not None:
        point = surface.motion.rotation @ point + surface.motion.translation
    return _project(camera2, point) - np.array([x, y], float)


@pytest.mark.parametrize("index", range(4))
def test_flow_equals_the_projection_of_the_3d_motion_computed_by_hand(index):
    scene = sample_driving_scene(np.random.default_rng([11, index]), SIZE)
    pair = render_driving(np.random.default_rng([11, index]), SIZE)
    assert scene.surfaces[0].name == "ground" and abs(scene.surfaces[0].origin[1] - scene.height) < 1e-12
    sampler = np.random.default_rng(index)
    checked = 0
    for owner in pair.owner1.unique().tolist():
        ys, xs = torch.nonzero(pair.owner1 == owner, as_tuple=True)
        for k in sampler.choice(len(xs), size=min(5, len(xs)), replace=False):
            x, y = int(xs[k]), int(ys[k])
            expected = _hand_flow(scene, scene.surfaces[owner], x, y)
            assert np.abs(pair.flow[:, y, x].double().numpy() - expected).max() < 1e-3 * max(1.0, np.abs(expected).max())
            checked += 1
    assert checked >= 15


def test_motion_grows_toward_the_bottom_and_the_borders():
    dataset = SyntheticFlow(SIZE, length=12, seed=0, photometric=False, scenes={"driving": 1})
    bottom, top, borders, centre = [], [], [], []
    height, width = SIZE
    for index in range(12):
        magnitude = dataset.render(index).flow.norm(dim=0)
        bottom.append(magnitude[3 * height // 4 :].mean())
        top.append(magnitude[: height // 2].mean())
        borders.append(torch.cat([magnitude[:, : width // 8], magnitude[:, -width // 8 :]], dim=1).mean())
        centre.append(magnitude[:, 3 * width // 8 : 5 * width // 8].mean())
    assert torch.stack(bottom).mean() > 1.5 * torch.stack(top).mean()
    assert torch.stack(borders).mean() > 1.5 * torch.stack(centre).mean()


def test_scenes_have_depth_parallax_and_independently_moving_objects():
    found_moving = False
    for index in range(10):
        scene = sample_driving_scene(np.random.default_rng([3, index]), SIZE)
        pair = render_driving(np.random.default_rng([3, index]), SIZE)
        seen = set(pair.owner1.unique().tolist())
        assert {"ground", "sky"} & {scene.surfaces[i].name for i in seen}
        found_moving |= any(scene.surfaces[i].motion is not None for i in seen)
        assert pair.valid.float().mean() > 0.99
    assert found_moving


def test_largest_motion_reaches_kitti_magnitudes_and_scales_with_the_frame():
    def p99(size):
        dataset = SyntheticFlow(size, length=8, seed=5, photometric=False, scenes={"driving": 1})
        return float(np.percentile(torch.cat([dataset.render(i).flow.norm(dim=0).flatten() for i in range(8)]).numpy(), 99))

    kitti, half = p99((375, 1242)), p99((188, 621))
    assert 80 < kitti < 400
    assert 0.35 < half / kitti < 0.65
