"""Pairs per second each flow dataset reader delivers, beside decoding the same pairs' two frames alone.

Every reader of :mod:`zoo.datamodules.flow.datasets` whose data is not on this machine is timed on a
tree of ``--pairs`` pairs written in its release layout at its native frame size (smooth random frames
encoded as the release does: PNG or JPEG; flow as ``.flo``, ``.pfm``, ``.npy``, ``.npz`` or 16-bit PNG).
``reader`` is ``dataset[i]`` (frames, flow, valid mask: what training reads); ``frames`` is
:func:`~zoo.datamodules.flow.formats.read_image` of the two frames only; the ratio says how much of a
reader's time its ground truth adds. One process, one thread, files in the page cache (after a warm-up
pass), no augmentation.

    python -m benchmarks.flow_readers [--pairs 6] [--seconds 1.5] [--only chairs2,viper]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from zoo.datamodules.files.atomic import write_atomic
from zoo.datamodules.flow.datasets import (
    AutoFlow,
    Driving,
    FlowDataset,
    FlyingChairs2,
    FlyingThings3DSubset,
    Kubric,
    Middlebury,
    Monkaa,
    Spring,
    TartanAir,
    Viper,
    VirtualKITTI2,
)
from zoo.datamodules.flow.formats import read_image, write_flo5, write_flow
from zoo.datamodules.flow.png_io import encode_png

RNG = np.random.default_rng(0)


def smooth_frame(size: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W, 3): random 8x8-px blocks, bilinearly smoothed (compresses like rendered frames do)."""
    height, width = size
    coarse = RNG.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width + 16, height + 16), Image.BILINEAR))[:height, :width]


def flow(size: tuple[int, int]) -> np.ndarray:
    return (RNG.standard_normal((*size, 2)) * 5).astype(np.float32)


def png(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_frame(size)).save(path)


def jpg(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_frame(size)).save(path, quality=90)


def flo(path: Path, size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_flow(path, flow(size))


def mask_png(path: Path, size: tuple[int, int]) -> None:
    write_atomic(path, encode_png(((RNG.random(size) < 0.2) * 255).astype(np.uint8)))


def png16(path: Path, size: tuple[int, int], blue: int) -> None:
    """A 16-bit RGB flow PNG of smooth codes (as rendered flow is: it compresses), blue channel ``blue``."""
    codes = smooth_frame(size).astype(np.uint16) * 257 + RNG.integers(0, 4, (*size, 3)).astype(np.uint16)
    codes[..., 2] = blue
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, encode_png(codes))


def chairs2(root: Path, pairs: int) -> FlowDataset:
    size = (384, 512)
    for n in range(pairs):
        stem = root / "train" / f"{n:07d}-"
        for i in (0, 1):
            png(Path(f"{stem}img_{i}.png"), size)
        flo(Path(f"{stem}flow_01.flo"), size)
        mask_png(Path(f"{stem}occ_01.png"), size)
    return FlyingChairs2(root, "train", directions=("forward",))


def things_subset(root: Path, pairs: int) -> FlowDataset:
    size = (540, 960)
    for n in range(pairs + 1):
        png(root / "train" / "image_clean" / "left" / f"{n:07d}.png", size)
    for n in range(pairs):
        flo(root / "train" / "flow" / "left" / "into_future" / f"{n:07d}.flo", size)
        mask_png(root / "train" / "flow_occlusions" / "left" / "into_future" / f"{n:07d}.png", size)
    return FlyingThings3DSubset(root, "train", passes=("clean",), directions=("future",))


def tartanair(root: Path, pairs: int) -> FlowDataset:
    size = (480, 640)
    trajectory = root / "abandonedfactory" / "Easy" / "P000"
    for n in range(pairs + 1):
        png(trajectory / "image_left" / f"{n:06d}_left.png", size)
    (trajectory / "flow").mkdir(parents=True)
    for n in range(pairs):
        np.save(trajectory / "flow" / f"{n:06d}_{n + 1:06d}_flow.npy", flow(size))
        np.save(trajectory / "flow" / f"{n:06d}_{n + 1:06d}_mask.npy", (RNG.random(size) < 0.2).astype(np.uint8))
    return TartanAir(root, difficulties=("Easy",))


