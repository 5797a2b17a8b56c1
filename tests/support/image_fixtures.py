"""Writers of the image datasets' real on-disk formats, and an independent resize reference.

Used by ``test_image_*.py`` to make fixtures in exactly the published formats.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np


def idx_bytes(array: np.ndarray) -> bytes:
    """An unsigned-byte IDX file: 0x00 0x00 0x08 ndim, big-endian int32 dims, the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_idx_gz(path: Path, array: np.ndarray) -> bytes:
    """Writes ``array`` as a gzipped IDX file and returns the file's bytes."""
    data = gzip.compress(idx_bytes(array), mtime=0)
    path.write_bytes(data)
    return data


class Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did for CIFAR-10: protocol 2, every text a py2 ``str``
    (SHORT_BINSTRING / BINSTRING opcodes, read back as bytes with ``encoding='bytes'``)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: str | bytes) -> None:
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object) -> bytes:
    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    # numpy lived in numpy.core under Python 2; GLOBAL opcodes are plain text lines.
    return buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def cifar_batch_bytes(images: np.ndarray, labels: list[int], label: str) -> bytes:
    """A CIFAR-10 python batch of uint8 ``images`` (N, 32, 32, 3) RGB."""
    data = np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), 3072))
    return py2_pickle({"batch_label": label, "labels": list(labels), "data": data,
                       "filenames": [f"img_{i}.png" for i in range(len(images))]})


def cifar_archive(path: Path, per_batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``cifar-10-python.tar.gz`` with 5 training batches and a test batch of ``per_batch``
    images each; returns all images (6 * per_batch, 32, 32, 3) and labels in batch order."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (6 * per_batch, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 6 * per_batch)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    with tarfile.open(path, "w:gz") as tar:
        for i, name in enumerate(names):
            rows = slice(i * per_batch, (i + 1) * per_batch)
            body = cifar_batch_bytes(images[rows], labels[rows].tolist(), name)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return images, labels


def _bilinear_weights(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) float64 weights of an antialiased triangle filter (PIL's BILINEAR): the
    triangle is widened by the reduction factor and sampled at input pixel centres."""
    scale = in_size / out_size
    support = max(scale, 1.0)
    weights = np.zeros((out_size, in_size))
    centres = np.arange(in_size) + 0.5
    for i in range(out_size):
        w = np.clip(1.0 - np.abs(centres - (i + 0.5) * scale) / support, 0.0, None)
        weights[i] = w / w.sum()
    return weights


def bilinear_reference(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """float64 (out_h, out_w, C) resize of uint8 (H, W, C): horizontal pass first, rounded to
    uint8 between passes like PIL's 8-bit path."""
    wx = _bilinear_weights(image.shape[1], out_w)
    wy = _bilinear_weights(image.shape[0], out_h)
    rows = np.clip(np.round(np.einsum("ow,hwc->hoc", wx, image.astype(np.float64))), 0, 255)
    return np.einsum("oh,hwc->owc", wy, rows)
