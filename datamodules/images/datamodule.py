"""LightningDataModules of the image sets NVAE trains on: MNIST, CIFAR-10, CelebA 64,
CelebA-HQ 256 and FFHQ 256.

Each is built as ``XDataModule(data_dir, batch_size=..., num_workers=..., seed=..., ...)`` where
``data_dir`` holds the dataset in its published layout. ``prepare_data`` downloads what is public
(MNIST, CIFAR-10, verified by checksum) and decodes the set once into a uint8 cache
(:mod:`zoo.datamodules.images.cache`, in ``cache_dir``, default ``<zoo cache>/datasets``); ``setup``
memory-maps it. Items are ``(image, label)``: image float32 (C, H, W) in [0, 1], label int64
(-1 for sets without labels). Random transforms (flip, dynamic binarisation) are drawn afresh at
every access; in training each draw is a pure function of ``(seed, epoch, position in the epoch)``
and the train loader resumes mid-epoch (:mod:`zoo.datamodules.resumable_loader`), so a run continued
with ``--ckpt_path last`` sees the batches, flips and binarised digits the uninterrupted run saw.

Splits. NVAE selected its models on the test set for MNIST and CIFAR-10; we never select on
test, so these two hold out ``num_validation`` training images (default 5,000: 55,000 / 5,000
for MNIST, 45,000 / 5,000 for CIFAR-10) by a permutation seeded with ``split_seed``; ``test`` is
the official test set. CelebA 64 uses the official partition (162,770 / 19,867 / 19,962), and
like NVAE is evaluated on the validation split. FFHQ 256 and CelebA-HQ 256 have no official
split: a seeded one (NVAE's sizes, 63,000 / 7,000 and 27,000 / 3,000) is saved as JSON in
``cache_dir`` on first use and reused afterwards; their ``test`` loader is the validation split.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from zoo.datamodules.files.cache import cache_root
from zoo.datamodules.files.download import download_any
from zoo.datamodules.images.cache import BatchTransform, CachedImages, UInt8Cache, fingerprint
from zoo.datamodules.images.declaration import ImageSet
from zoo.datamodules.images.lmdb_reader import LMDBForm, OfficialLMDB
from zoo.datamodules.resumable_loader import ResumableLoader

__all__ = ["ImageDataModule", "dynamic_binarize", "missing_dataset", "random_horizontal_flip", "seeded_split"]


# ---------------------------------------------------------------------------------------------
# Batch transforms: (B, C, H, W) float in [0, 1] -> same shape


def random_horizontal_flip(batch: torch.Tensor) -> torch.Tensor:
    """Mirrors each image left-right with probability 1/2 (in place)."""
    flip = torch.rand(batch.shape[0]) < 0.5
    batch[flip] = batch[flip].flip(-1)
    return batch


def dynamic_binarize(batch: torch.Tensor) -> torch.Tensor:
    """A fresh Bernoulli draw per pixel with the pixel's intensity as probability: {0, 1}.

    Drawn as ``uniform[0, 1) < p`` (probability exactly p, 1 where p = 1, 0 where p = 0),
    about 4x faster on CPU than ``torch.bernoulli``.
    """
    return (torch.rand_like(batch) < batch).to(batch.dtype)


def seeded_split(count: int, num_validation: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, validation) indices of ``range(count)``, validation a seeded random subset."""
    if not 0 <= num_validation < count:
        raise ValueError(f"num_validation must be in [0, {count}), got {num_validation}")
    permutation = np.random.default_rng(seed).permutation(count)
    return np.sort(permutation[num_validation:]), np.sort(permutation[:num_validation])


# ---------------------------------------------------------------------------------------------
# The shared base


