"""Pairs per second the Spring reader delivers at Spring's size, beside decoding the two frames alone.

A temporary tree of one scene holds 1920x1080 PNG frames (random texture, so PNG cannot compress
it away: harder than Spring's renders) and 3840x2160 ``.flo5`` ground truth written as Spring's
own writer does (gzip level 5). Timed: ``Spring[i]`` (frames + ground truth, training view),
``Spring[i]`` with ``full_ground_truth`` (evaluation view), and ``read_image`` of the two frames.

    python -m benchmarks.spring_reader [--pairs 6]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.flow.datasets import Spring
from zoo.datamodules.flow.formats import read_image, write_flo5


def make_tree(root: Path, pairs: int) -> None:
    rng = np.random.default_rng(0)
    scene = root / "train" / "0001"
    for frame in range(1, pairs + 2):
        write_png(scene / "frame_left" / f"frame_left_{frame:04d}.png", rng.integers(0, 256, (1080, 1920, 3), np.uint8))
        if frame <= pairs:
            smooth = np.cumsum(rng.normal(0, 0.05, (2160, 3840, 2)), axis=1).astype(np.float32)  # flow-like, not noise
            write_flo5(scene / "flow_FW_left" / f"flow_FW_left_{frame:04d}.flo5", smooth)


def per_second(read, count: int) -> float:
    read(0)  # page cache and lazy imports are not throughput
    start = time.perf_counter()
    for index in range(count):
        read(index)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        make_tree(Path(tmp), args.pairs)
        training = Spring(tmp, cameras=("left",), directions=("FW",))
        evaluation = Spring(tmp, cameras=("left",), directions=("FW",), full_ground_truth=True)
        frames = per_second(lambda i: (read_image(training.samples[i].image1), read_image(training.samples[i].image2)),
                            args.pairs)
        reader = per_second(training.__getitem__, args.pairs)
        full = per_second(evaluation.__getitem__, args.pairs)
    print(f"Spring, 1920x1080 frames, 3840x2160 .flo5, {args.pairs} pairs, one process:")
    print(f"  frames alone            {frames:6.2f} pairs/s")
    print(f"  Spring reader           {reader:6.2f} pairs/s  ({reader / frames:.2f} x frames alone)")
    print(f"  with full ground truth  {full:6.2f} pairs/s  ({full / frames:.2f} x frames alone)")


if __name__ == "__main__":
    main()
