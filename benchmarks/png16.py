"""16-bit PNG codecs on a KITTI-size flow map (1242x375, 3 channels, uint16): read and write time.

Every codec reads the same in-memory file (written by the baseline) and writes the same array;
each figure is the best of ``--repeats`` runs in one process, printed with its ratio to the
baseline, the project's own hand-written codec (:mod:`datamodules.flow.png16`). The content
is a KITTI-like dense flow map: smooth motion at 1/64 px steps plus sensor-like noise, with an
invalid band, so that the filters and deflate work as on real files.

    python -m benchmarks.png16 [--repeats 5]
"""

from __future__ import annotations

import argparse
import io
import time
from typing import Callable

import cv2
import numpy as np
import png

from datamodules.flow.png16 import decode_png, encode_png

HEIGHT, WIDTH = 375, 1242


def kitti_like_image(seed: int = 0) -> np.ndarray:
    """(375, 1242, 3) uint16 in the KITTI encoding: ``u, v = (R, G - 2**15) / 64``, ``B`` = valid."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    u = 0.04 * (x - WIDTH / 2) + 3 * np.sin(y / 25) + rng.normal(0, 0.2, x.shape)
    v = 0.02 * (y - HEIGHT / 3) + rng.normal(0, 0.2, x.shape)
    valid = y > 0.3 * HEIGHT  # KITTI has no ground truth in the sky
    image = np.stack([u * 64 + 2**15, v * 64 + 2**15, valid], axis=2)
    return np.where(valid[..., None], np.rint(image), [2**15, 2**15, 0]).astype(np.uint16)


def opencv_read(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)[..., ::-1]


def opencv_write(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    assert ok
    return encoded.tobytes()


def pypng_read(data: bytes) -> np.ndarray:
    width, height, rows, _ = png.Reader(bytes=data).read()
    return np.vstack([np.frombuffer(row, np.uint16) for row in rows]).reshape(height, width, 3)


def pypng_write(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    png.Writer(image.shape[1], image.shape[0], greyscale=False, bitdepth=16).write(
        buffer, image.reshape(image.shape[0], -1))
    return buffer.getvalue()


CODECS: dict[str, tuple[Callable[[bytes], np.ndarray], Callable[[np.ndarray], bytes]]] = {
    "png16 (ours, baseline)": (decode_png, encode_png),
    "opencv-python-headless": (opencv_read, opencv_write),
    "pypng": (pypng_read, pypng_write),
}


def best_time(function: Callable, argument, repeats: int) -> float:
    """The shortest of ``repeats`` wall-clock times of ``function(argument)``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    image = kitti_like_image()
    data = encode_png(image)
    print(f"{WIDTH}x{HEIGHT}x3 uint16, best of {args.repeats}; file written by the baseline: {len(data)} bytes")
    baseline = None
    for name, (read, write) in CODECS.items():
        np.testing.assert_array_equal(read(data), image)  # every codec reads the file exactly
        written = write(image)
        np.testing.assert_array_equal(decode_png(written), image)
        read_s, write_s = best_time(read, data, args.repeats), best_time(write, image, args.repeats)
        baseline = baseline or (read_s, write_s)
        print(f"{name:24s} read {read_s * 1e3:8.1f} ms ({read_s / baseline[0]:6.3f}x)   "
              f"write {write_s * 1e3:8.1f} ms ({write_s / baseline[1]:6.3f}x)   file {len(written)} bytes")


if __name__ == "__main__":
    main()
