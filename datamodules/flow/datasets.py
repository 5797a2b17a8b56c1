"""The standard optical-flow datasets, read from their published on-disk layouts.

Every dataset is a ``torch.utils.data.Dataset`` of dicts:

- ``image1``, ``image2``: float32 (3, H, W) RGB in [0, 1];
- ``flow``: float32 (2, H, W), pixels, frame 1 -> frame 2 (zeros where there is no ground truth);
- ``valid``: bool (H, W), pixels with ground truth (all False for test splits);
- ``meta``: ``{"dataset": str, "sequence": str, "frame": int, "paths": (image1, image2, flow)}``
  with the flow path ``""`` when there is none.

An optional ``transform`` (e.g. :class:`datamodules.flow.augment.FlowAugmentation`) maps each
item dict to a new one. ``sparse`` tells whether the ground truth is sparse (KITTI, HD1K), which
resizing must respect.

A missing or incomplete folder raises :class:`DatasetNotFoundError` naming the folder, the layout
expected and where the data is published; :mod:`datamodules.flow.sources` downloads the sets that
have a public archive.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from datamodules.files.atomic import write_atomic
from datamodules.files.cache import cache_root
from datamodules.flow.formats import read_flow, read_image

__all__ = [
    "DatasetNotFoundError",
    "FlowSample",
    "FlowDataset",
    "FlyingChairs",
    "FlyingThings3D",
    "Sintel",
    "KITTI",
    "HD1K",
]

_PathLike = str | os.PathLike
Transform = Callable[[dict], dict]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder that is missing or lacks part of its published layout."""


@dataclass(frozen=True)
class FlowSample:
    """One pair on disk: the two frames, the flow file (None for test splits), where it comes from."""

    image1: Path
    image2: Path
    flow: Path | None
    sequence: str
    frame: int


class FlowDataset(Dataset):
    """A list of :class:`FlowSample` read into item dicts (see the module docstring)."""

    name = "flow"
    sparse = False

    def __init__(self, samples: Sequence[FlowSample], transform: Transform | None = None) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image1, image2 = read_image(sample.image1), read_image(sample.image2)
        if sample.flow is None:
            flow = np.zeros((*image1.shape[:2], 2), np.float32)
            valid = np.zeros(image1.shape[:2], bool)
        else:
            flow, valid = read_flow(sample.flow)
            excluded = self.excluded_pixels(index)
            if excluded is not None:
                if excluded.shape != valid.shape:
                    raise ValueError(f"{self.name} pair {sample.image1.name}: the mask of excluded pixels is "
                                     f"{excluded.shape}, the flow {valid.shape}")
                valid = valid & ~excluded
            flow = np.where(valid[..., None], flow, 0).astype(np.float32)
        if not image1.shape == image2.shape == (*flow.shape[:2], 3):
            raise ValueError(
                f"{self.name} pair {sample.image1.name}: frame sizes {image1.shape[:2]}, {image2.shape[:2]} "
                f"and flow size {flow.shape[:2]} differ"
            )
        item = {
            "image1": _chw(image1),
            "image2": _chw(image2),
            "flow": _chw(flow),
            "valid": torch.from_numpy(valid),
            "meta": {
                "dataset": self.name,
                "sequence": sample.sequence,
                "frame": sample.frame,
                "paths": (str(sample.image1), str(sample.image2), str(sample.flow or "")),
            },
        }
        return self.transform(item) if self.transform is not None else item

    def excluded_pixels(self, index: int) -> np.ndarray | None:
        """bool (H, W): pixels of pair ``index`` whose ground truth the dataset marks unusable
        (left out of ``valid``), or None where it marks none."""
        return None


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def _layout_error(dataset: str, problem: str, layout: str, source: str) -> DatasetNotFoundError:
    """The error for a missing or incomplete dataset: what is wrong, the layout expected, where to get it."""
    return DatasetNotFoundError(f"{dataset}: {problem}.\nExpected layout under the dataset root:\n{layout}\nThe data is published at {source}.")


