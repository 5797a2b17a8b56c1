"""16-bit PNG codecs on a KITTI-size flow map (1242x375, 3 channels, uint16), and a PNG bomb.

Speed: every codec reads the same file and writes the same array; each figure is the best of
``--repeats`` runs in one process, with its ratio to the baseline, our reader and writer
(:func:`zoo.datamodules.flow.png_io.read_png` / ``encode_png``: libpng through OpenCV, after the
header check). The content is a KITTI-like dense flow map: smooth motion at 1/64 px steps
plus noise, with an invalid band, so that the filters and deflate work as on real files.

Memory: the peak resident memory of a fresh process that decodes a 0.8 MB PNG whose header
claims 12000 x 12000 16-bit RGB (a deflate bomb: 864 MB of pixels), with OpenCV alone and with
our reader, which refuses it from the header (over :data:`zoo.datamodules.flow.formats.MAX_PIXELS`).

    python -m benchmarks.png16 [--repeats 5]      (pypng: pip install pypng)

Figures on the 2-core development machine (shared), best of 5. This run, against our former
hand-written numpy codec (``datamodules/flow/png16.py``, removed; its benchmark is commit
"benchmarks/png16.py: our hand-written 16-bit PNG codec against OpenCV and pypng"):
hand-written read 230.8 ms / write 910.9 ms; OpenCV 17.1 ms (0.074x) / 26.1 ms (0.029x);
pypng 345.9 ms (1.50x) / 311.7 ms (0.34x). The bomb: OpenCV alone peaks at +1651 MB, pypng
at +2476 MB (28.6 s); pypng also returns one row, without an error, for a file that claims
100000 x 100000 and holds one row.
"""

from __future__ import annotations

import argparse
import io
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from zoo.datamodules.flow.formats import MAX_PIXELS
from zoo.datamodules.flow.png_io import encode_png, read_png

HEIGHT, WIDTH = 375, 1242
BOMB_SIDE = 12000


def kitti_like_image(seed: int = 0) -> np.ndarray:
    """(375, 1242, 3) uint16 in the KITTI encoding: ``u, v = (R, G - 2**15) / 64``, ``B`` = valid."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    u = 0.04 * (x - WIDTH / 2) + 3 * np.sin(y / 25) + rng.normal(0, 0.2, x.shape)
    v = 0.02 * (y - HEIGHT / 3) + rng.normal(0, 0.2, x.shape)
    valid = y > 0.3 * HEIGHT  # KITTI has no ground truth in the sky
    image = np.stack([u * 64 + 2**15, v * 64 + 2**15, valid], axis=2)
    return np.where(valid[..., None], np.rint(image), [2**15, 2**15, 0]).astype(np.uint16)


def opencv_read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]


def opencv_write(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))[1].tobytes()


def pypng_read(path: Path) -> np.ndarray:
    import png

    width, height, rows, _ = png.Reader(filename=str(path)).read()
    return np.vstack([np.frombuffer(row, np.uint16) for row in rows]).reshape(height, width, 3)


def pypng_write(image: np.ndarray) -> bytes:
    import png

    buffer = io.BytesIO()
    png.Writer(image.shape[1], image.shape[0], greyscale=False, bitdepth=16).write(
        buffer, image.reshape(image.shape[0], -1))
    return buffer.getvalue()


CODECS: dict[str, tuple[Callable[[Path], np.ndarray], Callable[[np.ndarray], bytes]]] = {
    "png_io (ours, baseline)": (lambda path: read_png(path, MAX_PIXELS), encode_png),
    "OpenCV alone": (opencv_read, opencv_write),
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


def speed(folder: Path, repeats: int) -> None:
    image = kitti_like_image()
    path = folder / "flow.png"
    path.write_bytes(encode_png(image))
    print(f"{WIDTH}x{HEIGHT}x3 uint16, best of {repeats}; file {path.stat().st_size} bytes")
    baseline = None
    for name, (read, write) in CODECS.items():
        try:
            np.testing.assert_array_equal(read(path), image)  # every codec reads the file exactly
        except ImportError as error:
            print(f"{name:24s} skipped ({error})")
            continue
        (folder / "written.png").write_bytes(write(image))
        np.testing.assert_array_equal(read_png(folder / "written.png", MAX_PIXELS), image)
        read_s, write_s = best_time(read, path, repeats), best_time(write, image, repeats)
        baseline = baseline or (read_s, write_s)
        print(f"{name:24s} read {read_s * 1e3:8.1f} ms ({read_s / baseline[0]:6.3f}x)   write {write_s * 1e3:8.1f} ms "
              f"({write_s / baseline[1]:6.3f}x)   file {(folder / 'written.png').stat().st_size} bytes")


def bomb(side: int) -> bytes:
    """A 16-bit RGB PNG of ``side`` x ``side`` zeros: deflate makes it about 1/1000 of its pixels."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor, row = zlib.compressobj(9), bytes(1 + 6 * side)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


_PEAK = """
import resource, sys, cv2
from zoo.datamodules.flow.formats import MAX_PIXELS
from zoo.datamodules.flow.png_io import read_png
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = cv2.imread(sys.argv[1], cv2.IMREAD_UNCHANGED).shape if sys.argv[2] == "opencv" else \\
        read_png(sys.argv[1], MAX_PIXELS).shape
except ValueError as error:
    outcome = f"refused: {str(error).split(': ', 1)[1]}"
print(f"{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024} MB; {outcome}")
"""


def memory(folder: Path) -> None:
    path = folder / "bomb.png"
    path.write_bytes(bomb(BOMB_SIDE))
    print(f"bomb: {path.stat().st_size} bytes claiming {BOMB_SIDE}x{BOMB_SIDE} 16-bit RGB "
          f"({BOMB_SIDE ** 2 * 6 / 1e6:.0f} MB of pixels)")
    for reader in ("opencv", "ours"):
        result = subprocess.run([sys.executable, "-c", _PEAK, str(path), reader], capture_output=True, text=True,
                                check=True)
        print(f"  {'OpenCV alone' if reader == 'opencv' else 'png_io (ours)':14s} peak memory +{result.stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        speed(Path(folder), args.repeats)
        memory(Path(folder))


if __name__ == "__main__":
    main()
