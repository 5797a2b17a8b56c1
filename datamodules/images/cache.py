"""A decoded uint8 image cache on disk (memory-mapped ``.npy``) and the Dataset that reads it.

Large image sets are decoded once (JPEG/PNG decoding, crops and resizes that never change) into
``<root>/<name>-<key>/images.npy`` (uint8, N x H x W x C) beside ``labels.npy`` (int64, N;
-1 where the set has no labels). ``key`` fingerprints the source files (relative path, size,
modification time) and the decoding parameters, so a changed source gets a new cache and the
old one is deleted. A cache is built in a hidden temporary folder and appears under its final
name by one rename, under a file lock, so a reader never sees a half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torch.utils.data import Dataset
from tqdm import tqdm

__all__ = ["CACHE_FORMAT", "CachedImages", "UInt8Cache", "fingerprint"]

CACHE_FORMAT = 1  # bump when the cache layout or any decoder changes

BatchTransform = Callable[[torch.Tensor], torch.Tensor]


def fingerprint(root: Path, files: Iterable[str | Path], params: Mapping[str, Any]) -> str:
    """A 16-hex-digit key of ``files`` (relative to ``root``: path, size, mtime) and ``params``."""
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, dict(params)], sort_keys=True).encode())
    for rel in files:
        stat = (root / rel).stat()
        digest.update(f"{Path(rel).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class UInt8Cache:
    """The cache ``<root>/<name>-<key>/`` (see the module docstring)."""

    def __init__(self, root: str | Path, name: str, key: str) -> None:
        self.root, self.name, self.key = Path(root), name, key

    @property
    def path(self) -> Path:
        return self.root / f"{self.name}-{self.key}"

    def exists(self) -> bool:
        return (self.path / "images.npy").is_file()

    def build(self, rows: Iterable[np.ndarray], count: int, shape: tuple[int, int, int],
              labels: np.ndarray | None = None) -> None:
        """Write ``count`` images of ``shape`` (H, W, C) uint8 taken from ``rows``, and labels.

        Does nothing if another process has built the same cache meanwhile. Older caches of the
        same name are deleted once the new one is in place.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / f".{self.name}.lock")):
            if self.exists():
                return
            for stale in self.root.glob(f".{self.name}-*.tmp"):  # left by a killed build
                shutil.rmtree(stale, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}-", suffix=".tmp", dir=self.root))
            try:
                self._write(tmp, rows, count, shape, labels)
                os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
                os.rename(tmp, self.path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            for stale in self.root.glob(f"{self.name}-*"):
                if stale != self.path and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)

    def _write(self, folder: Path, rows: Iterable[np.ndarray], count: int,
               shape: tuple[int, int, int], labels: np.ndarray | None) -> None:
        images = np.lib.format.open_memmap(folder / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(count, *shape))
        written = 0
        for row in tqdm(rows, total=count, desc=f"caching {self.name}", unit="img", leave=False,
                        disable=None):
            if written == count:
                raise ValueError(f"{self.name}: more than the expected {count} images")
            if row.shape != shape or row.dtype != np.uint8:
                raise ValueError(f"{self.name}: image {written} is {row.dtype} {row.shape}, "
                                 f"expected uint8 {shape}")
            images[written] = row
            written += 1
        if written != count:
            raise ValueError(f"{self.name}: got {written} images, expected {count}")
        images.flush()
        del images
        labels = np.full(count, -1, np.int64) if labels is None else np.asarray(labels, np.int64)
        if labels.shape != (count,):
            raise ValueError(f"{self.name}: {labels.shape} labels for {count} images")
        np.save(folder / "labels.npy", labels)

    def labels(self) -> np.ndarray:
        """int64 (N,) labels, -1 where the set has none."""
        return np.load(self.path / "labels.npy")


class CachedImages(Dataset):
    """Items ``(image, label)`` read from a :class:`UInt8Cache` folder.

    ``image`` is float32 (C, H, W) in [0, 1] after ``transforms``; ``label`` an int64 scalar
    (-1: none). ``indices`` select the cache rows this split sees. The DataLoader fetches a whole
    batch through :meth:`__getitems__`: one memory-map read and each transform run once on the
    (B, C, H, W) batch. The memory map is opened lazily in each worker process.
    """

    def __init__(self, folder: str | Path, indices: Sequence[int] | np.ndarray,
                 transforms: Sequence[BatchTransform] = ()) -> None:
        self.folder = Path(folder)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.transforms = tuple(transforms)
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_arrays": None}  # workers map the file themselves

    def _open(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (np.load(self.folder / "images.npy", mmap_mode="r"),
                            np.load(self.folder / "labels.npy"))
        return self._arrays

    def batch(self, positions: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Images float32 (B, C, H, W) and labels int64 (B,) of the items at ``positions``."""
        images, labels = self._open()
        rows = self.indices[np.asarray(positions, dtype=np.int64)]
        pixels = np.ascontiguousarray(images[rows].transpose(0, 3, 1, 2))
        batch = torch.from_numpy(pixels).float().div_(255)
        for transform in self.transforms:
            batch = transform(batch)
        return batch, torch.from_numpy(labels[rows])

    def __getitems__(self, positions: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        images, labels = self.batch(positions)
        return list(zip(images.unbind(0), labels.unbind(0)))

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([position])[0]
