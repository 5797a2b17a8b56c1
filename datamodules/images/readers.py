"""Readers of the image datasets' published on-disk formats.

Every reader returns plain numpy arrays and raises an error naming the file and what was
expected when the file does not fit its format:

- MNIST: IDX files (``train-images-idx3-ubyte[.gz]`` ...), big-endian header with magic checks.
- CIFAR-10: the python pickles of ``cifar-10-batches-py/``, read with an unpickler that can build
  nothing but numpy arrays (no arbitrary objects, no code).
- CelebA: ``list_eval_partition.txt`` and the aligned JPEGs, with NVAE's 64x64 crop.
- Image folders (FFHQ, CelebA-HQ): square images resized to 256 as NVAE prepared them.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "CELEBA_ALIGNED_SIZE",
    "CELEBA_CROP_BOX",
    "CIFAR10_ARCHIVE_SHA256",
    "CIFAR10_ARCHIVE_URL",
    "CIFAR10_FOLDER",
    "CIFAR10_TEST_BATCH",
    "CIFAR10_TRAIN_BATCHES",
    "IMAGE_SUFFIXES",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNISTFile",
    "celeba64",
    "celeba64_face",
    "list_images",
    "md5_hex",
    "parse_idx",
    "read_celeba_partition",
    "read_cifar_batch",
    "read_idx",
    "read_idx_bytes",
    "read_rgb",
    "square_resized",
]

# ---------------------------------------------------------------------------------------------
# MNIST (IDX)


@dataclass(frozen=True)
class MNISTFile:
    """One of the four MNIST files.

    Attributes:
        name: file name without ``.gz``.
        archive_sha256: SHA-256 of the official ``.gz`` archive (what a download must match).
        content_md5: MD5 of the uncompressed IDX bytes (what any local copy must match).
        ndim: number of IDX dimensions (3 for images N x 28 x 28, 1 for labels N).
        count: number of items.
    """

    name: str
    archive_sha256: str
    content_md5: str
    ndim: int
    count: int


MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

MNIST_FILES = {
    "train_images": MNISTFile("train-images-idx3-ubyte",
                              "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                              "6bbc9ace898e44ae57da46a324031adb", 3, 60_000),
    "train_labels": MNISTFile("train-labels-idx1-ubyte",
                              "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                              "a25bea736e30d166cdddb491f175f624", 1, 60_000),
    "test_images": MNISTFile("t10k-images-idx3-ubyte",
                             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                             "2646ac647ad5339dbf082846283269ea", 3, 10_000),
    "test_labels": MNISTFile("t10k-labels-idx1-ubyte",
                             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                             "27ae3e4e09519cfbb04c329615203637", 1, 10_000),
}

_IDX_UBYTE = 0x08


MAX_IDX_BYTES = 1 << 30  # the largest IDX payload read (MNIST's largest file: 47 MB)


def read_idx_bytes(path: str | Path) -> bytes:
    """The uncompressed bytes of an IDX file, plain or gzipped (decided by the ``.gz`` suffix).

    Reading stops one byte past the size the header promises (at most :data:`MAX_IDX_BYTES`), so
    an archive that inflates far beyond it is refused without being inflated.
    """
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            head = f.read(4)
            head += f.read(4 * head[3]) if len(head) == 4 else b""
            promised = _idx_size(head)
            if promised is not None and promised > MAX_IDX_BYTES:
                raise ValueError(f"{path}: IDX header promises {promised:,} bytes, more than the "
                                 f"{MAX_IDX_BYTES:,} read at most")
            data = bytearray(head)
            wanted = (promised if promised is not None else len(head)) + 1
            while len(data) < wanted and (chunk := f.read(min(1 << 20, wanted - len(data)))):
                data += chunk
            return bytes(data)
    except (EOFError, gzip.BadGzipFile, OSError) as error:
        raise ValueError(f"{path}: cannot read the IDX file ({error})") from error


def _idx_size(head: bytes) -> int | None:
    """The total size in bytes an unsigned-byte IDX header promises, or None if ``head`` is no such header."""
    if len(head) < 4 or head[:3] != bytes([0, 0, _IDX_UBYTE]) or len(head) < 4 + 4 * head[3]:
        return None
    shape = np.frombuffer(head, ">i4", count=head[3], offset=4).astype(np.int64)
    return len(head) + int(np.prod(shape)) if (shape >= 0).all() else None


def parse_idx(data: bytes, path: str | Path, ndim: int | None = None) -> np.ndarray:
    """An IDX payload of unsigned bytes as a uint8 array of the shape its header gives.

    The header is two zero bytes, the type code 0x08 (unsigned byte), the number of
    dimensions, then one big-endian int32 per dimension. ``path`` only names the file in errors.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE:
        raise ValueError(
            f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex() or 'missing'}, "
            f"expected 0000 08 followed by the number of dimensions)")
    if ndim is not None and data[3] != ndim:
        raise ValueError(f"{path}: IDX file has {data[3]} dimensions, expected {ndim}")
    header_len = 4 + 4 * data[3]
    if len(data) < header_len:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, expected {header_len})")
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", count=data[3], offset=4))
    expected = header_len + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(
            f"{path}: IDX header promises shape {shape} ({expected} bytes) but the file has "
            f"{len(data)} bytes ({'truncated' if len(data) < expected else 'trailing data'})")
    return np.frombuffer(data, np.uint8, offset=header_len).reshape(shape)