class ImageDataModule(pl.LightningDataModule):
    """Sources -> uint8 cache -> split datasets -> loaders; subclasses fill in the hooks.

    Args:
        data_dir: folder holding the dataset in its published layout.
        batch_size: images per batch (training drops the last incomplete batch, as NVAE does);
            None: the dataset's declared default.
        num_workers: DataLoader worker processes; also the processes that decode images while
            the cache is built.
        seed: seeds the training order and the training transforms' random draws (each
            sample's draw is a function of ``(seed, epoch, position)``, whatever ``num_workers``).
        cache_dir: where the decoded cache (and any saved split) lives; default
            ``datasets/`` in the zoo's cache (``$ZOO_HOME`` or ``~/.cache/zoo``), so that a
            read-only ``data_dir`` works as it is.
        num_validation: training images held out for validation (None: the dataset's declared
            number; sets with an official validation split take None only).
        split_seed: seeds the held-out split.
    """

    name: ClassVar[str]  # the cache's name
    image_shape: ClassVar[tuple[int, int, int]]  # (H, W, C) of a cached image
    declared: ClassVar[ImageSet]
    #: how NVAE's scripts store this dataset as LMDB (None: they do not); a ``data_dir`` holding
    #: ``train.lmdb`` / ``validation.lmdb`` is then read in that layout, with its split
    lmdb_form: ClassVar[LMDBForm | None] = None

    def __init__(self, data_dir: str, batch_size: int | None = None, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, num_validation: int | None = None, split_seed: int = 0) -> None:
        super().__init__()
        self.save_hyperparameters()  # every subclass's constructor arguments
        if self.declared.num_validation is None and num_validation is not None:
            raise ValueError(f"{type(self).__name__} uses the official validation split: num_validation must be None, "
                             f"got {num_validation}")
        self.data_dir = Path(data_dir).expanduser()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else cache_root() / "datasets"
        self.batch_size = self.declared.batch_size if batch_size is None else batch_size
        self.num_validation = self.declared.num_validation if num_validation is None else num_validation
        self.split_seed = split_seed
        self.num_workers = num_workers
        self.seed = seed
        self.datasets: dict[str, CachedImages] = {}

    # -- hooks ------------------------------------------------------------------------------

    def fetch(self) -> None:
        """Make the source files present (download them), or raise naming what is missing."""
        self.source_files()

    def source_files(self) -> list[str]:
        """Source files relative to ``data_dir``; raises FileNotFoundError if any is missing."""
        raise NotImplementedError

    def decoded(self) -> tuple[int, Iterable[np.ndarray], np.ndarray | None]:
        """(count, uint8 images of ``image_shape`` in cache order, int64 labels or None)."""
        raise NotImplementedError

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        """Cache rows of the ``train``, ``val`` and ``test`` splits."""
        raise NotImplementedError

    def transforms(self, split: str) -> tuple[BatchTransform, ...]:
        """Random transforms of ``split``: a horizontal flip in training by default."""
        return (random_horizontal_flip,) if split == "train" else ()

    def cache_params(self) -> dict:
        """Decoding parameters that change the cache content."""
        return {}

    @property
    def folder(self) -> Path:
        """The folder of the dataset's files: ``data_dir / declared.folder``."""
        return self.data_dir / self.declared.folder

    def official_lmdb(self) -> OfficialLMDB | None:
        """The official LMDB databases in ``data_dir`` (:mod:`~zoo.datamodules.images.lmdb_reader`), if
        this dataset has an LMDB form and ``data_dir`` holds ``train.lmdb`` or ``validation.lmdb``."""
        if self.lmdb_form is None or not OfficialLMDB.present(self.data_dir):
            return None
        return OfficialLMDB(self.data_dir, self.lmdb_form)

    # -- Lightning --------------------------------------------------------------------------

    def cache(self, lmdb: OfficialLMDB | None = None) -> UInt8Cache:
        files = lmdb.source_files() if lmdb is not None else self.source_files()
        key = fingerprint(self.data_dir, files, self.cache_params())
        return UInt8Cache(self.cache_dir, self.name, key)

    def prepare_data(self) -> None:
        lmdb = self.official_lmdb()
        if lmdb is None:
            self.fetch()
        cache = self.cache(lmdb)
        if not cache.exists():
            count, rows, labels = (lmdb.count(), lmdb.cached_images(), None) if lmdb is not None else self.decoded()
            cache.build(rows, count, self.image_shape, labels)

    def setup(self, stage: str | None = None) -> None:
        lmdb = self.official_lmdb()
        cache = self.cache(lmdb)
        if not cache.exists():
            raise RuntimeError(f"{cache.path} does not exist: call prepare_data() first "
                               "(a Trainer does so itself)")
        splits = lmdb.split_indices() if lmdb is not None else self.split_indices(len(cache.labels()))
        self.datasets = {split: CachedImages(cache.path, rows, self.transforms(split))
                         for split, rows in splits.items()}

    def train_dataloader(self) -> ResumableLoader:
        """Shuffled training batches (the last incomplete one dropped) that resume mid-epoch."""
        trainer = self.trainer
        return ResumableLoader(
            self._dataset("train"), self.batch_size, seed=self.seed,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            **self._loader_options())

    def val_dataloader(self) -> DataLoader:
        return self._evaluation_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._evaluation_loader("test")

    def _dataset(self, split: str) -> CachedImages:
        if split not in self.datasets:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for loaders")
        return self.datasets[split]

    def _evaluation_loader(self, split: str) -> DataLoader:
        return DataLoader(self._dataset(split), batch_size=self.batch_size, **self._loader_options())

    def _loader_options(self) -> dict:
        return {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0,
                "pin_memory": torch.cuda.is_available()}

    # -- helpers for subclasses -------------------------------------------------------------

    def held_out_split(self, num_train: int, count: int) -> dict[str, np.ndarray]:
        """Rows of a set whose first ``num_train`` of ``count`` images are the official training set and
        the rest the test set: ``num_validation`` training images (seeded by ``split_seed``) are held out."""
        train, val = seeded_split(num_train, self.num_validation, self.split_seed)
        return {"train": train, "val": val, "test": np.arange(num_train, count)}

    def _decode_all(self, decode: Callable[[Path], np.ndarray],
                    files: list[Path]) -> Iterator[np.ndarray]:
        """``decode`` over ``files`` in order, on ``num_workers`` processes when there are any."""
        if self.num_workers < 2:
            yield from map(decode, files)
            return
        with ProcessPoolExecutor(self.num_workers) as pool:
            yield from pool.map(decode, files, chunksize=64)

    def _download(self, urls: list[str], sha256: str) -> tuple[Path, Callable[[], None]]:
        """A verified download into ``data_dir/.download`` and the callable that removes it."""

        staging = self.data_dir / ".download"
        path = download_any(urls, sha256, cache_dir=staging)
        return path, lambda: shutil.rmtree(staging, ignore_errors=True)


def missing_dataset(what: str, path: Path, layout: str, source: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{path} not found. {what} cannot be downloaded automatically (its terms must be "
        f"accepted by hand). Expected layout:\n{layout}\nGet it from {source}")
