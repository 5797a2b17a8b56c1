"""Reading and writing optical flow and images in the formats of the standard datasets.

Conventions: a flow field is a float32 numpy array (H, W, 2) holding (u, v) in pixels, u to the
right and v down, from frame 1 to frame 2; its validity mask is a bool array (H, W). Images are
float32 (H, W, 3) RGB in [0, 1].

Formats (dispatched on the file extension by :func:`read_flow` and :func:`write_flow`):

- ``.flo`` (Middlebury, FlyingChairs, Sintel): float32 tag 202021.25, int32 width, int32 height,
  then float32 u, v interleaved row by row, little-endian. Components whose magnitude exceeds 1e9
  mean "unknown"; such pixels are invalid (and are written as 1e10).
- ``.png`` (KITTI, HD1K): 16-bit RGB, ``u = (R - 2**15) / 64``, ``v = (G - 2**15) / 64``,
  ``valid = B > 0``. Read and written by :mod:`datamodules.flow.png16` because Pillow truncates
  16-bit RGB to 8 bits. Representable flow lies in [-512, 512) px at 1/64 px steps.
- ``.pfm`` (FlyingThings3D flow and disparity): a ``PF`` (3 channels) or ``Pf`` (1 channel)
  header line, ``width height``, a scale whose sign gives the byte order (negative: little
  endian), then float32 rows from the bottom of the image up. Flow files carry a third channel
  of zeros, dropped on reading. Non-finite values are invalid (and invalid pixels are written as
  NaN).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image

from datamodules.files.atomic import write_atomic
from datamodules.flow.png16 import decode_png, encode_png

__all__ = [
    "FLO_TAG",
    "UNKNOWN_FLOW_THRESHOLD",
    "FlowFormatError",
    "read_flow",
    "write_flow",
    "read_flo",
    "write_flo",
    "read_kitti_flow",
    "write_kitti_flow",
    "read_pfm",
    "write_pfm",
    "read_image",
]

FLO_TAG = 202021.25
UNKNOWN_FLOW_THRESHOLD = 1e9
_FLO_UNKNOWN = 1e10
_MAX_SIDE = 1 << 16
_KITTI_OFFSET = 2**15
_KITTI_SCALE = 64.0
_PathLike = str | os.PathLike


class FlowFormatError(ValueError):
    """A flow file that is malformed or that a format cannot represent."""


def read_flow(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a flow file: ``(flow float32 (H, W, 2) px, valid bool (H, W))`` by extension."""
    readers = {".flo": read_flo, ".png": read_kitti_flow, ".pfm": _read_pfm_flow}
    return _by_extension(path, readers)(path)


