"""Tiny optical-flow datasets written in the exact published layouts, for the flow tests."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from zoo.datamodules.flow.formats import write_flow, write_pfm

HEIGHT, WIDTH = 8, 12


def frame(seed: int, size=(HEIGHT, WIDTH)) -> np.ndarray:
    """A random uint8 RGB frame (H, W, 3), reproducible from ``seed``."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def flow_field(seed: int, size=(HEIGHT, WIDTH), scale: float = 3.0) -> np.ndarray:
    """A random float32 flow (H, W, 2) on the 1/64 px grid (exact in every format)."""
    values = np.random.default_rng(seed).standard_normal((*size, 2)) * scale
    return (np.round(values * 64) / 64).astype(np.float32)


def save_frame(path: Path, seed: int, size=(HEIGHT, WIDTH), gray: bool = False) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = frame(seed, size)
    Image.fromarray(pixels[..., 0] if gray else pixels).save(path)
    return pixels


def hand_built_png(rows: np.ndarray, colour_type: int = 2, claimed_size: tuple[int, int] | None = None) -> bytes:
    """A PNG written independently of any codec (struct and zlib, filter 0 on every row).

    ``rows`` is (H, W, C) uint8 or uint16; ``claimed_size`` (width, height) puts another size in
    the IHDR than the data has (a hostile header).
    """
    height, width = rows.shape[:2]
    depth = 16 if rows.dtype == np.uint16 else 8

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    raw = b"".join(b"\x00" + rows[r].astype(f">u{depth // 8}").tobytes() for r in range(height))
    header = struct.pack(">IIBBBBB", *(claimed_size or (width, height)), depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_chairs(root: Path, count: int = 3, labels: str | None = "121") -> Path:
    """``data/NNNNN_img{1,2}.ppm``, ``NNNNN_flow.flo`` and ``FlyingChairs_train_val.txt``."""
    for n in range(1, count + 1):
        save_frame(root / "data" / f"{n:05d}_img1.ppm", 10 * n)
        save_frame(root / "data" / f"{n:05d}_img2.ppm", 10 * n + 1)
        write_flow(root / "data" / f"{n:05d}_flow.flo", flow_field(n))
    if labels is not None:
        (root / "FlyingChairs_train_val.txt").write_text("\n".join(labels) + "\n")
    return root


def make_sintel(root: Path, scenes=("alley_1", "bamboo_2"), frames: int = 3) -> Path:
    """``training/{clean,final,flow,occlusions}/<scene>/frame_NNNN.*`` and ``test/{clean,final}``."""
    for s, scene in enumerate(scenes):
        for f in range(1, frames + 1):
            for p, pass_ in enumerate(("clean", "final")):
                save_frame(root / "training" / pass_ / scene / f"frame_{f:04d}.png", 100 * s + 10 * f + p)
                save_frame(root / "test" / pass_ / scene / f"frame_{f:04d}.png", 500 + 100 * s + 10 * f + p)
            if f < frames:
                write_flow(root / "training" / "flow" / scene / f"frame_{f:04d}.flo", flow_field(100 * s + f))
                occlusion = np.zeros((HEIGHT, WIDTH), np.uint8)
                occlusion[:, : f + 1] = 255
                (root / "training" / "occlusions" / scene).mkdir(parents=True, exist_ok=True)
                Image.fromarray(occlusion).save(root / "training" / "occlusions" / scene / f"frame_{f:04d}.png")
    return root


def make_kitti(root: Path, year: int = 2015, scenes: int = 2, image_dir: str | None = None) -> Path:
    """``training/<image_dir>/NNNNNN_1{0,1}.png``, sparse ``flow_occ``/``flow_noc``, ``testing``."""
    image_dir = image_dir or ("image_2" if year == 2015 else "colored_0")
    gray = image_dir == "image_0"
    for split in ("training", "testing"):
        for n in range(scenes):
            save_frame(root / split / image_dir / f"{n:06d}_10.png", 20 * n, gray=gray)
            save_frame(root / split / image_dir / f"{n:06d}_11.png", 20 * n + 1, gray=gray)
            if split == "training":
                valid = np.random.default_rng(n).random((HEIGHT, WIDTH)) > 0.4
                write_flow(root / split / "flow_occ" / f"{n:06d}_10.png", flow_field(n, scale=40), valid)
                write_flow(root / split / "flow_noc" / f"{n:06d}_10.png", flow_field(n, scale=40), valid & (np.arange(WIDTH) > 3))
    return root


def make_hd1k(root: Path, sequences: int = 2, frames: int = 3) -> Path:
    """``hd1k_input/image_2/SSSSSS_FFFF.png`` and ``hd1k_flow_gt/flow_occ/SSSSSS_FFFF.png``."""
    for s in range(sequences):
        for f in range(frames):
            save_frame(root / "hd1k_input" / "image_2" / f"{s:06d}_{f:04d}.png", 30 * s + f)
            valid = np.random.default_rng(s + f).random((HEIGHT, WIDTH)) > 0.5
            write_flow(root / "hd1k_flow_gt" / "flow_occ" / f"{s:06d}_{f:04d}.png", flow_field(s * 10 + f), valid)
    return root


def make_things(root: Path, frames=(6, 7, 8), passes=("clean", "final"), large: dict | None = None) -> Path:
    """``frames_{clean,final}pass/TRAIN/A/0000/left/NNNN.png`` and PFM ``optical_flow`` both ways.

    ``large``: {("future"|"past", frame): value} puts ``value`` px into one component of that flow.
    """
    large = large or {}
    for p, pass_ in enumerate(passes):
        for f in frames:
            save_frame(root / f"frames_{pass_}pass" / "TRAIN" / "A" / "0000" / "left" / f"{f:04d}.png", 10 * f + p)
    flows = root / "optical_flow" / "TRAIN" / "A" / "0000"
    for f in frames:
        for direction, name in (("future", "IntoFuture"), ("past", "IntoPast")):
            flow = flow_field(f + (0 if direction == "future" else 50))
            flow[0, 0, 0] = large.get((direction, f), flow[0, 0, 0])
            stored = np.concatenate([flow, np.zeros_like(flow[..., :1])], axis=2)
            (flows / f"into_{direction}" / "left").mkdir(parents=True, exist_ok=True)
            write_pfm(flows / f"into_{direction}" / "left" / f"OpticalFlow{name}_{f:04d}_L.pfm", stored)
    return root
