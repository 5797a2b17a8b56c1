"""Tiny Spring trees in the published layout, written independently of the zoo's writers: frames
by Pillow, ground truth by h5py directly (dataset ``flow``, float32 (2H, 2W, 2), gzip as Spring's
own ``writeFlo5File``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from PIL import Image

FRAME_SIZE = (6, 8)  # H, W of the frames; the ground truth is (12, 16)


def write_flo5_h5py(path: Path, flow: np.ndarray) -> None:
    """``flow`` (H, W, 2) into the HDF5 dataset ``flow`` of ``path``, as Spring's writer does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        file.create_dataset("flow", data=np.asarray(flow, np.float32), compression="gzip", compression_opts=5)


def ground_truth(scene: str, camera: str, direction: str, frame: int, size=FRAME_SIZE) -> np.ndarray:
    """A reproducible float32 (2H, 2W, 2) ground truth on the 1/8 px grid, NaN at one 4K pixel."""
    seed = int(scene) * 1000 + (camera == "right") * 500 + (direction == "BW") * 250 + frame
    values = np.round(np.random.default_rng(seed).standard_normal((2 * size[0], 2 * size[1], 2)) * 24) / 8
    values[1, 2] = np.nan  # block (0, 1), second row: only the full-ground-truth view loses that pixel
    return values.astype(np.float32)


def make_spring(root: Path, scenes: dict[str, int], split: str = "train", cameras=("left", "right"),
                size=FRAME_SIZE) -> Path:
    """``<split>/<scene>/frame_<cam>/frame_<cam>_NNNN.png`` for ``scenes`` (name -> frame count) and,
    for ``train``, every forward and backward ``.flo5``."""
    for scene, count in scenes.items():
        for camera in cameras:
            for frame in range(1, count + 1):
                path = root / split / scene / f"frame_{camera}" / f"frame_{camera}_{frame:04d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = np.random.default_rng(frame + int(scene)).integers(0, 256, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(path)
                if split != "train":
                    continue
                for direction, has_flow in (("FW", frame < count), ("BW", frame > 1)):
                    if has_flow:
                        name = f"flow_{direction}_{camera}"
                        write_flo5_h5py(root / split / scene / name / f"{name}_{frame:04d}.flo5",
                                        ground_truth(scene, camera, direction, frame, size))
    return root
