"""What Monkaa and Driving share, the Scene Flow datasets (Mayer et al. CVPR 2016) beside FlyingThings3D:
``frames_{clean,final}pass/<sequence>/<camera>/NNNN.png`` and
``optical_flow/<sequence>/into_{future,past}/<camera>/OpticalFlowInto{Future,Past}_NNNN_{L,R}.pfm``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

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

__all__ = ["SceneFlowSequences"]

SCENE_FLOW_SOURCE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/SceneFlowDatasets.en.html"

# direction -> (folder, file name word, step from frame 1 to frame 2)
_DIRECTIONS = {"future": ("into_future", "Future", 1), "past": ("into_past", "Past", -1)}


class SceneFlowSequences(FlowDataset):
    """A Scene Flow set of ``.png`` frames and ``.pfm`` flow in both directions; subclasses name the
    set (``title``), the depth of its sequence folders (``sequence_pattern``) and its layout.

    Args:
        root: the folder holding ``frames_cleanpass``, ``frames_finalpass`` and ``optical_flow``.
        passes: from ``"clean"`` and ``"final"``.
        directions: ``"future"`` (frame N -> N + 1) and/or ``"past"`` (N -> N - 1).
        cameras: from ``"left"`` and ``"right"``.
    """

    title: ClassVar[str]
    sequence_pattern: ClassVar[str]  # glob of the sequence folders under frames_<pass>pass
    layout: ClassVar[str]

    def __init__(self, root: PathLike, passes: Sequence[str] = ("clean", "final"),
                 directions: Sequence[str] = ("future", "past"), cameras: Sequence[str] = ("left",),
                 transform: Transform | None = None) -> None:
        for what, given, allowed in (("passes", passes, ("clean", "final")), ("directions", directions, tuple(_DIRECTIONS)),
                                     ("cameras", cameras, ("left", "right"))):
            if not given or not set(given) <= set(allowed):
                raise ValueError(f"{self.title} {what} must be among {allowed}, got {given!r}")
        root = Path(root)
        flow_root = require(root / "optical_flow", self.title, self.layout, SCENE_FLOW_SOURCE)
        samples = []
        for pass_ in passes:
            frames_root = require(root / f"frames_{pass_}pass", self.title, self.layout, SCENE_FLOW_SOURCE)
            sequences = sorted(p for p in frames_root.glob(self.sequence_pattern) if p.is_dir())
            if not sequences:
                raise none_found(frames_root, self.title, f"{self.sequence_pattern} sequence folders", self.layout,
                                 SCENE_FLOW_SOURCE)
            for folder in sequences:
                sequence = folder.relative_to(frames_root)
                for camera in cameras:
                    frames = numbered((folder / camera).glob("*.png"), r"(\d+)\.png")
                    check_contiguous(frames, lambda n, at=folder / camera: at / f"{n:04d}.png", self.title, self.layout,
                                     SCENE_FLOW_SOURCE)
                    for direction in directions:
                        subfolder, word, step = _DIRECTIONS[direction]
                        flows = flow_root / sequence / subfolder / camera
                        samples += [FlowSample(frames[n], frames[n + step],
                                               flows / f"OpticalFlowInto{word}_{n:04d}_{camera[0].upper()}.pfm",
                                               f"{pass_}/{sequence.as_posix()}/{camera}/{direction}", n)
                                    for n in sorted(frames) if n + step in frames]
        check_complete(samples, self.title, self.layout, SCENE_FLOW_SOURCE)
        super().__init__(samples, transform)
