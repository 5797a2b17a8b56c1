"""Reading and writing optical flow and images in the formats of the standard datasets.

Conventions: a flow field is a float32 numpy array (H, W, 2) holding (u, v) in pixels, u to the
right and v down, from frame 1 to frame 2; its validity mask is a bool array (H, W). Images are
float32 (H, W, 3) RGB in [0, 1].

Formats (dispatched on the file extension by :func:`read_flow` and :func:`write_flow`):

- ``.flo`` (Middlebury, FlyingChairs, Sintel): float32 tag 202021.25, int32 width, int32 height,
  then float32 u, v interleaved row by row, little-endian. Components whose magnitude exceeds 1e9
  mean "unknown"; such pixels are invalid (and are written as 1e10).
- ``.png`` (KITTI, HD1K): 16-bit RGB, ``u = (R - 2**15) / 64``, ``v = (G - 2**15) / 64``,
  ``valid = B > 0``. Read and written by libpng (:mod:`zoo.datamodules.flow.png_io`) because Pillow
  truncates 16-bit RGB to 8 bits. Representable flow lies in [-512, 512) px at 1/64 px steps.
- ``.pfm`` (FlyingThings3D flow and disparity): a ``PF`` (3 channels) or ``Pf`` (1 channel)
  header line, ``width height``, a scale whose sign gives the byte order (negative: little
  endian), then float32 rows from the bottom of the image up. Flow files carry a third channel
  of zeros, dropped on reading. Non-finite values are invalid (and invalid pixels are written as
  NaN).
- ``.flo5`` (Spring): an HDF5 file whose dataset ``flow`` holds float (H, W, 2) u, v; NaN marks
  pixels without ground truth (Spring's own ``flow_IO.readFlo5Flow`` / ``writeFlo5File``, which
  write it gzip-compressed at level 5, as :func:`write_flo5` does). Read through h5py.

Readers refuse a PNG whose header claims more than :data:`MAX_PIXELS` pixels (2**27 =
134,217,728, e.g. 16384 x 8192: 1.5 GiB as float32 RGB) before decoding it.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zoo.datamodules.files.atomic import atomic_output, write_atomic
from zoo.datamodules.flow.png_io import encode_png, png_header, read_png

__all__ = [
    "FLO_TAG",
    "MAX_PIXELS",
    "UNKNOWN_FLOW_THRESHOLD",
    "FlowFormatError",
    "image_size",
    "read_flo",
    "read_flo5",
    "read_flow",
    "read_image",
    "read_kitti_flow",
    "read_pfm",
    "write_flo",
    "write_flo5",
    "write_flow",
    "write_kitti_flow",
    "write_pfm",
]

FLO_TAG = 202021.25
UNKNOWN_FLOW_THRESHOLD = 1e9
_FLO_UNKNOWN = 1e10
_MAX_SIDE = 1 << 16
#: The most pixels a reader decodes; larger headers are refused before decoding.
MAX_PIXELS = 1 << 27
_KITTI_OFFSET = 2**15
_KITTI_SCALE = 64.0
_PathLike = str | os.PathLike


class FlowFormatError(ValueError):
    """A flow file that is malformed or that a format cannot represent."""


def read_flow(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a flow file: ``(flow float32 (H, W, 2) px, valid bool (H, W))`` by extension."""
    readers = {".flo": read_flo, ".flo5": read_flo5, ".png": read_kitti_flow, ".pfm": _read_pfm_flow}
    return _by_extension(path, readers)(path)


