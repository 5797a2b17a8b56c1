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
    consecutive_pairs,
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
        samples = []
        for folder in folders:
            for frame, first, second in consecutive_pairs(numbered(folder.glob("frame_*.png"), r"frame_(\d+)\.png")):
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
