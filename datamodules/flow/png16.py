"""A minimal PNG codec that keeps all 16 bits (KITTI and HD1K flow maps).

Pillow silently reduces 16-bit RGB PNGs to 8 bits, which would destroy the 1/64 px resolution of
KITTI flow. This module reads and writes non-interlaced PNGs of bit depth 8 or 16 in grayscale
(colour type 0) or RGB (colour type 2) with ``zlib`` and ``struct`` only.

The decoder handles all five filter types (None, Sub, Up, Average, Paeth) of the PNG
specification. Average and Paeth make every byte depend on its left neighbour, so a row cannot
be undone with one vector operation; the decoder sweeps the image along anti-diagonals instead
(every pixel on one anti-diagonal depends only on pixels of the previous two), which costs
``H + W`` vector steps rather than ``H * W`` Python steps.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["decode_png", "encode_png", "PNGError"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3}  # colour type -> samples per pixel
_MAX_SIDE = 1 << 16


class PNGError(ValueError):
    """A PNG file that is malformed or uses a feature this codec does not support."""


def decode_png(data: bytes, source: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode the bytes of a PNG file (``source`` names it in errors).

    Returns an array (H, W) for grayscale or (H, W, 3) for RGB, dtype uint8 or uint16
    (the file's bit depth). Raises :class:`PNGError` naming the file for anything unsupported
    (palettes, alpha, interlacing, bit depths below 8) or malformed.
    """
    path = Path(source)
    if not data.startswith(_SIGNATURE):
        raise PNGError(f"{path}: not a PNG file (missing PNG signature)")
    header, idat = _read_chunks(path, data)
    width, height, depth, colour = header
    raw = _inflate(path, idat)
    channels = _CHANNELS[colour]
    bpp = channels * depth // 8  # bytes per pixel, the distance a filter looks left
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise PNGError(f"{path}: image data holds {len(raw)} bytes, expected {height * (stride + 1)} for {width}x{height}")
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride + 1)
    filters = rows[:, 0]
    if filters.max(initial=0) > 4:
        raise PNGError(f"{path}: unknown row filter type {int(filters.max())} (expected 0..4)")
    pixels = _unfilter(filters, rows[:, 1:].reshape(height, width, bpp))
    samples = pixels.reshape(height, width * channels * depth // 8)
    if depth == 16:
        samples = samples.view(">u2").astype(np.uint16)
    image = samples.reshape(height, width, channels)
    return image[..., 0] if channels == 1 else image


def encode_png(image: np.ndarray, filter_type: int | None = None) -> bytes:
    """Encode ``image`` as the bytes of a PNG file.

    ``image`` is (H, W) grayscale or (H, W, 3) RGB, dtype uint8 (8-bit file) or uint16 (16-bit
    file). ``filter_type`` forces one filter (0..4) on every row; ``None`` picks, row by row, the
    filter with the smallest sum of absolute filtered bytes (the usual libpng heuristic).
    """
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise PNGError(f"PNG samples must be uint8 or uint16, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3) or min(image.shape[:2]) == 0:
        raise PNGError(f"expected an image (H, W) or (H, W, 3), got shape {image.shape}")
    height, width, channels = image.shape
    depth = 16 if image.dtype == np.uint16 else 8
    pixels = image.astype(">u2" if depth == 16 else np.uint8).view(np.uint8).reshape(height, width, -1)
    filters, filtered = _filter(pixels, filter_type)
    raw = np.concatenate([filters[:, None], filtered.reshape(height, -1)], axis=1)
    colour = 0 if channels == 1 else 2
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)),
            _chunk(b"IEND", b""),
        ]
    )