def read_idx(path: str | Path, ndim: int | None = None) -> np.ndarray:
    """The uint8 array stored in an IDX file (``.gz`` or plain); ``ndim`` is checked if given."""
    return parse_idx(read_idx_bytes(path), path, ndim)


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# ---------------------------------------------------------------------------------------------
# CIFAR-10 (python pickles)

CIFAR10_ARCHIVE_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"

_RECONSTRUCT = np.empty(0).__reduce__()[0]
# The only callables a CIFAR batch needs: numpy's array reconstruction (the batches were
# written by Python 2 with numpy's old module path; numpy 2 writes numpy._core).
_PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Builds dicts, lists, strings, numbers and numpy arrays; refuses every other global."""

    def find_class(self, module: str, name: str):
        try:
            return _PICKLE_ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR batch holds only plain types and "
                "numpy arrays") from None


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of one CIFAR-10 python batch.

    Returns:
        images: uint8 (N, 32, 32, 3) RGB (the file stores N x 3072, one 1024-value plane per
            channel, each plane row-major).
        labels: int64 (N,) class indices in [0, 9].
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as error:
        raise ValueError(f"{path}: not a readable CIFAR-10 batch ({error})") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: expected a dict with keys b'data' and b'labels'")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' must be a uint8 N x 3072 array, got {got}")
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or (
            len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ValueError(
            f"{path}: b'labels' must be {len(data)} integers in [0, 9], got {labels.dtype} "
            f"{labels.shape}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Decoded images: CelebA and square image folders

CELEBA_ALIGNED_SIZE = (178, 218)  # (width, height) of every img_align_celeba JPEG
# NVAE's CropCelebA64 (after autoencoding_beyond_pixels): (left, upper, right, lower) = a
# 148 x 148 face box, later resized to 64 x 64.
CELEBA_CROP_BOX = (15, 40, 178 - 15, 218 - 30)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PARTITIONS = {"0": "train", "1": "valid", "2": "test"}


def read_celeba_partition(path: str | Path) -> dict[str, list[str]]:
    """CelebA's ``list_eval_partition.txt``: ``{"train" | "valid" | "test": [file names]}``.

    Each line is ``<image file name> <0 train | 1 valid | 2 test>``; file order is kept.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CelebA partition file is missing")
    splits: dict[str, list[str]] = {name: [] for name in _PARTITIONS.values()}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in _PARTITIONS:
            raise ValueError(f"{path}:{number}: expected '<image>.jpg <0|1|2>', got {line!r}")
        splits[_PARTITIONS[fields[1]]].append(fields[0])
    return splits


def read_rgb(path: str | Path) -> Image.Image:
    """The image at ``path`` decoded to RGB; an error names the file when it fails to decode."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"{path}: cannot decode image ({error})") from error


def celeba64(path: str | Path) -> np.ndarray:
    """An aligned CelebA image as NVAE's CelebA 64 sees it: uint8 (64, 64, 3) RGB.

    The 178 x 218 JPEG is cropped to the 148 x 148 box ``CELEBA_CROP_BOX`` and resized to 64 x 64
    with PIL's (antialiased) bilinear filter, which is what torchvision's ``Resize(64)`` does on
    a PIL image.
    """
    return celeba64_face(read_rgb(path), path)


def celeba64_face(image: Image.Image, source: object = "image") -> np.ndarray:
    """NVAE's CelebA 64 of an aligned RGB image (see :func:`celeba64`); ``source`` names it in errors."""
    if image.size != CELEBA_ALIGNED_SIZE:
        raise ValueError(f"{source}: aligned CelebA images are {CELEBA_ALIGNED_SIZE[0]}x"
                         f"{CELEBA_ALIGNED_SIZE[1]}, got {image.size[0]}x{image.size[1]}")
    face = image.crop(CELEBA_CROP_BOX).resize((64, 64), Image.BILINEAR)
    return np.array(face, dtype=np.uint8)


def square_resized(path: str | Path, size: int = 256) -> np.ndarray:
    """A square image of at least ``size`` px resized (PIL bilinear) to uint8 (size, size, 3).

    This is how NVAE prepared FFHQ 256 from ``images1024x1024/``.
    """
    image = read_rgb(path)
    width, height = image.size
    if width != height or width < size:
        raise ValueError(f"{path}: expected a square image of at least {size} px, "
                         f"got {width}x{height}")
    return np.array(image.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.as_posix())]


def list_images(folder: str | Path) -> list[Path]:
    """Image files (``IMAGE_SUFFIXES``) anywhere below ``folder``, relative to it, in natural
    order (``2.jpg`` before ``10.jpg``), which is index order for FFHQ's ``00000.png`` names."""
    folder = Path(folder)
    files = (p.relative_to(folder) for p in folder.rglob("*")
             if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return sorted(files, key=_natural_key)
