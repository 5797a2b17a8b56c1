"""PNG files that keep all 16 bits (KITTI and HD1K flow maps, 16-bit colour frames), through libpng.

Pillow reduces 16-bit colour PNGs to 8 bits, so these files are decoded and encoded by libpng
as OpenCV ships it (``cv2.imdecode(..., cv2.IMREAD_UNCHANGED)``, the reader of the optical-flow
libraries; ``benchmarks/png16.py`` has the figures that chose it). Before anything is decoded,
the IHDR chunk (the 13 bytes after the 8-byte signature and the chunk's length and type) is read
and a file whose width x height exceeds the caller's pixel limit is refused: a 1 MB file can
claim a 12000 x 12000 16-bit RGB image and inflate to 1.6 GB. Samples come back in the file's
order, RGB(A), not OpenCV's BGR(A).
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np

__all__ = ["PNGError", "PNGHeader", "encode_png", "png_header", "read_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_HEAD_BYTES = len(_SIGNATURE) + 8 + 13 + 4  # signature, IHDR length and type, IHDR data, CRC
#: "[ WARN:0@0.02] global grfmt_png.cpp:793 readFromStreamOrBuffer " before OpenCV's own messages
_OPENCV_LOG_PREFIX = re.compile(r"^\[\s*\w+:[^\]]*\]\s+global\s+\S+\s+\S+\s+")
_COLOUR_NAMES = {0: "gray", 2: "RGB", 3: "palette", 4: "gray + alpha", 6: "RGBA"}


class PNGError(ValueError):
    """A PNG file that is malformed, corrupt, or larger than the caller allows."""


class PNGHeader(NamedTuple):
    """The IHDR fields that matter here: size in pixels, bits per sample, PNG colour type
    (0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA)."""

    width: int
    height: int
    bit_depth: int
    colour_type: int

    @property
    def kind(self) -> str:
        """E.g. ``"16-bit RGB"``."""
        return f"{self.bit_depth}-bit {_COLOUR_NAMES.get(self.colour_type, f'colour type {self.colour_type}')}"


def png_header(path: str | os.PathLike) -> PNGHeader:
    """The IHDR of the PNG file ``path``, read from its first 33 bytes without decoding anything.

    Raises:
        PNGError: naming the file, when it is not a PNG or its IHDR is missing or corrupt.
    """
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
    if not head.startswith(_SIGNATURE):
        raise PNGError(f"{path}: not a PNG file (no PNG signature)")
    length, kind = struct.unpack(">I4s", head[8:16])
    if len(head) < _HEAD_BYTES or kind != b"IHDR" or length != 13:
        raise PNGError(f"{path}: truncated or corrupt PNG (no 13-byte IHDR chunk after the signature)")
    if struct.unpack(">I", head[29:33])[0] != zlib.crc32(head[12:29]):
        raise PNGError(f"{path}: corrupt PNG (CRC mismatch in the IHDR chunk)")
    return PNGHeader(*struct.unpack(">IIBB", head[16:26]))


def read_png(path: str | os.PathLike, max_pixels: int) -> np.ndarray:
    """Decode the PNG ``path`` with all its bits.

    Args:
        path: the file.
        max_pixels: refuse, before decoding, a file whose IHDR claims more pixels than this.

    Returns:
        (H, W) gray, or (H, W, 3) RGB, or (H, W, 4) RGBA (gray + alpha and transparency
        chunks become RGBA); uint8 for bit depths up to 8, uint16 for 16.

    Raises:
        PNGError: naming the file, for a non-PNG, a file over ``max_pixels``, or data libpng
            cannot decode (its own message is quoted, e.g. ``IDAT: CRC error``).
    """
    import cv2

    header = png_header(path)
    if header.width * header.height > max_pixels:
        raise PNGError(f"{path}: the PNG header claims {header.width}x{header.height} = "
                       f"{header.width * header.height:,} px, over the limit of {max_pixels:,} px; "
                       "refused before decoding")
    data = np.fromfile(path, np.uint8)
    with _stderr_captured() as messages:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        said = [_OPENCV_LOG_PREFIX.sub("", line) for line in messages if line.strip()]
        raise PNGError(f"{path}: corrupt or truncated PNG ({'; '.join(said) or 'the decoder gave no reason'})")
    return _swap_red_blue(image)


def encode_png(image: np.ndarray) -> bytes:
    """The bytes of a PNG file holding ``image``: (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA,
    uint8 (8-bit file) or uint16 (16-bit file); any memory layout."""
    import cv2

    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3) \
            or (image.ndim == 3 and image.shape[2] not in (3, 4)) or 0 in image.shape:
        raise PNGError(f"a PNG holds uint8 or uint16 (H, W), (H, W, 3) or (H, W, 4) samples, "
                       f"got {image.dtype} {image.shape}")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(_swap_red_blue(image)))
    if not ok:
        raise PNGError(f"OpenCV could not encode a {image.dtype} {image.shape} image as PNG")
    return encoded.tobytes()


def _swap_red_blue(image: np.ndarray) -> np.ndarray:
    """RGB(A) <-> BGR(A); gray is returned as it is."""
    if image.ndim == 2:
        return image
    return np.concatenate([image[..., 2::-1], image[..., 3:]], axis=2)


@contextlib.contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """Send file descriptor 2 to a temporary file for the block and yield the list that receives
    its lines when the block ends: libpng prints its errors and warnings there, and the caller
    quotes them instead of letting them reach the terminal. (While the block runs, other
    threads' output to fd 2 is captured too.)"""
    lines: list[str] = []
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines.extend(capture.read().decode("utf-8", "replace").splitlines())
