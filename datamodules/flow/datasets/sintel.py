"""MPI Sintel (Butler et al. 2012): clean and final passes, occlusion and invalid maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.datamodules.flow.datasets.base import (
    DatasetNotFoundError,
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    check_numbered,
    consecutive_pairs,
    layout_error,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import (
    OCCLUSION_SPLIT,
    Builder,
    DataSource,
    FlowFamily,
    FlowName,
    FlowProtocol,
    declare,
)
from zoo.datamodules.flow.formats import read_image

__all__ = ["Sintel"]


SINTEL_LAYOUT = """\
  training/clean/alley_1/frame_0001.png ...   training/final/...   (test/clean, test/final likewise)
  training/flow/alley_1/frame_0001.flo ...
  training/occlusions/alley_1/frame_0001.png ...
  training/invalid/alley_1/frame_0001.png ...   (optional)"""
SINTEL_SOURCE = "http://sintel.is.tue.mpg.de/downloads (MPI-Sintel-complete.zip)"


class Sintel(FlowDataset):
    """MPI Sintel (Butler et al. 2012): 1,041 training pairs in 23 scenes and 552 test pairs, 436x1024.

    ``valid`` is every pixel except those of the release's invalid-pixel maps,
    ``training/invalid/<scene>/frame_NNNN.png`` (binary images, non-zero = invalid pixel, as the
    dataset's README defines them); without a ``training/invalid`` folder every pixel is valid.

    Args:
        root: the unpacked ``MPI-Sintel-complete`` folder (holding ``training`` and ``test``).
        split: ``"training"`` (with ``.flo`` flow and occlusion masks) or ``"test"`` (no flow).
        pass_: ``"clean"`` or ``"final"``.
        scenes: keep only these scene names (e.g. for a validation split); None keeps all.
    """

    name = "sintel"

    def __init__(
        self,
        root: PathLike,
        split: str = "training",
        pass_: str = "clean",
        scenes: Sequence[str] | None = None,
        transform: Transform | None = None,
    ) -> None:
        if split not in ("training", "test"):
            raise ValueError(f"Sintel split must be 'training' or 'test', got {split!r}")
        if pass_ not in ("clean", "final"):
            raise ValueError(f"Sintel pass must be 'clean' or 'final', got {pass_!r}")
        root = Path(root)
        self.name = f"sintel-{pass_}"
        frames_root = require(root / split / pass_, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE)
        flow_root = require(root / split / "flow", "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE) if split == "training" else None
        self.occlusion_root = root / split / "occlusions"
        self.invalid_root = root / split / "invalid"
        folders = sorted(p for p in frames_root.iterdir() if p.is_dir() and (scenes is None or p.name in scenes))
        if scenes is not None and {p.name for p in folders} != set(scenes):
            raise DatasetNotFoundError(f"MPI Sintel: scenes {sorted(set(scenes) - {p.name for p in folders})} are not in {frames_root}")
        if flow_root is not None and scenes is None:
            _check_scenes(frames_root, flow_root)
        samples = []
        for folder in folders:
            frames = _scene_frames(folder, None if flow_root is None else flow_root / folder.name)
            for frame, first, second in consecutive_pairs(frames):
                flow = None if flow_root is None else flow_root / folder.name / f"frame_{frame:04d}.flo"
                samples.append(FlowSample(first, second, flow, folder.name, frame))
        if not samples:
            raise none_found(frames_root, "MPI Sintel", "frame pairs", SINTEL_LAYOUT, SINTEL_SOURCE)
        check_complete(samples, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE)
        super().__init__(samples, transform)

    @property
    def has_occlusions(self) -> bool:
        """Whether the tree holds the occlusion maps (``<split>/occlusions``; some downloads leave them out)."""
        return self.occlusion_root.is_dir()

    def occlusion(self, index: int) -> np.ndarray:
        """bool (H, W): pixels of frame 1 occluded in frame 2 (training split only)."""
        sample = self.samples[index]
        path = self.occlusion_root / sample.sequence / f"frame_{sample.frame:04d}.png"
        return read_image(require(path, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE))[..., 0] > 0.5

    def excluded_pixels(self, index: int) -> np.ndarray | None:
        """bool (H, W): the invalid-pixel map of pair ``index`` (None without ``training/invalid``)."""
        if not self.invalid_root.is_dir():
            return None
        sample = self.samples[index]
        path = self.invalid_root / sample.sequence / f"frame_{sample.frame:04d}.png"
        return read_image(require(path, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE))[..., 0] > 0


def _scene_frames(folder: Path, flow_folder: Path | None) -> dict[int, Path]:
    """``{number: frame}`` of one scene, whose frames must be numbered without a gap (a deleted
    frame would drop its two pairs) and, on the training split, match its flow files: frames
    ``first..last`` for the flows ``first..last - 1`` (a deleted first or last frame would drop a
    pair)."""
    frames = numbered(folder.glob("frame_*.png"), r"frame_(\d+)\.png")
    if not frames:
        return frames
    first, last = min(frames), max(frames)
    if flow_folder is not None:
        flows = numbered(flow_folder.glob("frame_*.flo"), r"frame_(\d+)\.flo")
        if flows:
            first, last = min(first, min(flows)), max(last, max(flows) + 1)
    check_numbered(frames, range(first, last + 1), lambda n: folder / f"frame_{n:04d}.png", "MPI Sintel",
                   SINTEL_LAYOUT, SINTEL_SOURCE, problem=f"scene {folder}")
    return frames


def _check_scenes(frames_root: Path, flow_root: Path) -> None:
    """Every scene of the training flow is among the frames' scenes (a deleted scene folder
    would leave a set that is not the benchmark's under its name)."""
    scenes = {p.name for p in frames_root.iterdir() if p.is_dir()}
    missing = sorted(p.name for p in flow_root.iterdir() if p.is_dir() and p.name not in scenes)
    if missing:
        raise layout_error("MPI Sintel", f"{frames_root} lacks the scenes {', '.join(missing)} that {flow_root} holds "
                           f"(incomplete download or deleted folders?)", SINTEL_LAYOUT, SINTEL_SOURCE)


def _sintel(passes: tuple[str, ...]) -> Builder:
    return lambda root, training, options: [Sintel(root, "training", p, **options) for p in passes]


declare(FlowFamily(
    "sintel", "MPI-Sintel-complete",
    names={
        "sintel": FlowName(_sintel(("clean", "final")), "Sintel training, clean + final", "Sintel training, clean + final"),
        "sintel-clean": FlowName(_sintel(("clean",)), "Sintel training, clean pass", "the same",
                                 FlowProtocol("sintel-clean-train", OCCLUSION_SPLIT)),
        "sintel-final": FlowName(_sintel(("final",)), "Sintel training, final pass", "the same",
                                 FlowProtocol("sintel-final-train", OCCLUSION_SPLIT)),
    },
    source=DataSource(
        urls=(
            "http://files.is.tue.mpg.de/sintel/MPI-Sintel-complete.zip",
            "http://sintel.cs.washington.edu/MPI-Sintel-complete.zip",
        ),
        sha256=None,
        present="training/flow",
    ),
))