def _read_chunks(path: Path, data: bytes) -> tuple[tuple[int, int, int, int], bytes]:
    """The IHDR fields (width, height, depth, colour) and the concatenated IDAT payload, CRCs checked."""
    header = None
    idat = []
    pos = len(_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        payload = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(payload) != length or len(crc) != 4:
            raise PNGError(f"{path}: truncated {kind!r} chunk")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + payload):
            raise PNGError(f"{path}: CRC mismatch in {kind!r} chunk (file corrupted)")
        if kind == b"IHDR":
            header = _parse_header(path, payload)
        elif kind == b"IDAT":
            idat.append(payload)
        elif kind == b"IEND":
            break
        # other chunks carry nothing the pixels need (a PLTE in an RGB file is only a suggested
        # palette; palette images, colour type 3, are refused by the header check)
        pos += 12 + length
    else:
        raise PNGError(f"{path}: truncated PNG (no IEND chunk)")
    if header is None or not idat:
        raise PNGError(f"{path}: PNG without IHDR or IDAT chunk")
    return header, b"".join(idat)


def _parse_header(path: Path, payload: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) of a supported IHDR."""
    if len(payload) != 13:
        raise PNGError(f"{path}: IHDR chunk has {len(payload)} bytes, expected 13")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", payload)
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise PNGError(f"{path}: implausible PNG size {width}x{height}")
    if colour not in _CHANNELS or depth not in (8, 16):
        raise PNGError(
            f"{path}: colour type {colour} at {depth} bits is not supported "
            "(expected grayscale or RGB at 8 or 16 bits)"
        )
    if compression != 0 or filtering != 0 or interlace != 0:
        raise PNGError(f"{path}: interlaced or non-standard PNGs are not supported")
    return width, height, depth, colour


def _inflate(path: Path, idat: bytes) -> bytes:
    try:
        return zlib.decompress(idat)
    except zlib.error as error:
        raise PNGError(f"{path}: corrupt image data ({error})") from error


def _paeth(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The Paeth predictor on int arrays: whichever of a, b, c is closest to a + b - c."""
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _predict(filters: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The byte predicted by each row's filter from left ``a``, up ``b``, up-left ``c``.

    ``filters`` broadcasts against the int arrays ``a``, ``b``, ``c``.
    """
    return np.select(
        [filters == 1, filters == 2, filters == 3, filters == 4],
        [a, b, (a + b) >> 1, _paeth(a, b, c)],
        default=0,
    )


def _unfilter(filters: np.ndarray, filtered: np.ndarray) -> np.ndarray:
    """Undo the row filters: (H,) filter types and (H, W, bpp) filtered bytes -> uint8 bytes."""
    height, width, bpp = filtered.shape
    # One row and one column of zeros in front: the "up" of row 0 and the "left" of column 0.
    out = np.zeros((height + 1, width + 1, bpp), np.int32)
    data = filtered.astype(np.int32)
    row_filter = filters.astype(np.int32)[:, None]
    for diagonal in range(height + width - 1):
        r = np.arange(max(0, diagonal - width + 1), min(height, diagonal + 1))
        i = diagonal - r
        a, b, c = out[r + 1, i], out[r, i + 1], out[r, i]
        out[r + 1, i + 1] = (data[r, i] + _predict(row_filter[r], a, b, c)) & 0xFF
    return out[1:, 1:].astype(np.uint8)


def _filter(pixels: np.ndarray, filter_type: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Filter (H, W, bpp) bytes: returns (H,) filter types and the (H, W, bpp) filtered bytes."""
    x = pixels.astype(np.int32)
    a = np.pad(x, ((0, 0), (1, 0), (0, 0)))[:, :-1]
    b = np.pad(x, ((1, 0), (0, 0), (0, 0)))[:-1]
    c = np.pad(x, ((1, 0), (1, 0), (0, 0)))[:-1, :-1]
    candidates = np.stack([x - _predict(np.int32(f), a, b, c) for f in range(5)]) & 0xFF  # (5, H, W, bpp)
    if filter_type is None:
        signed_cost = np.where(candidates > 127, 256 - candidates, candidates).sum(axis=(2, 3))
        filters = signed_cost.argmin(axis=0)
    elif filter_type in range(5):
        filters = np.full(len(x), filter_type)
    else:
        raise PNGError(f"filter_type must be None or 0..4, got {filter_type!r}")
    filtered = candidates[filters, np.arange(len(x))]
    return filters.astype(np.uint8), filtered.astype(np.uint8)


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