def autoflow(root: Path, pairs: int) -> FlowDataset:
    size = (448, 576)
    for part in range(1, 5):
        for k in range(max(pairs // 4, 1)):
            folder = root / f"static_40k_png_{part}_of_4" / f"table_{k:05d}"
            png(folder / "im0.png", size)
            png(folder / "im1.png", size)
            flo(folder / "forward.flo", size)
    return AutoFlow(root)


def middlebury(root: Path, pairs: int) -> FlowDataset:
    size = (388, 584)
    for s in range(pairs):
        for f in (10, 11):
            png(root / "other-data" / f"seq{s}" / f"frame{f}.png", size)
        flo(root / "other-gt-flow" / f"seq{s}" / "flow10.flo", size)
    return Middlebury(root)


def vkitti2(root: Path, pairs: int) -> FlowDataset:
    size = (375, 1242)
    for n in range(pairs + 1):
        jpg(root / "vkitti_2.0.3_rgb" / "Scene01" / "clone" / "frames" / "rgb" / "Camera_0" / f"rgb_{n:05d}.jpg", size)
    for n in range(pairs):
        png16(root / "vkitti_2.0.3_forwardFlow" / "Scene01" / "clone" / "frames" / "forwardFlow" / "Camera_0" /
              f"flow_{n:05d}.png", size, blue=1)
    return VirtualKITTI2(root, directions=("forward",), cameras=("Camera_0",))


def viper(root: Path, pairs: int) -> FlowDataset:
    size = (1080, 1920)
    for n in range(pairs):
        for m in (10 * n, 10 * n + 1):
            png(root / "train" / "img" / "001" / f"001_{m:05d}.png", size)
        values = flow(size)
        (root / "train" / "flow" / "001").mkdir(parents=True, exist_ok=True)
        np.savez(root / "train" / "flow" / "001" / f"001_{10 * n:05d}.npz", u=values[..., 0], v=values[..., 1])
    return Viper(root, "train")


def kubric(root: Path, pairs: int) -> FlowDataset:
    size = (512, 512)
    folder = root / "0000"
    for n in range(pairs + 1):
        png(folder / f"rgba_{n:05d}.png", size)
        png16(folder / f"forward_flow_{n:05d}.png", size, blue=0)
    (folder / "data_ranges.json").write_text(json.dumps({"forward_flow": {"min": -30.0, "max": 40.0}}))
    return Kubric(root)


def spring(root: Path, pairs: int) -> FlowDataset:
    """1080x1920 frames, ground truth at 2160x3840 in ``.flo5`` (gzip level 5, as Spring's writer)."""
    size = (1080, 1920)
    scene = root / "train" / "0001"
    for n in range(1, pairs + 2):
        png(scene / "frame_left" / f"frame_left_{n:04d}.png", size)
    for n in range(1, pairs + 1):
        write_flo5(scene / "flow_FW_left" / f"flow_FW_left_{n:04d}.flo5", flow((2 * size[0], 2 * size[1])))
    return Spring(root, cameras=("left",), directions=("FW",))


def scene_flow(cls: type, sequence: str) -> Callable[[Path, int], FlowDataset]:
    def build(root: Path, pairs: int) -> FlowDataset:
        size = (540, 960)
        for n in range(pairs + 1):
            png(root / "frames_cleanpass" / sequence / "left" / f"{n:04d}.png", size)
            flo(root / "optical_flow" / sequence / "into_future" / "left" / f"OpticalFlowIntoFuture_{n:04d}_L.pfm", size)
        return cls(root, passes=("clean",), directions=("future",))

    return build


READERS: dict[str, Callable[[Path, int], FlowDataset]] = {
    "chairs2": chairs2, "things-subset": things_subset, "tartanair": tartanair, "autoflow": autoflow,
    "middlebury": middlebury, "vkitti2": vkitti2, "viper": viper, "kubric": kubric, "spring": spring,
    "monkaa": scene_flow(Monkaa, "a_rain_of_stones_x2"), "driving": scene_flow(Driving, "15mm_focallength/scene_forwards/fast"),
}


def pairs_per_second(read_pair: Callable[[int], object], count: int, seconds: float) -> float:
    """Pairs read per second, cycling over the ``count`` pairs for at least ``seconds`` after one warm-up pass."""
    for index in range(count):
        read_pair(index)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        read_pair(done % count)
        done += 1
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.5, help="timing per reader and per variant")
    parser.add_argument("--only", default=None, help="comma-separated readers (default: all)")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(READERS)
    torch.set_num_threads(1)
    print(f"{'dataset':<14} {'frame size':>11} {'reader pairs/s':>15} {'frames pairs/s':>15} {'reader / frames':>16}")
    with tempfile.TemporaryDirectory(prefix="zoo-flow-readers-") as tmp:
        for name in names:
            dataset = READERS[name](Path(tmp) / name, args.pairs)
            height, width = dataset[0]["flow"].shape[1:]

            def frames_alone(index: int, dataset: FlowDataset = dataset) -> None:
                sample = dataset.samples[index]
                read_image(sample.image1), read_image(sample.image2)

            reader = pairs_per_second(dataset.__getitem__, len(dataset), args.seconds)
            frames = pairs_per_second(frames_alone, len(dataset), args.seconds)
            print(f"{name:<14} {f'{height}x{width}':>11} {reader:>15.1f} {frames:>15.1f} {reader / frames:>15.2f}x")


if __name__ == "__main__":
    main()
