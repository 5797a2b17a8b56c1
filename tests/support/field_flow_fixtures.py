"""Tiny trees of the flow datasets of today's field (FlyingChairs2, the FlyingThings3D subset,
TartanAir, AutoFlow, Middlebury), every file written from its format's definition with struct /
zlib / NumPy byte layouts, not with the zoo's writers."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import numpy as np

from tests.support.flow_fixtures import HEIGHT, WIDTH, flow_field, frame, hand_built_png

__all__ = ["flo_bytes", "make_autoflow", "make_chairs2", "make_middlebury", "make_tartanair", "make_things_subset",
           "npy_bytes", "occlusion_map", "write"]


def write(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def flo_bytes(flow: np.ndarray) -> bytes:
    """Middlebury .flo: float32 202021.25 ("PIEH"), int32 width, int32 height, float32 u, v row-major, little-endian."""
    height, width = flow.shape[:2]
    return struct.pack("<fii", 202021.25, width, height) + flow.astype("<f4").tobytes()


def npy_bytes(array: np.ndarray) -> bytes:
    """NumPy .npy version 1.0: magic, version, uint16 header length, the dict header padded with spaces to
    a multiple of 64 bytes ending in a newline, then the C-order data."""
    header = repr({"descr": array.dtype.str, "fortran_order": False, "shape": array.shape}).encode("latin1")
    total = 10 + len(header) + 1
    header += b" " * (-total % 64) + b"\n"
    assert ast.literal_eval(header.decode().strip())["shape"] == array.shape
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + np.ascontiguousarray(array).tobytes()


def occlusion_map(seed: int, size=(HEIGHT, WIDTH)) -> np.ndarray:
    """bool (H, W): a reproducible random occlusion map (about a third occluded)."""
    return np.random.default_rng(seed + 7000).random(size) < 0.33


def _png_frame(path: Path, seed: int, size=(HEIGHT, WIDTH)) -> None:
    write(path, hand_built_png(frame(seed, size)))


def _png_mask(path: Path, mask: np.ndarray) -> None:
    write(path, hand_built_png((mask * 255).astype(np.uint8)[..., None], colour_type=0))


def make_chairs2(root: Path, count: int = 2, splits=("train", "val")) -> Path:
    """``<split>/NNNNNNN-img_{0,1}.png``, ``-flow_{01,10}.flo``, ``-occ_{01,10}.png``, ``-mb_{01,10}.png``.
    Flow seeds: 100 * split index + 10 * n + (0 forward, 1 backward); frames 10 * n + (0, 1)."""
    for s, split in enumerate(splits):
        for n in range(count):
            stem = root / split / f"{n:07d}-"
            for i in (0, 1):
                _png_frame(Path(f"{stem}img_{i}.png"), 1000 * s + 10 * n + i)
            for d, suffix in enumerate(("01", "10")):
                seed = 100 * s + 10 * n + d
                write(Path(f"{stem}flow_{suffix}.flo"), flo_bytes(flow_field(seed)))
                _png_mask(Path(f"{stem}occ_{suffix}.png"), occlusion_map(seed))
                _png_mask(Path(f"{stem}mb_{suffix}.png"), occlusion_map(seed + 1))
    return root


def make_things_subset(root: Path, frames=(5, 6, 7), splits=("train", "val"), passes=("clean", "final")) -> Path:
    """``<split>/image_<pass>/left/NNNNNNN.png`` and flow / occlusions ``into_future`` for every frame but
    the last, ``into_past`` for every frame but the first. Flow seed: frame (future), 50 + frame (past)."""
    for split in splits:
        base = root / split
        for p, pass_ in enumerate(passes):
            for f in frames:
                _png_frame(base / f"image_{pass_}" / "left" / f"{f:07d}.png", 10 * p + f)
        for f in frames[:-1]:
            write(base / "flow" / "left" / "into_future" / f"{f:07d}.flo", flo_bytes(flow_field(f)))
            _png_mask(base / "flow_occlusions" / "left" / "into_future" / f"{f:07d}.png", occlusion_map(f))
        for f in frames[1:]:
            write(base / "flow" / "left" / "into_past" / f"{f:07d}.flo", flo_bytes(flow_field(50 + f)))
            _png_mask(base / "flow_occlusions" / "left" / "into_past" / f"{f:07d}.png", occlusion_map(50 + f))
    return root


def make_tartanair(root: Path, trajectories=("abandonedfactory/Easy/P000", "abandonedfactory/Hard/P001",
                                               "office/Easy/P002"), frames: int = 3) -> Path:
    """``<env>/<difficulty>/<P>/image_left/NNNNNN_left.png`` and ``flow/NNNNNN_MMMMMM_{flow,mask}.npy``
    (float32 (H, W, 2), uint8 (H, W)). Flow seed: 100 * trajectory index + frame; the first pair's
    flow has one NaN pixel at (1, 2)."""
    for t, name in enumerate(trajectories):
        folder = root / name
        for n in range(frames):
            _png_frame(folder / "image_left" / f"{n:06d}_left.png", 100 * t + n)
        for n in range(frames - 1):
            flow = flow_field(100 * t + n)
            if n == 0:
                flow[1, 2, 0] = np.nan
            write(folder / "flow" / f"{n:06d}_{n + 1:06d}_flow.npy", npy_bytes(flow.astype("<f4")))
            write(folder / "flow" / f"{n:06d}_{n + 1:06d}_mask.npy",
                  npy_bytes((occlusion_map(100 * t + n) * 10).astype(np.uint8)))
    return root


def make_autoflow(root: Path, per_part: int = 1) -> Path:
    """``static_40k_png_<i>_of_4/<sample>/im0.png, im1.png, forward.flo``; flow seed 10 * part + sample."""
    for i in range(1, 5):
        for k in range(per_part):
            folder = root / f"static_40k_png_{i}_of_4" / f"table_{k:05d}"
            _png_frame(folder / "im0.png", 10 * i + k)
            _png_frame(folder / "im1.png", 10 * i + k + 5)
            write(folder / "forward.flo", flo_bytes(flow_field(10 * i + k)))
    return root


def make_middlebury(root: Path, sequences=("Dimetrodon", "Grove2"), unknown=((0, 0), (3, 5))) -> Path:
    """``other-data/<seq>/frame10.png, frame11.png`` (and frame09.png, which no pair uses),
    ``other-gt-flow/<seq>/flow10.flo`` with ``unknown`` pixels stored as 1e10 (Middlebury's marker)."""
    for s, name in enumerate(sequences):
        for f in (9, 10, 11):
            _png_frame(root / "other-data" / name / f"frame{f:02d}.png", 10 * s + f)
        flow = flow_field(s)
        for y, x in unknown:
            flow[y, x] = 1e10
        write(root / "other-gt-flow" / name / "flow10.flo", flo_bytes(flow))
    return root
