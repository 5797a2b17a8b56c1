"""Tiny trees of the flow datasets of today's field (FlyingChairs2, the FlyingThings3D subset,
TartanAir, AutoFlow, Middlebury, Virtual KITTI 2, VIPER, Kubric, Monkaa, Driving), every file written
from its format's definition with struct / zlib / zipfile byte layouts, not with the zoo's writers
(JPEG frames excepted: Pillow encodes them)."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import numpy as np

from tests.support.flow_fixtures import HEIGHT, WIDTH, flow_field, frame, hand_built_png

__all__ = ["KUBRIC_RANGES", "flo_bytes", "kubric_codes", "kubric_flow_png", "make_autoflow", "make_chairs2",
           "make_kubric", "make_middlebury", "make_scene_flow", "make_tartanair", "make_things_subset", "make_viper",
           "make_vkitti2", "npy_bytes", "npz_bytes", "occlusion_map", "pfm_flow_bytes", "vkitti2_flow", "vkitti2_flow_png", "write"]


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
    ``other-gt-flow/<seq>/flow10.flo``; the last sequence has ``unknown`` pixels stored as 1e10
    (Middlebury's marker), so the sequences differ in their number of known pixels."""
    for s, name in enumerate(sequences):
        for f in (9, 10, 11):
            _png_frame(root / "other-data" / name / f"frame{f:02d}.png", 10 * s + f)
        flow = flow_field(s)
        for y, x in unknown if s == len(sequences) - 1 else ():
            flow[y, x] = 1e10
        write(root / "other-gt-flow" / name / "flow10.flo", flo_bytes(flow))
    return root


def pfm_flow_bytes(flow: np.ndarray) -> bytes:
    """PFM colour ("PF"): header lines, scale -1 (little-endian), float32 (u, v, 0) rows bottom to top."""
    height, width = flow.shape[:2]
    rgb = np.concatenate([flow, np.zeros((height, width, 1), np.float32)], axis=2)[::-1]
    return f"PF\n{width} {height}\n-1.0\n".encode() + rgb.astype("<f4").tobytes()


def vkitti2_flow_png(flow: np.ndarray, valid: np.ndarray) -> bytes:
    """Virtual KITTI 2 flow: 16-bit RGB, R, G = round((u / (W - 1) + 1) / 2 * 65535), same for v with H - 1;
    B = 1 where valid, 0 where not."""
    height, width = flow.shape[:2]
    normalised = flow.astype(np.float64) / [width - 1, height - 1]
    encoded = np.rint((normalised + 1) / 2 * 65535).astype(np.uint16)
    return hand_built_png(np.concatenate([encoded, valid[..., None].astype(np.uint16)], axis=2))


def vkitti2_flow(seed: int) -> np.ndarray:
    """A flow Virtual KITTI 2 can store in an (H, W) frame: each component within +-(H - 1) px."""
    return np.clip(flow_field(seed), -(HEIGHT - 1), HEIGHT - 1)