def _require(path: Path, dataset: str, layout: str, source: str) -> Path:
    """``path`` if it exists, else a :class:`DatasetNotFoundError` that explains what is expected."""
    if not path.exists():
        raise _layout_error(dataset, f"{path} does not exist", layout, source)
    return path


def _none_found(folder: Path, dataset: str, what: str, layout: str, source: str) -> DatasetNotFoundError:
    return _layout_error(dataset, f"no {what} found under {folder} (incomplete download?)", layout, source)


def _check_complete(samples: Sequence[FlowSample], dataset: str, layout: str, source: str) -> None:
    """Raise :class:`DatasetNotFoundError` listing files of ``samples`` that do not exist."""
    missing = [p for s in samples for p in (s.image1, s.image2, s.flow) if p is not None and not p.exists()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        problem = f"{len(missing)} file(s) of the layout are missing (incomplete download?), e.g. {shown}"
        raise _layout_error(dataset, problem, layout, source)


def _consecutive_pairs(frames: dict[int, Path]) -> list[tuple[int, Path, Path]]:
    """(frame, path of frame, path of frame + 1) for every frame whose successor exists."""
    return [(f, frames[f], frames[f + 1]) for f in sorted(frames) if f + 1 in frames]


def _numbered(paths, pattern: str) -> dict[int, Path]:
    """``{number: path}`` for the paths whose name matches ``pattern`` (one integer group)."""
    out = {}
    for path in paths:
        match = re.fullmatch(pattern, path.name)
        if match:
            out[int(match.group(1))] = path
    return out


# --- FlyingChairs ----------------------------------------------------------------------------------

CHAIRS_LAYOUT = """\
  data/00001_img1.ppm, data/00001_img2.ppm, data/00001_flow.flo, ... (22,872 pairs)
  FlyingChairs_train_val.txt   (one line per pair: 1 = train, 2 = validation)"""
CHAIRS_SOURCE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs.en.html"


class FlyingChairs(FlowDataset):
    """FlyingChairs (Dosovitskiy et al. 2015): 22,872 pairs of 384x512, ``.ppm`` frames and ``.flo`` flow.

    Args:
        root: the unpacked ``FlyingChairs_release`` folder.
        split: ``"train"`` (22,232 pairs) or ``"val"`` (640) by the official
            ``FlyingChairs_train_val.txt``, or ``"all"``.
    """

    name = "chairs"

    def __init__(self, root: _PathLike, split: str = "train", transform: Transform | None = None) -> None:
        if split not in ("train", "val", "all"):
            raise ValueError(f"FlyingChairs split must be 'train', 'val' or 'all', got {split!r}")
        root = Path(root)
        data = _require(root / "data", "FlyingChairs", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        flows = _numbered(data.glob("*_flow.flo"), r"(\d+)_flow\.flo")
        if not flows:
            raise _none_found(data, "FlyingChairs", "*_flow.flo files", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        numbers = sorted(flows)
        if split != "all":
            split_file = _require(root / "FlyingChairs_train_val.txt", "FlyingChairs", CHAIRS_LAYOUT, CHAIRS_SOURCE)
            labels = split_file.read_text().split()
            if len(labels) != len(numbers):
                problem = f"{split_file} lists {len(labels)} pairs but {data} holds {len(numbers)} flow files (incomplete download?)"
                raise _layout_error("FlyingChairs", problem, CHAIRS_LAYOUT, CHAIRS_SOURCE)
            wanted = "1" if split == "train" else "2"
            numbers = [n for n, label in zip(numbers, labels) if label == wanted]
        samples = [
            FlowSample(data / f"{n:05d}_img1.ppm", data / f"{n:05d}_img2.ppm", flows[n], "chairs", n) for n in numbers
        ]
        _check_complete(samples, "FlyingChairs", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        super().__init__(samples, transform)


# --- FlyingThings3D --------------------------------------------------------------------------------

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
        root: _PathLike,
        split: str = "train",
        passes: Sequence[str] = ("clean", "final"),
        directions: Sequence[str] = ("future", "past"),
        camera: str = "left",
        exclude_unused: bool = True,
        max_flow: float | None = None,
        max_flow_index: _PathLike | None = None,
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
        flow_root = _require(root / "optical_flow" / split_dir, "FlyingThings3D", THINGS_LAYOUT, THINGS_SOURCE)
        unused = _unused_frames(root / "all_unused_files.txt") if exclude_unused else set()
        suffix = camera[0].upper()
        samples = []
        for pass_ in passes:
            frames_root = _require(root / f"frames_{pass_}pass" / split_dir, "FlyingThings3D", THINGS_LAYOUT, THINGS_SOURCE)
            sequences = sorted(p for p in frames_root.glob(f"*/*/{camera}") if p.is_dir())
            if not sequences:
                raise _none_found(frames_root, "FlyingThings3D", f"*/*/{camera} folders", THINGS_LAYOUT, THINGS_SOURCE)
            for folder in sequences:
                letter, number = folder.parent.parent.name, folder.parent.name
                frames = _numbered(folder.glob("*.png"), r"(\d+)\.png")
                frames = {f: p for f, p in frames.items() if f"{split_dir}/{letter}/{number}/{camera}/{f:04d}" not in unused}
                flows = flow_root / letter / number
                for frame, first, second in _consecutive_pairs(frames):
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


def _flow_maxima(paths: Sequence[Path], index_file: _PathLike | None) -> dict[str, float]:
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


# --- MPI Sintel ------------------------------------------------------------------------------------

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
        root: _PathLike,
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
        frames_root = _require(root / split / pass_, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE)
        flow_root = _require(root / split / "flow", "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE) if split == "training" else None
        self.occlusion_root = root / split / "occlusions"
        self.invalid_root = root / split / "invalid"
        folders = sorted(p for p in frames_root.iterdir() if p.is_dir() and (scenes is None or p.name in scenes))
        if scenes is not None and {p.name for p in folders} != set(scenes):
            raise DatasetNotFoundError(f"MPI Sintel: scenes {sorted(set(scenes) - {p.name for p in folders})} are not in {frames_root}")
        samples = []
        for folder in folders:
            for frame, first, second in _consecutive_pairs(_numbered(folder.glob("frame_*.png"), r"frame_(\d+)\.png")):
                flow = None if flow_root is None else flow_root / folder.name / f"frame_{frame:04d}.flo"
                samples.append(FlowSample(first, second, flow, folder.name, frame))
        if not samples:
            raise _none_found(frames_root, "MPI Sintel", "frame pairs", SINTEL_LAYOUT, SINTEL_SOURCE)
        _check_complete(samples, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE)
        super().__init__(samples, transform)

    def occlusion(self, index: int) -> np.ndarray:
        """bool (H, W): pixels of frame 1 occluded in frame 2 (training split only)."""
        sample = self.samples[index]
        path = self.occlusion_root / sample.sequence / f"frame_{sample.frame:04d}.png"
        return read_image(_require(path, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE))[..., 0] > 0.5

    def excluded_pixels(self, index: int) -> np.ndarray | None:
        """bool (H, W): the invalid-pixel map of pair ``index`` (None without ``training/invalid``)."""
        if not self.invalid_root.is_dir():
            return None
        sample = self.samples[index]
        path = self.invalid_root / sample.sequence / f"frame_{sample.frame:04d}.png"
        return read_image(_require(path, "MPI Sintel", SINTEL_LAYOUT, SINTEL_SOURCE))[..., 0] > 0


# --- KITTI -----------------------------------------------------------------------------------------

KITTI_LAYOUT = {
    2012: """\
  training/colored_0/000000_10.png, 000000_11.png ... (or the grayscale image_0/)   testing/colored_0/...
  training/flow_occ/000000_10.png ...   training/flow_noc/...""",
    2015: """\
  training/image_2/000000_10.png, 000000_11.png ...   testing/image_2/...
  training/flow_occ/000000_10.png ...   training/flow_noc/...""",
}
KITTI_SOURCE = {
    2012: "https://www.cvlibs.net/datasets/kitti/eval_stereo_flow.php?benchmark=flow (registration required)",
    2015: "https://www.cvlibs.net/datasets/kitti/eval_scene_flow.php?benchmark=flow (registration required)",
}


class KITTI(FlowDataset):
    """KITTI 2012 (194 training / 195 test pairs) and 2015 (200 / 200): frames ``*_10.png`` and
    ``*_11.png``, sparse 16-bit PNG flow.

    Args:
        root: the folder holding ``training`` and ``testing``.
        year: 2012 or 2015.
        split: ``"training"`` or ``"testing"`` (no flow).
        occluded: ground truth of all pixels (``flow_occ``, the benchmark's "all") or only of
            non-occluded ones (``flow_noc``).
        image_dir: frame folder; default ``image_2`` for 2015 and, for 2012, ``colored_0`` (or the
            grayscale ``image_0`` when only that is present).
    """

    sparse = True

    def __init__(
        self,
        root: _PathLike,
        year: int = 2015,
        split: str = "training",
        occluded: bool = True,
        image_dir: str | None = None,
        transform: Transform | None = None,
    ) -> None:
        if year not in (2012, 2015):
            raise ValueError(f"KITTI year must be 2012 or 2015, got {year!r}")
        if split not in ("training", "testing"):
            raise ValueError(f"KITTI split must be 'training' or 'testing', got {split!r}")
        self.name = f"kitti-{year}"
        layout, source = KITTI_LAYOUT[year], KITTI_SOURCE[year]
        base = _require(Path(root) / split, f"KITTI {year}", layout, source)
        if image_dir is None:
            image_dir = "image_2" if year == 2015 else next((d for d in ("colored_0", "image_0") if (base / d).is_dir()), "colored_0")
        frames = _require(base / image_dir, f"KITTI {year}", layout, source)
        flow_dir = None if split == "testing" else _require(base / ("flow_occ" if occluded else "flow_noc"), f"KITTI {year}", layout, source)
        samples = []
        for first in sorted(frames.glob("*_10.png")):
            scene = first.name[: -len("_10.png")]
            flow = None if flow_dir is None else flow_dir / first.name
            samples.append(FlowSample(first, frames / f"{scene}_11.png", flow, scene, 10))
        if not samples:
            raise _none_found(frames, f"KITTI {year}", "*_10.png frames", layout, source)
        _check_complete(samples, f"KITTI {year}", layout, source)
        super().__init__(samples, transform)


# --- HD1K ------------------------------------------------------------------------------------------

HD1K_LAYOUT = """\
  hd1k_input/image_2/000000_0000.png, 000000_0001.png ...   (sequence_frame)
  hd1k_flow_gt/flow_occ/000000_0000.png ..."""
HD1K_SOURCE = "http://hci-benchmark.iwr.uni-heidelberg.de/"


class HD1K(FlowDataset):
    """HD1K (Kondermann et al. 2016): 1,047 training pairs of 1080x2560 in 36 sequences, sparse
    KITTI-format flow. Pairs are consecutive frames of a sequence."""

    name = "hd1k"
    sparse = True

    def __init__(self, root: _PathLike, transform: Transform | None = None) -> None:
        root = Path(root)
        frames_dir = _require(root / "hd1k_input" / "image_2", "HD1K", HD1K_LAYOUT, HD1K_SOURCE)
        flow_dir = _require(root / "hd1k_flow_gt" / "flow_occ", "HD1K", HD1K_LAYOUT, HD1K_SOURCE)
        sequences: dict[str, dict[int, Path]] = {}
        for path in frames_dir.glob("*.png"):
            match = re.fullmatch(r"(\d+)_(\d+)\.png", path.name)
            if match:
                sequences.setdefault(match.group(1), {})[int(match.group(2))] = path
        samples = [
            FlowSample(first, second, flow_dir / first.name, sequence, frame)
            for sequence in sorted(sequences)
            for frame, first, second in _consecutive_pairs(sequences[sequence])
        ]
        if not samples:
            raise _none_found(frames_dir, "HD1K", "frame pairs", HD1K_LAYOUT, HD1K_SOURCE)
        _check_complete(samples, "HD1K", HD1K_LAYOUT, HD1K_SOURCE)
        super().__init__(samples, transform)
