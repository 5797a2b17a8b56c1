"""VIPER (Richter et al. ICCV 2017, "Playing for Benchmarks"): train / val, flow as ``.npz``."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    none_found,
    require,
)
from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["Viper", "read_viper_flow"]


VIPER_LAYOUT = """\
  train/img/001/001_00010.png (or .jpg) ...   (val/ likewise)
  train/flow/001/001_00010.npz ...   (arrays u, v: flow of frame 00010 -> 00011; NaN = no ground truth)"""
VIPER_SOURCE = "https://playing-for-benchmarks.org/download/"


def read_viper_flow(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """A VIPER ``.npz`` flow file: arrays ``u`` and ``v`` (H, W), NaN where there is no ground truth;
    returns (flow float32 (H, W, 2) px, valid bool (H, W)). Pickled objects are never loaded."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"u", "v"} - set(archive.files)
            if missing:
                raise ValueError(f"{path}: VIPER flow needs arrays u and v, it has {sorted(archive.files)}")
            u, v = archive["u"], archive["v"]
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npz archive ({error}); truncated download?") from None
    if u.ndim != 2 or u.shape != v.shape or u.dtype.kind != "f" or v.dtype.kind != "f":
        raise ValueError(f"{path}: u {u.dtype} {u.shape} and v {v.dtype} {v.shape}, expected two float (H, W) arrays")
    flow = np.stack([u, v], axis=2).astype(np.float32)
    valid = np.isfinite(flow).all(axis=2)
    return np.where(valid[..., None], flow, 0).astype(np.float32), valid


class Viper(FlowDataset):
    """VIPER: 1920x1080 frames and ``.npz`` flow (:func:`read_viper_flow`) of the frames that have it.

    A flow file whose two frames are not both in ``img/`` is an incomplete download (named), not skipped.

    Args:
        root: the folder holding ``train`` and ``val``.
        split: ``"train"`` or ``"val"``.
    """

    name = "viper"

    def __init__(self, root: PathLike, split: str = "train", transform: Transform | None = None) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"VIPER split must be 'train' or 'val', got {split!r}")
        base = require(Path(root) / split, "VIPER", VIPER_LAYOUT, VIPER_SOURCE)
        images = require(base / "img", "VIPER", VIPER_LAYOUT, VIPER_SOURCE)
        flows = sorted(require(base / "flow", "VIPER", VIPER_LAYOUT, VIPER_SOURCE).glob("*/*.npz"))
        if not flows:
            raise none_found(base / "flow", "VIPER", "<sequence>/*.npz flow files", VIPER_LAYOUT, VIPER_SOURCE)
        samples = []
        for flow in flows:
            sequence, number = flow.stem.rsplit("_", 1)
            frame = int(number)
            first, second = (_frame(images / flow.parent.name / f"{sequence}_{n:05d}") for n in (frame, frame + 1))
            samples.append(FlowSample(first, second, flow, flow.parent.name, frame))
        check_complete(samples, "VIPER", VIPER_LAYOUT, VIPER_SOURCE)
        super().__init__(samples, transform)

    def read_ground_truth(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        return read_viper_flow(path)


def _frame(stem: Path) -> Path:
    """``stem.png``, or ``stem.jpg`` where only that exists (the release comes in both)."""
    jpg = stem.with_name(stem.name + ".jpg")
    return jpg if jpg.exists() and not stem.with_name(stem.name + ".png").exists() else stem.with_name(stem.name + ".png")


declare(FlowFamily("viper", "VIPER", names={"viper": FlowName(
    lambda root, training, options: [Viper(root, "train" if training else "val", **options)],
    "VIPER train", "VIPER val", FlowProtocol("viper-val", POOLED))}))
