"""A PNG decoder written from the PNG specification (zlib and struct only), independent of libpng,
OpenCV and Pillow: for checking what the zoo's writers put in 16-bit files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def decode_png(path: Path) -> np.ndarray:
    """(H, W, C) samples of a non-interlaced gray / RGB (+ alpha) PNG of 8 or 16 bits, uint8 or uint16."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", None
    while position < len(data):
        (length,), kind = struct.unpack(">I", data[position:position + 4]), data[position + 4:position + 8]
        payload = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat += payload
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert interlace == 0 and depth in (8, 16) and colour in _CHANNELS
    step = _CHANNELS[colour] * depth // 8  # bytes per pixel
    stride = width * step
    raw = zlib.decompress(idat)
    rows, previous = [], bytearray(stride)
    for r in range(height):
        kind, line = raw[r * (stride + 1)], bytearray(raw[r * (stride + 1) + 1:(r + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up = previous[i]
            corner = previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(line))
        previous = line
    samples = np.frombuffer(b"".join(rows), ">u2" if depth == 16 else "u1")
    return samples.reshape(height, width, _CHANNELS[colour]).astype(np.uint16 if depth == 16 else np.uint8)