def write_flow(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write ``flow`` (H, W, 2) px with optional ``valid`` (H, W) bool, atomically, by extension."""
    writers = {".flo": write_flo, ".flo5": write_flo5, ".png": write_kitti_flow, ".pfm": _write_pfm_flow}
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


def read_flo5(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a Spring ``.flo5`` file: the HDF5 dataset ``flow``, float (H, W, 2); non-finite
    components (Spring's NaN) mark pixels without ground truth. The shape is checked before the
    data is read (at most :data:`MAX_PIXELS` pixels)."""
    import h5py

    try:
        with h5py.File(path, "r") as file:
            dataset = file.get("flow")
            if not isinstance(dataset, h5py.Dataset):
                raise FlowFormatError(f"{path}: no HDF5 dataset 'flow' (keys: {sorted(file.keys())}); not a Spring .flo5 file")
            shape, kind = dataset.shape, dataset.dtype.kind
            if len(shape) != 3 or shape[2] != 2 or kind != "f" or not 0 < shape[0] * shape[1] <= MAX_PIXELS:
                raise FlowFormatError(f"{path}: 'flow' must be float (H, W, 2) with at most {MAX_PIXELS:,} pixels, "
                                      f"got {dataset.dtype} {shape}")
            flow = dataset[()].astype(np.float32)
    except OSError as error:  # h5py's message for a file that is not HDF5, truncated or corrupt
        raise FlowFormatError(f"{path}: cannot read as HDF5 ({_one_line(error)}); truncated or not a .flo5 file") from None
    return flow, np.isfinite(flow).all(axis=2)


def write_flo5(path: _PathLike, flow: np.ndarray, valid: np.ndarray | None = None) -> None:
    """Write a Spring ``.flo5`` file atomically: float32 (H, W, 2) in the HDF5 dataset ``flow``,
    gzip level 5 as Spring's writer; invalid pixels are stored as NaN."""
    import h5py

    flow, valid = _check_flow(path, flow, valid)
    stored = np.where(valid[..., None], flow, np.float32(np.nan))
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as file:
        file.create_dataset("flow", data=stored, compression="gzip", compression_opts=5)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def read_kitti_flow(path: _PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a KITTI 16-bit flow PNG: ``u, v = (R, G - 2**15) / 64``, valid where ``B > 0``."""
    header = png_header(path)
    if (header.bit_depth, header.colour_type) != (16, 2):
        raise FlowFormatError(f"{path}: KITTI flow PNGs are 16-bit RGB, this one is {header.kind}")
    image = read_png(path, MAX_PIXELS)
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
    # one whitespace character ends the header; a line end written on Windows is "\r\n"
    match = re.match(rb"(PF|Pf)\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)(\r\n|\s)", data)
    if match is None:
        raise FlowFormatError(f"{path}: not a PFM file (expected 'PF' or 'Pf', width, height, scale)")
    kind, width, height = match.group(1), int(match.group(2)), int(match.group(3))
    try:
        scale = float(match.group(4))
    except ValueError:
        raise FlowFormatError(f"{path}: PFM scale {match.group(4).decode()!r} is not a number (expected e.g. -1.0: "
                              "negative for little-endian data)") from None
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
    """Read an image file as float32 (H, W, 3) RGB in [0, 1], keeping every bit of its samples.

    Samples are divided by their full scale: 255 at 8 bits (1-bit files read 0 or 1), 65535 at
    16 bits (gray ``I;16*`` through Pillow; 16-bit colour PNGs, which Pillow cuts to 8 bits,
    through libpng). Pillow's 32-bit integer mode ``I`` is taken as 16-bit and 32-bit float ``F``
    as it is; both are refused with the range found when it lies outside [0, 65535] or [0, 1], and
    ``F`` images holding NaN or infinity are refused.
    Gray is repeated to RGB; palette, CMYK and YCbCr images are converted to RGB by Pillow.
    Alpha and palette transparency are dropped: the colour stored is the colour read, not
    composited on any background (as ``cv2.imread`` and the flow datasets' readers do). 16-bit
    colour TIFFs are read by Pillow at 8-bit precision.

    Raises:
        OSError: naming the file, for a file Pillow cannot open or decode.
        ValueError: naming the file, for sample values outside their mode's range, or a header
            that claims more than :data:`MAX_PIXELS` (refused before decoding).
    """
    with _opened_image(path) as image:
        try:
            samples, full_scale = _samples(path, image)
        except (OSError, SyntaxError) as error:  # Pillow's decoders raise both for broken files
            raise OSError(f"{path}: cannot read image ({error})") from error
    rgb = samples[..., :3] if samples.ndim == 3 else np.repeat(samples[..., None], 3, axis=2)
    rgb = rgb.astype(np.float32)
    rgb /= np.float32(full_scale)
    return rgb


def image_size(path: _PathLike) -> tuple[int, int]:
    """(width, height) of an image file, from its header: the pixels are not decoded.

    Raises as :func:`read_image` does for files it cannot open or that exceed :data:`MAX_PIXELS`.
    """
    with _opened_image(path) as image:
        return image.size


@contextlib.contextmanager
def _opened_image(path: _PathLike) -> Iterator[Image.Image]:
    """The file opened by Pillow, which reads only its header, once its size is within :data:`MAX_PIXELS`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS is the limit here
            image = Image.open(path)
    except Image.DecompressionBombError:
        width, height = _claimed_size(path)
        raise ValueError(f"{path}: the image header claims {width}x{height} = {width * height:,} px, over the "
                         f"limit of {MAX_PIXELS:,} px; refused before decoding") from None
    except UnidentifiedImageError:
        raise OSError(f"{path}: not an image file (no image format that Pillow reads matches its content)") from None
    except OSError as error:
        raise OSError(f"{path}: cannot read image ({error.strerror or error})") from error
    with image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"{path}: the image header claims {width}x{height} = {width * height:,} px, over the "
                             f"limit of {MAX_PIXELS:,} px; refused before decoding")
        yield image


def _claimed_size(path: _PathLike) -> tuple[int, int]:
    """(width, height) from the header of a file Pillow refused as a decompression bomb (its own
    check runs before ours and names no size); only the header is read, nothing is decoded."""
    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as image:
            return image.size
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _samples(path: _PathLike, image: Image.Image) -> tuple[np.ndarray, float]:
    """The decoded samples of the opened ``image``, (H, W) or (H, W, C), and their full-scale value."""
    if image.mode.startswith("I;16"):
        return np.asarray(image), 65535.0
    if image.mode in ("I", "F"):
        values, full_scale = np.asarray(image), 65535.0 if image.mode == "I" else 1.0
        if not np.isfinite(values).all():
            raise ValueError(f"{path}: holds NaN or infinite values ({int((~np.isfinite(values)).sum()):,} samples)")
        low, high = (values.min(), values.max()) if values.size else (0, 0)
        if not (0 <= low and high <= full_scale):
            raise ValueError(f"{path}: a mode {image.mode} image must hold values in [0, {full_scale:g}], "
                             f"found the range [{low:g}, {high:g}]")
        return values, full_scale
    if image.format == "PNG" and png_header(path).bit_depth == 16:  # colour: Pillow would keep 8 bits
        return read_png(path, MAX_PIXELS), 65535.0
    return np.asarray(image.convert("RGB")), 255.0


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
    """``flow`` as C-contiguous float32 (H, W, 2) and ``valid`` as bool (H, W) (all True when None).

    Any real dtype and memory layout is accepted (a permuted tensor's ``.numpy()`` is a strided view).
    """
    flow = np.ascontiguousarray(flow, np.float32)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise FlowFormatError(f"{path}: flow must have shape (H, W, 2), got {flow.shape}")
    valid = np.ones(flow.shape[:2], bool) if valid is None else np.ascontiguousarray(valid, bool)
    if valid.shape != flow.shape[:2]:
        raise FlowFormatError(f"{path}: valid mask shape {valid.shape} does not match flow {flow.shape[:2]}")
    return flow, valid & np.isfinite(flow).all(axis=2)


def _by_extension(path: _PathLike, table: dict):
    suffix = Path(path).suffix.lower()
    if suffix not in table:
        raise FlowFormatError(f"{path}: unknown flow file extension {suffix!r} (expected one of {sorted(table)})")
    return table[suffix]