def make_vkitti2(root: Path, scenes=("Scene01/clone", "Scene02/fog"), frames: int = 3) -> Path:
    """Three unpacked archives: ``vkitti_2.0.3_rgb`` (JPEG frames, Camera_0 and Camera_1),
    ``vkitti_2.0.3_forwardFlow`` (flow_N: N -> N + 1) and ``vkitti_2.0.3_backwardFlow``
    (backwardFlow_N: N -> N - 1). Flow seed: 1000 * scene + 100 * camera + 10 * N + (0 forward, 1 backward);
    pixel (2, 3) has no ground truth."""
    from PIL import Image

    for s, scene in enumerate(scenes):
        for c in (0, 1):
            camera = f"Camera_{c}"
            for n in range(frames):
                path = root / "vkitti_2.0.3_rgb" / scene / "frames" / "rgb" / camera / f"rgb_{n:05d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(frame(1000 * s + 100 * c + n)).save(path, quality=95)
                valid = np.ones((HEIGHT, WIDTH), bool)
                valid[2, 3] = False
                if n + 1 < frames:
                    write(root / "vkitti_2.0.3_forwardFlow" / scene / "frames" / "forwardFlow" / camera /
                          f"flow_{n:05d}.png", vkitti2_flow_png(vkitti2_flow(1000 * s + 100 * c + 10 * n), valid))
                if n > 0:
                    write(root / "vkitti_2.0.3_backwardFlow" / scene / "frames" / "backwardFlow" / camera /
                          f"backwardFlow_{n:05d}.png", vkitti2_flow_png(vkitti2_flow(1000 * s + 100 * c + 10 * n + 1), valid))
    return root


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """NumPy .npz: a zip archive of one ``<name>.npy`` member per array."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            archive.writestr(f"{name}.npy", npy_bytes(array))
    return buffer.getvalue()


def make_viper(root: Path, splits=("train", "val"), flow_frames=(10, 20)) -> Path:
    """``<split>/img/001/001_NNNNN.png`` for N and N + 1 of every flow frame, ``<split>/flow/001/001_NNNNN.npz``
    (float32 u, v; NaN at pixel (0, 1)). Flow seed: 100 * split index + N."""
    for s, split in enumerate(splits):
        for n in flow_frames:
            for m in (n, n + 1):
                _png_frame(root / split / "img" / "001" / f"001_{m:05d}.png", 100 * s + m)
            flow = flow_field(100 * s + n)
            flow[0, 1] = np.nan
            write(root / split / "flow" / "001" / f"001_{n:05d}.npz",
                  npz_bytes({"u": flow[..., 0].astype("<f4"), "v": flow[..., 1].astype("<f4")}))
    return root


KUBRIC_RANGES = {"forward_flow": {"min": -20.5, "max": 30.25}, "backward_flow": {"min": -8.0, "max": 12.0}}


def kubric_flow_png(codes: np.ndarray) -> bytes:
    """Kubric flow: 16-bit RGB with R = the code of v, G = the code of u, B = 0 (``codes`` (H, W, 2) uint16, u, v)."""
    return hand_built_png(np.stack([codes[..., 1], codes[..., 0], np.zeros_like(codes[..., 0])], axis=2))


def make_kubric(root: Path, sequences=("0000", "0001"), frames: int = 3) -> Path:
    """``<sequence>/rgba_NNNNN.png`` (RGBA, alpha 255), ``forward_flow_NNNNN.png`` for every frame (the last one
    unused), ``backward_flow_NNNNN.png``, ``data_ranges.json``; flow codes drawn with seed 10 * sequence + N
    (+ 5 backward)."""
    import json

    for q, name in enumerate(sequences):
        folder = root / name
        for n in range(frames):
            rgba = np.concatenate([frame(10 * q + n), np.full((HEIGHT, WIDTH, 1), 255, np.uint8)], axis=2)
            write(folder / f"rgba_{n:05d}.png", hand_built_png(rgba, colour_type=6))
            write(folder / f"forward_flow_{n:05d}.png", kubric_flow_png(kubric_codes(10 * q + n)))
            write(folder / f"backward_flow_{n:05d}.png", kubric_flow_png(kubric_codes(10 * q + n + 5)))
        write(folder / "data_ranges.json", json.dumps(KUBRIC_RANGES).encode())
    return root


def kubric_codes(seed: int) -> np.ndarray:
    """uint16 (H, W, 2) codes of u, v, with the corner codes 0 and 65535 present."""
    codes = np.random.default_rng(seed).integers(0, 65536, (HEIGHT, WIDTH, 2)).astype(np.uint16)
    codes[0, 0], codes[0, 1] = (0, 65535), (65535, 0)
    return codes


def make_scene_flow(root: Path, sequences=("a_rain_of_stones_x2",), frames=(0, 1, 2), cameras=("left",)) -> Path:
    """Monkaa / Driving layout: ``frames_<pass>pass/<seq>/<camera>/NNNN.png`` and
    ``optical_flow/<seq>/into_{future,past}/<camera>/OpticalFlowInto{Future,Past}_NNNN_{L,R}.pfm`` for every
    frame (as the release: the last future and first past files exist but pair with nothing). Flow seed:
    300 * sequence + frame (+ 50 past); frame seed: 300 * sequence + 10 * pass + frame."""
    for q, sequence in enumerate(sequences):
        for camera in cameras:
            for p, pass_ in enumerate(("clean", "final")):
                for f in frames:
                    _png_frame(root / f"frames_{pass_}pass" / sequence / camera / f"{f:04d}.png", 300 * q + 10 * p + f)
            letter = camera[0].upper()
            for f in frames:
                flows = root / "optical_flow" / sequence
                write(flows / "into_future" / camera / f"OpticalFlowIntoFuture_{f:04d}_{letter}.pfm",
                      pfm_flow_bytes(flow_field(300 * q + f)))
                write(flows / "into_past" / camera / f"OpticalFlowIntoPast_{f:04d}_{letter}.pfm",
                      pfm_flow_bytes(flow_field(300 * q + f + 50)))
    return root
