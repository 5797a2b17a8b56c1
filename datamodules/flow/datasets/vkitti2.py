"""Virtual KITTI 2 (Cabon et al. 2020): every scene, variation and camera, forward and backward flow
as 16-bit PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    check_contiguous,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare
from zoo.datamodules.flow.formats import MAX_PIXELS, FlowFormatError
from zoo.datamodules.flow.png_io import png_header, read_png

__all__ = ["VirtualKITTI2", "read_vkitti2_flow"]


VKITTI2_LAYOUT = """\
  vkitti_2.0.3_rgb/Scene01/clone/frames/rgb/Camera_0/rgb_00000.jpg ...   (Scene01, 02, 06, 18, 20; every variation;
                                                                           Camera_0 and Camera_1)
  vkitti_2.0.3_forwardFlow/Scene01/clone/frames/forwardFlow/Camera_0/flow_00000.png ...   (frame N -> N + 1)
  vkitti_2.0.3_backwardFlow/Scene01/clone/frames/backwardFlow/Camera_0/backwardFlow_00001.png ...   (N -> N - 1)
  (or the three trees merged: Scene01/clone/frames/{rgb,forwardFlow,backwardFlow}/...)"""
VKITTI2_SOURCE = "https://europe.naverlabs.com/research/computer-vision/proxy-virtual-worlds-vkitti-2/"

_SCALE = 2.0 / (2**16 - 1)


def read_vkitti2_flow(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A Virtual KITTI 2 flow PNG: 16-bit RGB, ``B = 0`` where there is no ground truth, ``R, G`` the
    flow ``u / (W - 1), v / (H - 1)`` mapped from [-1, 1] to [0, 2^16 - 1]; returns (flow float32
    (H, W, 2) px, valid bool (H, W))."""
    header = png_header(path)
    if (header.bit_depth, header.colour_type) != (16, 2):
        raise FlowFormatError(f"{path}: Virtual KITTI 2 flow PNGs are 16-bit RGB, this one is {header.kind}")
    image = read_png(path, MAX_PIXELS)
    height, width = image.shape[:2]
    # float32 keeps 24 bits: the rounding (< 1e-7 of W - 1) is far below one code step (2 / 65535 of it)
    flow = image[..., :2].astype(np.float32)
    flow *= np.float32(_SCALE)
    flow -= 1
    flow *= np.array([width - 1, height - 1], np.float32)
    valid = image[..., 2] > 0
    flow[~valid] = 0
    return flow, valid


def _tree(root: Path, kind: str) -> Path:
    """The folder holding ``Scene*/`` for one archive: ``vkitti_2.0.3_<kind>/`` if present, else ``root``."""
    unpacked = root / f"vkitti_2.0.3_{kind}"
    return unpacked if unpacked.is_dir() else root


# direction -> (archive / folder name, flow file prefix, step from frame 1 to frame 2)
_DIRECTIONS = {"forward": ("forwardFlow", "flow", 1), "backward": ("backwardFlow", "backwardFlow", -1)}


class VirtualKITTI2(FlowDataset):
    """Virtual KITTI 2: 1242x375 ``.jpg`` frames and 16-bit ``.png`` flow (:func:`read_vkitti2_flow`)
    for every scene, variation and camera under the root.

    Args:
        root: the folder holding the unpacked ``vkitti_2.0.3_rgb``, ``_forwardFlow`` and
            ``_backwardFlow`` archives (or one merged ``Scene*/`` tree).
        directions: ``"forward"`` (frame N -> N + 1, ``flow_N.png``) and/or ``"backward"`` (N -> N - 1,
            ``backwardFlow_N.png``).
        cameras: from ``"Camera_0"`` (left) and ``"Camera_1"`` (right).
    """

    name = "vkitti2"

    def __init__(self, root: PathLike, directions: Sequence[str] = ("forward", "backward"),
                 cameras: Sequence[str] = ("Camera_0", "Camera_1"), transform: Transform | None = None) -> None:
        if not directions or not set(directions) <= set(_DIRECTIONS):
            raise ValueError(f"VirtualKITTI2 directions must be among 'forward', 'backward', got {directions!r}")
        if not cameras or not set(cameras) <= {"Camera_0", "Camera_1"}:
            raise ValueError(f"VirtualKITTI2 cameras must be among 'Camera_0', 'Camera_1', got {cameras!r}")
        root = require(Path(root), "Virtual KITTI 2", VKITTI2_LAYOUT, VKITTI2_SOURCE)
        rgb = _tree(root, "rgb")
        variations = sorted(p for p in rgb.glob("Scene*/*") if (p / "frames" / "rgb").is_dir())
        if not variations:
            raise none_found(rgb, "Virtual KITTI 2", "Scene*/<variation>/frames/rgb folders", VKITTI2_LAYOUT,
                             VKITTI2_SOURCE)
        samples = []
        for variation in variations:
            scene = variation.relative_to(rgb)
            for camera in cameras:
                folder = variation / "frames" / "rgb" / camera
                frames = numbered(folder.glob("rgb_*.jpg"), r"rgb_(\d+)\.jpg")
                check_contiguous(frames, lambda n, at=folder: at / f"rgb_{n:05d}.jpg", "Virtual KITTI 2", VKITTI2_LAYOUT,
                                 VKITTI2_SOURCE)
                for direction in directions:
                    folder, prefix, step = _DIRECTIONS[direction]
                    flows = _tree(root, folder) / scene / "frames" / folder / camera
                    samples += [FlowSample(frames[n], frames[n + step], flows / f"{prefix}_{n:05d}.png",
                                           f"{scene.as_posix()}/{camera}/{direction}", n)
                                for n in sorted(frames) if n + step in frames]
        check_complete(samples, "Virtual KITTI 2", VKITTI2_LAYOUT, VKITTI2_SOURCE)
        super().__init__(samples, transform)

    def read_ground_truth(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        return read_vkitti2_flow(path)


declare(FlowFamily("vkitti2", "VirtualKITTI2", names={"vkitti2": FlowName(
    lambda root, training, options: [VirtualKITTI2(root, **options) if training else
                                     VirtualKITTI2(root, **{"directions": ("forward",), "cameras": ("Camera_0",),
                                                            **options})],
    "Virtual KITTI 2, every scene / variation / camera, both directions", "Camera_0, forward",
    FlowProtocol("vkitti2-train", POOLED))}))
