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

from zoo.datamodules.flow.formats import read_flow, read_image

__all__ = ["DatasetNotFoundError", "FlowDataset", "FlowSample", "PathLike", "Transform", "check_complete", "check_numbered", "chw", "consecutive_pairs", "layout_error", "none_found", "numbered", "require"]

PathLike = str | os.PathLike
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
            "image1": chw(image1),
            "image2": chw(image2),
            "flow": chw(flow),
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
    missing = [p for s in samples for p in (s.image1, s.image2, s.flow) if p is not None and not p.exists()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5])
        problem = f"{len(missing)} file(s) of the layout are missing (incomplete download?), e.g. {shown}"
        raise layout_error(dataset, problem, layout, source)


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
