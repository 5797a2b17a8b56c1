"""MNIST as NVAE trains on it (dynamically binarised, padded to 32 x 32), from its IDX files."""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from zoo.datamodules.images import readers
from zoo.datamodules.images.cache import BatchTransform
from zoo.datamodules.images.datamodule import ImageDataModule, dynamic_binarize
from zoo.datamodules.images.declaration import ImageProtocol, ImageSet, declare

__all__ = ["MNISTDataModule"]


@declare
class MNISTDataModule(ImageDataModule):
    """MNIST as NVAE trains on it: 1 x 32 x 32 (28 x 28 digits padded by 2 px of black).

    Items: image float32 (1, 32, 32), in {0, 1} with ``binarize`` (a fresh Bernoulli draw at
    every access, on every split, as NVAE trains and evaluates) else in [0, 1]; digit label.

    ``data_dir`` holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``).
    ``prepare_data`` downloads the missing ones from the mirrors (archive SHA-256 checked) and
    accepts any present file whose uncompressed content has the official MD5.
    Splits: ``num_validation`` of the 60,000 training digits (seeded by ``split_seed``) are
    held out for validation; ``test`` is the 10,000 test digits.
    """

    name = "mnist"
    image_shape = (32, 32, 1)
    declared = ImageSet("mnist", batch_size=200, num_validation=5000,
                        protocol=ImageProtocol("test", "mnist-test", "mnist-test", "nats"))

    def __init__(self, data_dir: str, batch_size: int | None = None, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, binarize: bool = True, num_validation: int | None = None,
                 split_seed: int = 0) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir, num_validation, split_seed)
        self.binarize = binarize

    def _local(self, entry: readers.MNISTFile) -> Path | None:
        for name in (entry.name, entry.name + ".gz"):
            if (self.data_dir / name).is_file():
                return self.data_dir / name
        return None

    def fetch(self) -> None:
        missing = [entry for entry in readers.MNIST_FILES.values() if self._local(entry) is None]
        with ExitStack() as cleanup:
            for entry in missing:
                urls = [mirror + entry.name + ".gz" for mirror in readers.MNIST_MIRRORS]
                path, remove = self._download(urls, entry.archive_sha256)
                cleanup.callback(remove)
                os.replace(path, self.data_dir / (entry.name + ".gz"))

    def source_files(self) -> list[str]:
        files = []
        for entry in readers.MNIST_FILES.values():
            path = self._local(entry)
            if path is None:
                raise FileNotFoundError(f"{self.data_dir / entry.name}[.gz] not found: call "
                                        "prepare_data() to download MNIST")
            files.append(path.name)
        return files

    def _read(self, key: str) -> np.ndarray:
        entry = readers.MNIST_FILES[key]
        path = self._local(entry)
        data = readers.read_idx_bytes(path)
        if (md5 := readers.md5_hex(data)) != entry.content_md5:
            raise ValueError(f"{path}: uncompressed content has MD5 {md5}, expected "
                             f"{entry.content_md5} (not the official MNIST file); delete it and "
                             "prepare_data() downloads it again")
        array = readers.parse_idx(data, path, entry.ndim)
        expected = (entry.count, 28, 28)[:entry.ndim]
        if array.shape != expected:
            raise ValueError(f"{path}: shape {array.shape}, expected {expected}")
        return array

    def decoded(self) -> tuple[int, Iterable[np.ndarray], np.ndarray]:
        images = np.concatenate([self._read("train_images"), self._read("test_images")])
        labels = np.concatenate([self._read("train_labels"), self._read("test_labels")])
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None]
        return len(padded), padded, labels

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        return self.held_out_split(readers.MNIST_FILES["train_images"].count, count)

    def transforms(self, split: str) -> tuple[BatchTransform, ...]:
        return (dynamic_binarize,) if self.binarize else ()
