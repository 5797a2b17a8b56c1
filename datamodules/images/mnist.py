"""MNIST as NVAE trains on it (dynamically binarised, padded to 32 x 32), from its IDX files."""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from zoo.datamodules.files.download import DownloadError, FileUnavailableError, OfflineError
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
    accepts any present file whose uncompressed content has the official MD5; when it cannot
    (offline, no route), the error names each missing file, its checksums and ``data_dir``.
    Splits: ``num_validation`` of the 60,000 training digits (seeded by ``split_seed``) are
    held out for validation; ``test`` is the 10,000 test digits. With ``test_only`` (evaluation)
    only the two test files are read or downloaded, and ``test`` is the only split.
    """

    name = "mnist"
    image_shape = (32, 32, 1)
    declared = ImageSet("mnist", batch_size=200, num_validation=5000,
                        protocol=ImageProtocol("test", "mnist-test", "mnist-test", "nats", {"test_only": True}))

    def __init__(self, data_dir: str, batch_size: int | None = None, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, binarize: bool = True, num_validation: int | None = None,
                 split_seed: int = 0, test_only: bool = False) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir, num_validation, split_seed)
        self.binarize = binarize
        self.test_only = test_only

    @property
    def files(self) -> list[readers.MNISTFile]:
        """The MNIST files this datamodule reads: all four, or the two test files with ``test_only``."""
        keys = ("test_images", "test_labels") if self.test_only else tuple(readers.MNIST_FILES)
        return [readers.MNIST_FILES[key] for key in keys]

    def _local(self, entry: readers.MNISTFile) -> Path | None:
        for name in (entry.name, entry.name + ".gz"):
            if (self.data_dir / name).is_file():
                return self.data_dir / name
        return None

    def fetch(self) -> None:
        missing = [entry for entry in self.files if self._local(entry) is None]
        with ExitStack() as cleanup:
            for entry in missing:
                urls = [mirror + entry.name + ".gz" for mirror in readers.MNIST_MIRRORS]
                try:
                    path, remove = self._download(urls, entry.archive_sha256)
                except (OfflineError, DownloadError) as error:
                    raise self._unavailable(missing, error) from None
                cleanup.callback(remove)
                os.replace(path, self.data_dir / (entry.name + ".gz"))
                missing = missing[1:]

    def _unavailable(self, missing: list[readers.MNISTFile], error: OSError) -> FileUnavailableError:
        """The one-line error of a failed fetch: what to put where, with the checksums it must match."""
        reason = "ZOO_OFFLINE=1 forbids downloads" if isinstance(error, OfflineError) else str(error)
        wanted = "; ".join(f"{entry.name}.gz (SHA-256 {entry.archive_sha256}, uncompressed MD5 {entry.content_md5})"
                           for entry in missing)
        return FileUnavailableError(
            f"MNIST: {len(missing)} file(s) missing from {self.data_dir} and not downloadable ({reason}); put them "
            f"in {self.data_dir} (gzipped or plain): {wanted}; mirrors: {', '.join(readers.MNIST_MIRRORS)}")

    def cache_params(self) -> dict:
        return {"test_only": True} if self.test_only else {}

    def source_files(self) -> list[str]:
        files = []
        for entry in self.files:
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
        sets = ("test",) if self.test_only else ("train", "test")
        images = np.concatenate([self._read(f"{name}_images") for name in sets])
        labels = np.concatenate([self._read(f"{name}_labels") for name in sets])
        padded = np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None]
        return len(padded), padded, labels

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        if self.test_only:
            return {"test": np.arange(count)}
        return self.held_out_split(readers.MNIST_FILES["train_images"].count, count)

    def transforms(self, split: str) -> tuple[BatchTransform, ...]:
        return (dynamic_binarize,) if self.binarize else ()
