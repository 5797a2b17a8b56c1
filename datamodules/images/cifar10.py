"""CIFAR-10 from its published python pickles (read without running code)."""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from zoo.datamodules.images import readers
from zoo.datamodules.images.datamodule import ImageDataModule
from zoo.datamodules.images.declaration import ImageProtocol, ImageSet, declare

__all__ = ["CIFAR10DataModule"]


@declare
class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10 from ``<data_dir>/cifar-10-batches-py/`` (downloaded and extracted if absent).

    Items: image float32 (3, 32, 32) in [0, 1] (training: random horizontal flip), class label.
    Splits: ``num_validation`` of the 50,000 training images (seeded by ``split_seed``) are held
    out for validation (NVAE validated on the test set; ``num_validation=0`` trains on all
    50,000 as it did, with an empty validation set); ``test`` is ``test_batch``.
    """

    name = "cifar10"
    image_shape = (32, 32, 3)
    num_train = 50_000
    declared = ImageSet("cifar10", batch_size=32, num_validation=5000,
                        protocol=ImageProtocol("test", "cifar10-test", "cifar10-test", "bpd"), folder=readers.CIFAR10_FOLDER)

    def source_files(self) -> list[str]:
        names = [*readers.CIFAR10_TRAIN_BATCHES, readers.CIFAR10_TEST_BATCH]
        for name in names:
            if not (self.folder / name).is_file():
                raise FileNotFoundError(f"{self.folder / name} not found: call prepare_data() to "
                                        f"download CIFAR-10 (or remove the incomplete folder)")
        return [f"{readers.CIFAR10_FOLDER}/{name}" for name in names]

    def fetch(self) -> None:
        if self.folder.exists():
            self.source_files()
            return
        archive, remove = self._download([readers.CIFAR10_ARCHIVE_URL],
                                         readers.CIFAR10_ARCHIVE_SHA256)
        try:
            with tempfile.TemporaryDirectory(dir=self.data_dir, prefix=".extract-") as tmp:
                with tarfile.open(archive, "r:gz") as tar:
                    tar.extractall(tmp, filter="data")
                os.rename(Path(tmp) / readers.CIFAR10_FOLDER, self.folder)
        finally:
            remove()
        self.source_files()

    def decoded(self) -> tuple[int, Iterable[np.ndarray], np.ndarray]:
        batches = [readers.read_cifar_batch(self.data_dir / rel) for rel in self.source_files()]
        images = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        num_train = sum(len(labels) for _, labels in batches[:-1])
        if num_train != self.num_train:
            raise ValueError(f"{self.folder}: {num_train} training images, expected "
                             f"{self.num_train}")
        return len(images), images, labels

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        return self.held_out_split(self.num_train, count)
