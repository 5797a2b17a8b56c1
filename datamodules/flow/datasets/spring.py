"""Spring (Mehl et al. CVPR 2023): stereo video at 1920x1080 with optical flow at twice that resolution.

Layout facts, each from the benchmark's own material (cv-stuttgart/springwebsite, its FAQ and
evaluation code; the authors' loader, cv-stuttgart/spring_utils ``dataloader.py``; cv-stuttgart/flow_library
``flow_IO.py``) and the readers of ptlflow 0.4.2 (``SpringDataset``) and SEA-RAFT (``SpringFlowDataset``):

- ``<split>/<scene>/frame_<camera>/frame_<camera>_<NNNN>.png``: split ``train`` or ``test``, scenes
  named by four digits, cameras ``left`` and ``right``, frames numbered from 1;
- ``train/<scene>/flow_FW_<camera>/flow_FW_<camera>_<NNNN>.flo5``: the flow from frame NNNN to
  NNNN + 1, and ``flow_BW_<camera>_<NNNN>.flo5`` the flow from frame NNNN to NNNN - 1 (the test
  split has none);
- ``.flo5``: HDF5, dataset ``flow``, float (2H, 2W, 2): the ground truth has twice the frames'
  resolution in each direction; frame pixel (i, j) owns the four values at rows 2i, 2i + 1 and
  columns 2j, 2j + 1, and the vectors are in frame (full HD) pixels, not 4K ones (Spring FAQ);
  NaN marks the rare pixels without ground truth, which the benchmark ignores.

Composition name ``spring``: training on every training scene but :data:`SPRING_HELD_OUT` (both
cameras, both directions), validation on those scenes with the full ground truth;
``dataset_options={"spring": {"held_out": [...]}}`` holds out others, ``[]`` none (then the
validation set is the whole training set). ``zoo eval --data spring`` (record key ``spring-val``)
scores a prediction at frame resolution as the Spring benchmark scores its test split
(cv-stuttgart/springwebsite, ``springeval/management/commands/evaluation.py``, ``get_errors_flow``):
each pixel is compared with the four values of its 2x2 block, its end-point error is the smallest
of the four, the flow length in Fl the largest; a pixel counts only if all four are finite (the
benchmark's ``np.min`` passes a NaN on and ``nanmean`` drops it); ``epe``, ``1px`` (EPE > 1 px),
``fl-all`` (EPE > 3 px and > 5 % of the length) and ``wauc`` (EPE <= delta_i) are pooled over every
counted pixel of every pair. The benchmark pools over a fixed random sample of about 1/40 of each
test pair's pixels plus ten whole "hero" pairs, from withheld random numbers; here the whole pairs
are scored (all pairs have the same size, so each weighs the same).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.datamodules.flow.datasets.base import (
    DatasetNotFoundError,
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    check_contiguous,
    consecutive_pairs,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import FlowFamily, FlowName, FlowProtocol, declare
from zoo.datamodules.flow.formats import read_flo5, read_image

__all__ = ["SPRING_HELD_OUT", "SPRING_TEST_FRAMES", "Spring", "SpringSample", "ground_truth_blocks"]

SPRING_LAYOUT = """\
  train/0001/frame_left/frame_left_0001.png ...   (frame_right/ likewise; test/<scene>/ the same, without flow)
  train/0001/flow_FW_left/flow_FW_left_0001.flo5 ...   (frame 1 -> 2; flow_BW_left/flow_BW_left_0002.flo5: 2 -> 1)"""
SPRING_SOURCE = "https://spring-benchmark.org (download: https://doi.org/10.18419/DARUS-3376)"
CAMERAS = ("left", "right")
DIRECTIONS = ("FW", "BW")
#: Training scenes held out for validation: SEA-RAFT's "subval" (princeton-vl/SEA-RAFT issue #10,
#: paper sec. 4.3). ptlflow 0.4.2 holds none out (its ``val`` split is the whole training set).
SPRING_HELD_OUT = ("0045", "0047")
#: The test scenes and their frame counts, as the benchmark's subsampling tool reads them
#: (springwebsite ``subsampling/flow_subsampling.cpp``): 3,960 flows in all.
SPRING_TEST_FRAMES = {"0003": 131, "0019": 111, "0028": 39, "0029": 135, "0031": 73, "0034": 47, "0035": 120,
                      "0040": 111, "0042": 116, "0046": 117}


@dataclass(frozen=True, kw_only=True)
class SpringSample(FlowSample):
    """A Spring pair: ``frame`` is the first frame's number, ``direction`` ``"FW"`` (to ``frame + 1``)
    or ``"BW"`` (to ``frame - 1``)."""

    camera: str
    direction: str


class Spring(FlowDataset):
    """Spring: training scenes and 10 test scenes, both cameras, forward and backward flow.

    Pairs come scene by scene, camera by camera, forward pairs by ascending frame and then
    backward pairs by descending frame (the benchmark's own order).

    Items (module docstring of :mod:`zoo.datamodules.flow.datasets`): ``flow`` is the ground truth
    at the frames' resolution, the value at the top-left of each pixel's 2x2 block (what
    the authors' loader's ``subsample_groundtruth``, ptlflow's ``subsample`` and SEA-RAFT train on), ``valid`` where it
    is finite. With ``full_ground_truth`` items also hold ``flow_blocks``, float32 (4, 2, H, W): the
    four values of every pixel's block in the benchmark's order (rows 2i, 2i + 1 at column 2j, then
    at 2j + 1), and ``valid`` marks the pixels whose four values are all finite, the pixels the
    benchmark scores (its ``np.min`` over the four lets a NaN through, and ``nanmean`` drops them).

    Args:
        root: the folder holding ``train`` (and ``test``).
        split: ``"train"`` or ``"test"`` (no flow).
        cameras: any of ``"left"``, ``"right"``.
        directions: any of ``"FW"``, ``"BW"``.
        scenes: keep only these scenes (four-digit names); None keeps all.
        exclude_scenes: leave these scenes out (e.g. :data:`SPRING_HELD_OUT` for training).
        full_ground_truth: add ``flow_blocks`` (for the benchmark's evaluation).
    """

    name = "spring"

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        cameras: Sequence[str] = CAMERAS,
        directions: Sequence[str] = DIRECTIONS,
        scenes: Sequence[str] | None = None,
        exclude_scenes: Sequence[str] = (),
        full_ground_truth: bool = False,
        transform: Transform | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"Spring split must be 'train' or 'test', got {split!r}")
        for argument, values, known in (("cameras", cameras, CAMERAS), ("directions", directions, DIRECTIONS)):
            if not values or set(values) - set(known):
                raise ValueError(f"Spring {argument} must be a non-empty subset of {known}, got {values!r}")
        self.full_ground_truth = full_ground_truth
        base = require(Path(root) / split, "Spring", SPRING_LAYOUT, SPRING_SOURCE)
        folders = sorted(p for p in base.iterdir() if p.is_dir() and p.name not in exclude_scenes
                         and (scenes is None or p.name in scenes))
        if scenes is not None and {p.name for p in folders} != set(scenes) - set(exclude_scenes):
            raise DatasetNotFoundError(f"Spring: scenes {sorted(set(scenes) - {p.name for p in folders})} are not in {base}")
        samples = [sample for folder in folders for camera in cameras for direction in directions
                   for sample in _scene_pairs(folder, camera, direction, with_flow=split == "train")]
        if not samples:
            raise none_found(base, "Spring", "frame pairs", SPRING_LAYOUT, SPRING_SOURCE)
        check_complete(samples, "Spring", SPRING_LAYOUT, SPRING_SOURCE)
        super().__init__(samples, transform)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image1, image2 = read_image(sample.image1), read_image(sample.image2)
        if sample.flow is None:
            return self.item(sample, image1, image2, np.zeros((*image1.shape[:2], 2), np.float32),
                             np.zeros(image1.shape[:2], bool))
        blocks = ground_truth_blocks(sample.flow, image1.shape[:2])
        finite = np.isfinite(blocks).all(axis=3)
        valid = finite.all(axis=0) if self.full_ground_truth else finite[0]
        flow = np.where(valid[..., None], blocks[0], 0).astype(np.float32)
        extra = {}
        if self.full_ground_truth:
            blocks = np.where(finite[..., None], blocks, 0).astype(np.float32)
            extra["flow_blocks"] = torch.from_numpy(np.ascontiguousarray(blocks.transpose(0, 3, 1, 2)))
        return self.item(sample, image1, image2, flow, valid, **extra)


def ground_truth_blocks(path: Path, frame_size: tuple[int, int]) -> np.ndarray:
    """float32 (4, H, W, 2): the four ground-truth values of each frame pixel from the ``.flo5``
    file ``path`` of (2H, 2W), in the order (2i, 2j), (2i + 1, 2j), (2i, 2j + 1), (2i + 1, 2j + 1);
    NaN where the file has none."""
    flow, _ = read_flo5(path)
    height, width = frame_size
    if flow.shape[:2] != (2 * height, 2 * width):
        raise ValueError(f"{path}: Spring ground truth must be {2 * height}x{2 * width} (twice the frames' "
                         f"{height}x{width}), the file holds {flow.shape[0]}x{flow.shape[1]}")
    return np.stack([flow[0::2, 0::2], flow[1::2, 0::2], flow[0::2, 1::2], flow[1::2, 1::2]])


def _scene_pairs(folder: Path, camera: str, direction: str, with_flow: bool) -> list[SpringSample]:
    """The pairs of one scene, camera and direction (forward by ascending frame, backward descending)."""
    frames_dir = require(folder / f"frame_{camera}", "Spring", SPRING_LAYOUT, SPRING_SOURCE)
    frames = numbered(frames_dir.glob(f"frame_{camera}_*.png"), rf"frame_{camera}_(\d+)\.png")
    check_contiguous(frames, lambda n: frames_dir / f"frame_{camera}_{n:04d}.png", "Spring", SPRING_LAYOUT, SPRING_SOURCE)
    if direction == "FW":
        pairs = consecutive_pairs(frames)
    else:
        pairs = [(f, frames[f], frames[f - 1]) for f in sorted(frames, reverse=True) if f - 1 in frames]
    flow_dir = folder / f"flow_{direction}_{camera}"
    return [SpringSample(first, second, flow_dir / f"flow_{direction}_{camera}_{frame:04d}.flo5" if with_flow else None,
                         folder.name, frame, camera=camera, direction=direction)
            for frame, first, second in pairs]


def _build(root: Path, training: bool, options: dict) -> list[Spring]:
    """Training: every training scene but the held-out ones; validation: the held-out scenes with
    the full 2x ground truth (every training scene when none is held out)."""
    options = dict(options)
    held_out = tuple(options.pop("held_out", SPRING_HELD_OUT))
    if training:
        return [Spring(root, "train", exclude_scenes=held_out, **options)]
    return [Spring(root, "train", scenes=held_out or None, full_ground_truth=True, **options)]


declare(FlowFamily("spring", "spring", names={"spring": FlowName(
    _build, "Spring train but scenes 0045, 0047; both cameras, both directions",
    "scenes 0045, 0047 (SEA-RAFT's subval), 2x ground truth",
    FlowProtocol("spring-val", (("epe", "pixel"), ("1px", "pixel"), ("fl-all", "pixel"), ("wauc", "pixel"))))}))
