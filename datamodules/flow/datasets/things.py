"""FlyingThings3D (Mayer et al. 2016, the subset used for optical flow) in its release layout."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.datamodules.files.atomic import write_atomic
from zoo.datamodules.files.cache import cache_root
from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    consecutive_pairs,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import Builder, FlowFamily, FlowName, declare
from zoo.datamodules.flow.formats import read_flow

__all__ = ["FlyingThings3D"]


THINGS_LAYOUT = """\
  frames_cleanpass/TRAIN/A/0000/left/0006.png ...      (and frames_finalpass; TRAIN and TEST; A, B, C)
  optical_flow/TRAIN/A/0000/into_future/left/OpticalFlowIntoFuture_0006_L.pfm
  optical_flow/TRAIN/A/0000/into_past/left/OpticalFlowIntoPast_0007_L.pfm
  all_unused_files.txt   (optional: the frames the dataset's authors advise against using)"""
THINGS_SOURCE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/SceneFlowDatasets.en.html"


class FlyingThings3D(FlowDataset):
    """FlyingThings3D (Mayer et al. 2016), the full release, 540x960 ``.png`` frames and ``.pfm`` flow.

    The defaults give the "things" fine-tuning set of FlowNet2 / PWC-Net: the TRAIN split, both
    render passes, left camera, both directions, without the frames listed in the release's
    ``all_unused_files.txt`` (scenes with extreme motion or rendering problems the authors advise
    against). ``max_flow`` additionally drops pairs whose flow exceeds that many pixels in any
    component or is not finite (NVIDIA's PWC-Net/SENSE training code uses 500; ``None`` keeps
    all). That needs every flow file's maximum once: it is scanned on first use and remembered
    in ``max_flow_index`` (default: a JSON file in the zoo cache).

    Args:
        root: the folder holding ``frames_cleanpass``, ``frames_finalpass`` and ``optical_flow``.
        split: ``"train"`` (TRAIN) or ``"test"`` (TEST).
        passes: render passes, from ``"clean"`` and ``"final"``.
        directions: ``"future"`` (frame t -> t+1) and/or ``"past"`` (t+1 -> t).
        camera: ``"left"`` or ``"right"``.
    """

    name = "things"

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        passes: Sequence[str] = ("clean", "final"),
        directions: Sequence[str] = ("future", "past"),
        camera: str = "left",
        exclude_unused: bool = True,
        max_flow: float | None = None,
        max_flow_index: PathLike | None = None,
        transform: Transform | None = None,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"FlyingThings3D split must be 'train' or 'test', got {split!r}")
        if not set(passes) <= {"clean", "final"} or not passes:
            raise ValueError(f"FlyingThings3D passes must be among 'clean', 'final', got {passes!r}")
        if not set(directions) <= {"future", "past"} or not directions:
            raise ValueError(f"FlyingThings3D directions must be among 'future', 'past', got {directions!r}")
        if camera not in ("left", "right"):
            raise ValueError(f"FlyingThings3D camera must be 'left' or 'right', got {camera!r}")
        root = Path(root)
        split_dir = split.upper()
        flow_root = require(root / "optical_flow" / split_dir, "FlyingThings3D", THINGS_LAYOUT, THINGS_SOURCE)
        unused = _unused_frames(root / "all_unused_files.txt") if exclude_unused else set()
        suffix = camera[0].upper()
        samples = []
        for pass_ in passes:
            frames_root = require(root / f"frames_{pass_}pass" / split_dir, "FlyingThings3D", THINGS_LAYOUT, THINGS_SOURCE)
            sequences = sorted(p for p in frames_root.glob(f"*/*/{camera}") if p.is_dir())
            if not sequences:
                raise none_found(frames_root, "FlyingThings3D", f"*/*/{camera} folders", THINGS_LAYOUT, THINGS_SOURCE)
            for folder in sequences:
                letter, number = folder.parent.parent.name, folder.parent.name
                frames = numbered(folder.glob("*.png"), r"(\d+)\.png")
                frames = {f: p for f, p in frames.items() if f"{split_dir}/{letter}/{number}/{camera}/{f:04d}" not in unused}
                flows = flow_root / letter / number
                for frame, first, second in consecutive_pairs(frames):
                    sequence = f"{pass_}/{split_dir}/{letter}/{number}"
                    if "future" in directions:
                        flow = flows / "into_future" / camera / f"OpticalFlowIntoFuture_{frame:04d}_{suffix}.pfm"
                        samples.append(FlowSample(first, second, flow, sequence, frame))
                    if "past" in directions:
                        flow = flows / "into_past" / camera / f"OpticalFlowIntoPast_{frame + 1:04d}_{suffix}.pfm"
                        samples.append(FlowSample(second, first, flow, sequence, frame + 1))
        if max_flow is not None:
            maxima = _flow_maxima(sorted({s.flow for s in samples}), max_flow_index)
            samples = [s for s in samples if maxima[str(s.flow)] <= max_flow]
        super().__init__(samples, transform)


def _unused_frames(path: Path) -> set[str]:
    """``"TRAIN/A/0000/left/0006"`` keys of the frames ``all_unused_files.txt`` lists (empty if absent)."""
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        match = re.search(r"(TRAIN|TEST)/([ABC])/(\d+)/(left|right)/(\d+)\.png", line)
        if match:
            split, letter, number, camera, frame = match.groups()
            keys.add(f"{split}/{letter}/{number}/{camera}/{int(frame):04d}")
    return keys


def _flow_maxima(paths: Sequence[Path], index_file: PathLike | None) -> dict[str, float]:
    """The largest absolute flow component of each file (inf for non-finite flow), cached in JSON."""
    if index_file is None:
        index_file = cache_root() / "datasets" / "flow_maxima.json"
    index_file = Path(index_file)
    known = json.loads(index_file.read_text()) if index_file.exists() else {}
    missing = [p for p in paths if str(p) not in known]
    for path in missing:
        flow, valid = read_flow(path)
        known[str(path)] = float(np.abs(flow).max()) if valid.all() else float("inf")
    if missing:
        write_atomic(index_file, json.dumps(known).encode())
    return known


def _things(passes: tuple[str, ...]) -> Builder:
    def build(root: Path, training: bool, options: dict) -> list[FlyingThings3D]:
        if training:
            return [FlyingThings3D(root, "train", passes=passes, **options)]
        return [FlyingThings3D(root, "test", passes=passes, **{"directions": ("future",), **options})]

    return build


declare(FlowFamily("things", "FlyingThings3D", names={
    "things": FlowName(_things(("clean", "final")), "FlyingThings3D TRAIN, clean + final, both ways",
                       "TEST, clean + final, future"),
    "things-clean": FlowName(_things(("clean",)), "FlyingThings3D TRAIN, clean pass, both ways", "TEST, clean pass, future"),
    "things-final": FlowName(_things(("final",)), "FlyingThings3D TRAIN, final pass, both ways", "TEST, final pass, future"),
}))
