"""What every flow dataset shares: the sample record, the Dataset base and the layout checks
that name the folder, the layout expected and where the data is published."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.datamodules.flow.formats import image_size, read_flow, read_image

__all__ = ["DatasetNotFoundError", "FlowDataset", "FlowSample", "PathLike", "Transform", "check_complete",
           "check_contiguous", "check_numbered", "chw", "consecutive_pairs", "layout_error", "none_found", "numbered",
           "require"]

PathLike = str | os.PathLike
Transform = Callable[[dict], dict]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder that is missing or lacks part of its published layout."""


@dataclass(frozen=True)
class FlowSample:
    """One pair on disk: the two frames, the flow file (None for test splits), where it comes from, and
    the map of frame-1 pixels occluded in frame 2 where the dataset has one."""

    image1: Path
    image2: Path
    flow: Path | None
    sequence: str
    frame: int
    occlusion: Path | None = None


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
            flow, valid = self.read_ground_truth(sample.flow)
            excluded = self.excluded_pixels(index)
            if excluded is not None:
                if excluded.shape != valid.shape:
                    raise ValueError(f"{self.name} pair {sample.image1.name}: the mask of excluded pixels is "
                                     f"{excluded.shape}, the flow {valid.shape}")
                valid = valid & ~excluded
            flow = np.where(valid[..., None], flow, 0).astype(np.float32)
        return self.item(sample, image1, image2, flow, valid)

    def item(self, sample: FlowSample, image1: np.ndarray, image2: np.ndarray, flow: np.ndarray, valid: np.ndarray,
             **extra: torch.Tensor) -> dict:
        """The item dict of ``sample`` (module docstring) from its frames (H, W, 3), flow (H, W, 2) and
        ``valid`` (H, W), with ``extra`` entries, passed through the transform."""
        if not image1.shape == image2.shape == (*flow.shape[:2], 3):
            raise ValueError(
                f"{self.name} pair {sample.image1.name}: frame sizes {image1.shape[:2]}, {image2.shape[:2]} "
                f"and flow size {flow.shape[:2]} differ ({sample.image1}, {sample.image2}, {sample.flow or 'no flow'})"
            )
        item = {
            "image1": chw(image1),
            "image2": chw(image2),
            "flow": chw(flow),
            "valid": torch.from_numpy(valid),
            **extra,
            "meta": {
                "dataset": self.name,
                "sequence": sample.sequence,
                "frame": sample.frame,
                "paths": (str(sample.image1), str(sample.image2), str(sample.flow or "")),
            },
        }
        return self.transform(item) if self.transform is not None else item

    def read_ground_truth(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """(flow float32 (H, W, 2) px, valid bool (H, W)) of a flow file; by default any format
        :func:`~zoo.datamodules.flow.formats.read_flow` reads (``.flo``, KITTI ``.png``, ``.pfm``)."""
        return read_flow(path)

    @property
    def has_occlusions(self) -> bool:
        """Whether every pair has an occlusion map (``zoo eval``'s occluded / non-occluded rows need them)."""
        return bool(self.samples) and all(s.occlusion is not None for s in self.samples)

    def occlusion(self, index: int) -> np.ndarray:
        """bool (H, W): pixels of frame 1 occluded in frame 2, from the pair's occlusion map (an 8-bit
        image, non-zero = occluded, as FlyingChairs2 and the FlyingThings3D subset store them)."""
        sample = self.samples[index]
        if sample.occlusion is None:
            raise ValueError(f"{self.name} pair {sample.image1.name} has no occlusion map")
        occluded = read_image(sample.occlusion)[..., 0] > 0
        width, height = image_size(sample.image1)
        if occluded.shape != (height, width):
            raise ValueError(f"{sample.occlusion}: occlusion map of {occluded.shape[1]}x{occluded.shape[0]} px for "
                             f"frames of {width}x{height}")
        return occluded

    def excluded_pixels(self, index: int) -> np.ndarray | None:
        """bool (H, W): pixels of pair ``index`` whose ground truth the dataset marks unusable
        (left out of ``valid``), or None where it marks none."""
        return None


def chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def layout_error(dataset: str, problem: str, layout: str, source: str) -> DatasetNotFoundError:
    """The error for a missing or incomplete dataset: what is wrong, the layout expected, where to get it."""
    return DatasetNotFoundError(f"{dataset}: {problem}.\nExpected layout under the dataset root:\n{layout}\nThe data is published at {source}.")


def require(path: Path, dataset: str, layout: str, source: str) -> Path:
    """``path`` if it exists, else a :class:`DatasetNotFoundError` that explains what is expected."""
    if not path.exists():
        raise layout_error(dataset, f"{path} does not exist", layout, source)
    return path


def none_found(folder: Path, dataset: str, what: str, layout: str, source: str) -> DatasetNotFoundError:
    return layout_error(dataset, f"no {what} found under {folder} (incomplete download?)", layout, source)


def check_complete(samples: Sequence[FlowSample], dataset: str, layout: str, source: str) -> None:
    """Raise :class:`DatasetNotFoundError` listing files of ``samples`` that do not exist."""
    missing = [p for s in samples for p in (s.image1, s.image2, s.flow, s.occlusion) if p is not None and not p.exists()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        problem = f"{len(missing)} file(s) of the layout are missing (incomplete download?), e.g. {shown}"
        raise layout_error(dataset, problem, layout, source)


def check_contiguous(frames: dict[int, Path], path_of: Callable[[int], Path], dataset: str, layout: str,
                     source: str) -> None:
    """Raise :class:`DatasetNotFoundError` naming the frames missing between the first and the last of a
    sequence (``path_of(number)`` is the file the layout expects): a gap is an incomplete download,
    and would silently drop the pairs around it (:func:`check_numbered` over ``first..last``)."""
    if frames:
        check_numbered(frames, range(min(frames), max(frames) + 1), path_of, dataset, layout, source,
                       problem="frame(s) missing inside a sequence")


def check_numbered(found: Collection[int], expected: Iterable[int], path_of: Callable[[int], Path], dataset: str,
                   layout: str, source: str, *, problem: str) -> None:
    """Raise :class:`DatasetNotFoundError` unless the numbers ``found`` (of frames, pairs, flow
    files) are exactly ``expected``: the message, ``problem`` first, names the missing files
    (``path_of(number)``) and those that should not be there, e.g. a deleted frame in the middle of
    a scene, which would otherwise drop its two pairs without a word."""
    expected = set(expected)
    missing, surplus = sorted(expected - set(found)), sorted(set(found) - expected)
    if not missing and not surplus:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing: " + ", ".join(str(path_of(n)) for n in missing[:5])
                     + (", ..." if len(missing) > 5 else ""))
    if surplus:
        parts.append(f"{len(surplus)} with no place in it: " + ", ".join(str(path_of(n)) for n in surplus[:5])
                     + (", ..." if len(surplus) > 5 else ""))
    raise layout_error(dataset, f"{problem} (incomplete download or deleted files?): " + "; ".join(parts),
                       layout, source)


def consecutive_pairs(frames: dict[int, Path]) -> list[tuple[int, Path, Path]]:
    """(frame, path of frame, path of frame + 1) for every frame whose successor exists."""
    return [(f, frames[f], frames[f + 1]) for f in sorted(frames) if f + 1 in frames]


def numbered(paths, pattern: str) -> dict[int, Path]:
    """``{number: path}`` for the paths whose name matches ``pattern`` (one integer group)."""
    out = {}
    for path in paths:
        match = re.fullmatch(pattern, path.name)
        if match:
            out[int(match.group(1))] = path
    return out