def write_flow(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write ``flow`` (H, W, 2) px with optional ``valid`` (H, W) bool, atomically, by extension."""
    writers = {".flo": write_flo, ".png": write_kitti_flow, ".pfm": _write_pfm_flow}
    _by_extension(path, writers)(path, flow, valid)


def read_flo(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a Middlebury ``.flo`` file; components above 1e9 in magnitude mark invalid pixels
    (Middlebury's ``unknown_flow``: ``|u| > 1e9 or |v| > 1e9``, so 1e9 itself is a value)."""
    data = Path(path).read_bytes()
    if len(data) < 12:
        raise FlowFormatError(f"{path}: truncated .flo file ({len(data)} bytes, the header alone has 12)")
    tag = np.frombuffer(data, "<f4", 1)[0]
    if tag != np.float32(FLO_TAG):
        raise FlowFormatError(f"{path}: wrong .flo tag {tag!r} (expected {FLO_TAG}); not a Middlebury flow file")
    width, height = (int(n) for n in np.frombuffer(data, "<i4", 2, offset=4))
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise FlowFormatError(f"{path}: absurd .flo size {width}x{height}")
    expected = 12 + 8 * width * height
    if len(data) != expected:
        raise FlowFormatError(
            f"{path}: .flo of {width}x{height} needs {expected} bytes, the file has {len(data)} (truncated or corrupt)"
        )
    flow = np.frombuffer(data, "<f4", 2 * width * height, offset=12).reshape(height, width, 2).astype(np.float32)
    valid = (np.abs(flow) <= UNKNOWN_FLOW_THRESHOLD).all(axis=2) & np.isfinite(flow).all(axis=2)
    return flow, valid


def write_flo(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a Middlebury ``.flo`` file; invalid pixels are stored as the unknown value 1e10."""
    flow, valid = _check_flow(path, flow, valid)
    stored = np.where(valid[..., None], flow, np.float32(_FLO_UNKNOWN)).astype("<f4")
    height, width = flow.shape[:2]
    header = np.array([FLO_TAG], "<f4").tobytes() + np.array([width, height], "<i4").tobytes()
    write_atomic(path, header + stored.tobytes())


def read_kitti_flow(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit flow PNG: ``u, v = (R, G - 2**15) / 64``, valid where ``B > 0``."""
    image = decode_png(Path(path).read_bytes(), path)
    if image.ndim != 3 or image.dtype != np.uint16:
        raise FlowFormatError(
            f"{path}: KITTI flow PNGs are 16-bit RGB, this one is {image.dtype.itemsize * 8}-bit "
            f"with {1 if image.ndim == 2 else image.shape[2]} channel(s)"
        )
    flow = (image[..., :2].astype(np.float32) - _KITTI_OFFSET) / _KITTI_SCALE
    valid = image[..., 2] > 0
    return flow, valid


def write_kitti_flow(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a KITTI 16-bit flow PNG (flow rounded to 1/64 px; invalid pixels stored as 0 flow)."""
    flow, valid = _check_flow(path, flow, valid)
    encoded = np.where(valid[..., None], np.rint(flow * _KITTI_SCALE) + _KITTI_OFFSET, _KITTI_OFFSET)
    if encoded.min(initial=0) < 0 or encoded.max(initial=0) > 0xFFFF:
        raise FlowFormatError(f"{path}: KITTI PNG flow must lie in [-512, 512) px, got [{flow[valid].min()}, {flow[valid].max()}]")
    image = np.concatenate([encoded, valid[..., None]], axis=2).astype(np.uint16)
    write_atomic(path, encode_png(image))


def read_pfm(path: _PathLike) -> np.ndarray:
    """Read a PFM file as float32 (H, W) for ``Pf`` or (H, W, 3) for ``PF``, top row first."""
    data = Path(path).read_bytes()
    match = re.match(rb"(PF|Pf)\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s", data)
    if match is None:
        raise FlowFormatError(f"{path}: not a PFM file (expected 'PF' or 'Pf', width, height, scale)")
    kind, width, height = match.group(1), int(match.group(2)), int(match.group(3))
    scale = float(match.group(4))
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE) or scale == 0:
        raise FlowFormatError(f"{path}: absurd PFM header (size {width}x{height}, scale {scale})")
    channels = 3 if kind == b"PF" else 1
    count = width * height * channels
    body = data[match.end() :]
    if len(body) != 4 * count:
        raise FlowFormatError(f"{path}: PFM of {width}x{height}x{channels} needs {4 * count} data bytes, has {len(body)}")
    values = np.frombuffer(body, "<f4" if scale < 0 else ">f4", count).reshape(height, width, channels)
    image = np.flipud(values).astype(np.float32)
    return image[..., 0] if channels == 1 else image


def write_pfm(path: _PathLike, image: np.ndarray) -> None:
    """Write float (H, W) as ``Pf`` or (H, W, 3) as ``PF``, little-endian, bottom row first."""
    image = np.asarray(image, np.float32)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise FlowFormatError(f"{path}: PFM holds (H, W) or (H, W, 3) arrays, got shape {image.shape}")
    kind = "Pf" if image.ndim == 2 else "PF"
    header = f"{kind}\n{image.shape[1]} {image.shape[0]}\n-1.0\n".encode("ascii")
    write_atomic(path, header + np.flipud(image).astype("<f4").tobytes())


def read_image(path: _PathLike) -> np.ndarray:
    """Read a PNG, JPEG or PPM image as float32 (H, W, 3) RGB in [0, 1] (gray is replicated)."""
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    except OSError as error:
        raise OSError(f"{path}: cannot read image ({error})") from error
    return rgb / 255.0


def _read_pfm_flow(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    image = read_pfm(path)
    if image.ndim != 3:
        raise FlowFormatError(f"{path}: a flow PFM has 3 channels ('PF'), this one has 1 ('Pf', a disparity map?)")
    flow = np.ascontiguousarray(image[..., :2])
    return flow, np.isfinite(flow).all(axis=2)


def _write_pfm_flow(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    flow, valid = _check_flow(path, flow, valid)
    stored = np.where(valid[..., None], flow, np.float32(np.nan))
    write_pfm(path, np.concatenate([stored, np.zeros_like(stored[..., :1])], axis=2))


def _check_flow(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``flow`` as float32 (H, W, 2) and ``valid`` as bool (H, W) (all True when None)."""
    flow = np.asarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise FlowFormatError(f"{path}: flow must have shape (H, W, 2), got {flow.shape}")
    valid = np.ones(flow.shape[:2], bool) if valid is None else np.asarray(valid, bool)
    if valid.shape != flow.shape[:2]:
        raise FlowFormatError(f"{path}: valid mask shape {valid.shape} does not match flow {flow.shape[:2]}")
    return flow, valid & np.isfinite(flow).all(axis=2)


def _by_extension(path: _PathLike, table: dict):
    suffix = Path(path).suffix.lower()
    if suffix not in table:
        raise FlowFormatError(f"{path}: unknown flow file extension {suffix!r} (expected one of {sorted(table)})")
    return table[suffix]
