"""LightningDataModules of the image sets NVAE trains on: MNIST, CIFAR-10, CelebA 64,
CelebA-HQ 256 and FFHQ 256.

Each is built as ``XDataModule(data_dir, batch_size=..., num_workers=..., seed=..., ...)`` where
``data_dir`` holds the dataset in its published layout. ``prepare_data`` downloads what is public
(MNIST, CIFAR-10, verified by checksum) and decodes the set once into a uint8 cache
(:mod:`datamodules.image_cache`, in ``cache_dir``, default ``<zoo cache>/datasets``); ``setup``
memory-maps it. Items are ``(image, label)``: image float32 (C, H, W) in [0, 1], label int64
(-1 for sets without labels). Random transforms (flip, dynamic binarisation) are drawn afresh at
every access.

Splits. NVAE selected its models on the test set for MNIST and CIFAR-10; we never select on
test, so these two hold out ``num_validation`` training images (default 5,000: 55,000 / 5,000
for MNIST, 45,000 / 5,000 for CIFAR-10) by a permutation seeded with ``split_seed``; ``test`` is
the official test set. CelebA 64 uses the official partition (162,770 / 19,867 / 19,962), and
like NVAE is evaluated on the validation split. FFHQ 256 and CelebA-HQ 256 have no official
split: a seeded one (NVAE's sizes, 63,000 / 7,000 and 27,000 / 3,000) is saved as JSON in
``cache_dir`` on first use and reused afterwards; their ``test`` loader is the validation split.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, ClassVar, Iterable, Iterator

import numpy as np
import pytorch_lightning as pl
import torch
from filelock import FileLock
from torch.utils.data import DataLoader

from datamodules import image_readers as readers
from datamodules.atomic_files import write_atomic
from datamodules.image_cache import BatchTransform, CachedImages, UInt8Cache, fingerprint
from zoo import hub  # the leaf download module, the one project import allowed here

__all__ = [
    "ImageDataModule",
    "MNISTDataModule",
    "CIFAR10DataModule",
    "CelebA64DataModule",
    "SquareImageFolderDataModule",
    "CelebAHQ256DataModule",
    "FFHQ256DataModule",
    "random_horizontal_flip",
    "dynamic_binarize",
    "seeded_split",
]


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
        batch_size: images per batch (training drops the last incomplete batch, as NVAE does).
        num_workers: DataLoader worker processes; also the processes that decode images while
            the cache is built.
        seed: seeds the training shuffle and, through it, the workers' random transforms.
        cache_dir: where the decoded cache (and any saved split) lives; default
            ``datasets/`` in the zoo's cache (``$ZOO_HOME`` or ``~/.cache/zoo``), so that a
            read-only ``data_dir`` works as it is.
    """

    name: ClassVar[str]
    image_shape: ClassVar[tuple[int, int, int]]  # (H, W, C) of a cached image

    def __init__(self, data_dir: str, batch_size: int = 64, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()  # every subclass's constructor arguments
        self.data_dir = Path(data_dir).expanduser()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else hub.cache_dir() / "datasets"
        self.batch_size = batch_size
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

    # -- Lightning --------------------------------------------------------------------------

    def cache(self) -> UInt8Cache:
        key = fingerprint(self.data_dir, self.source_files(), self.cache_params())
        return UInt8Cache(self.cache_dir, self.name, key)

    def prepare_data(self) -> None:
        self.fetch()
        cache = self.cache()
        if not cache.exists():
            count, rows, labels = self.decoded()
            cache.build(rows, count, self.image_shape, labels)

    def setup(self, stage: str | None = None) -> None:
        cache = self.cache()
        if not cache.exists():
            raise RuntimeError(f"{cache.path} does not exist: call prepare_data() first "
                               "(a Trainer does so itself)")
        splits = self.split_indices(len(cache.labels()))
        self.datasets = {split: CachedImages(cache.path, rows, self.transforms(split))
                         for split, rows in splits.items()}

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            raise RuntimeError(f"{type(self).__name__}: call setup() before asking for loaders")
        return DataLoader(
            self.datasets[split], batch_size=self.batch_size, shuffle=shuffle, drop_last=shuffle,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
            pin_memory=torch.cuda.is_available(),
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None)

    # -- helpers for subclasses -------------------------------------------------------------

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
        path = hub.download_any(urls, sha256, cache_dir=staging)
        return path, lambda: shutil.rmtree(staging, ignore_errors=True)


def _missing(what: str, path: Path, layout: str, source: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{path} not found. {what} cannot be downloaded automatically (its terms must be "
        f"accepted by hand). Expected layout:\n{layout}\nGet it from {source}")


# ---------------------------------------------------------------------------------------------
# MNIST


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

    def __init__(self, data_dir: str, batch_size: int = 200, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, binarize: bool = True, num_validation: int = 5000,
                 split_seed: int = 0) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir)
        self.binarize = binarize
        self.num_validation = num_validation
        self.split_seed = split_seed

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
        num_train = readers.MNIST_FILES["train_images"].count
        train, val = seeded_split(num_train, self.num_validation, self.split_seed)
        return {"train": train, "val": val, "test": np.arange(num_train, count)}

    def transforms(self, split: str) -> tuple[BatchTransform, ...]:
        return (dynamic_binarize,) if self.binarize else ()


# ---------------------------------------------------------------------------------------------
# CIFAR-10


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

    def __init__(self, data_dir: str, batch_size: int = 32, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, num_validation: int = 5000,
                 split_seed: int = 0) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir)
        self.num_validation = num_validation
        self.split_seed = split_seed

    @property
    def folder(self) -> Path:
        return self.data_dir / readers.CIFAR10_FOLDER

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
        train, val = seeded_split(self.num_train, self.num_validation, self.split_seed)
        return {"train": train, "val": val, "test": np.arange(self.num_train, count)}


# ---------------------------------------------------------------------------------------------
# CelebA 64


class CelebA64DataModule(ImageDataModule):
    """CelebA 64 as NVAE: aligned image -> crop box (15, 40, 163, 188) = 148 x 148 -> 64 x 64.

    ``data_dir`` holds ``img_align_celeba/`` (the 202,599 JPEGs of ``img_align_celeba.zip``)
    beside ``list_eval_partition.txt``. Items: image float32 (3, 64, 64) in [0, 1] (training:
    random horizontal flip), label -1. Splits: the official partition; NVAE reports on ``val``.
    """

    name = "celeba64"
    image_shape = (64, 64, 3)
    source = ("https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive: "
              "Img/img_align_celeba.zip and Eval/list_eval_partition.txt)")

    def _partition(self) -> dict[str, list[str]]:
        images = self.data_dir / "img_align_celeba"
        partition = self.data_dir / "list_eval_partition.txt"
        for path in (images, partition):
            if not path.exists():
                layout = (f"  {images}/000001.jpg ... 202599.jpg\n"
                          f"  {partition}")
                raise _missing("CelebA", path, layout, self.source)
        return readers.read_celeba_partition(partition)

    def source_files(self) -> list[str]:
        names = [name for split in self._partition().values() for name in split]
        return ["list_eval_partition.txt", *(f"img_align_celeba/{name}" for name in names)]

    def decoded(self) -> tuple[int, Iterable[np.ndarray], None]:
        files = [self.data_dir / rel for rel in self.source_files()[1:]]
        return len(files), self._decode_all(readers.celeba64, files), None

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        bounds = np.cumsum([0, *(len(names) for names in self._partition().values())])
        return {split: np.arange(start, stop)
                for split, start, stop in zip(("train", "val", "test"), bounds[:-1], bounds[1:])}


# ---------------------------------------------------------------------------------------------
# Square image folders: CelebA-HQ 256, FFHQ 256


class SquareImageFolderDataModule(ImageDataModule):
    """A folder of square images of at least 256 px, resized to 256 x 256 (PIL bilinear).

    Items: image float32 (3, 256, 256) in [0, 1] (training: random horizontal flip), label -1.
    The seeded train / validation split (``num_validation`` images, ``split_seed``) is saved in
    ``cache_dir`` as ``<name>-split-seed<S>-val<V>.json`` (file names) when first made, and read
    from there afterwards; ``test`` is the validation split.
    """

    image_shape = (256, 256, 3)
    image_folder: ClassVar[str]  # relative to data_dir
    layout: ClassVar[str]
    source: ClassVar[str]

    def __init__(self, data_dir: str, batch_size: int = 8, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, num_validation: int = 3000,
                 split_seed: int = 0) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir)
        self.num_validation = num_validation
        self.split_seed = split_seed

    @property
    def folder(self) -> Path:
        return self.data_dir / self.image_folder

    def source_files(self) -> list[str]:
        images = readers.list_images(self.folder) if self.folder.is_dir() else []
        if not images:
            raise _missing(self.name, self.folder,
                           self.layout.format(folder=self.folder), self.source)
        return [(Path(self.image_folder) / rel).as_posix() for rel in images]

    def decoded(self) -> tuple[int, Iterable[np.ndarray], None]:
        files = [self.data_dir / rel for rel in self.source_files()]
        return len(files), self._decode_all(readers.square_resized, files), None

    def cache_params(self) -> dict:
        return {"size": self.image_shape[0]}

    @property
    def split_file(self) -> Path:
        return self.cache_dir / f"{self.name}-split-seed{self.split_seed}-val{self.num_validation}.json"

    def prepare_data(self) -> None:
        super().prepare_data()
        with FileLock(str(self.split_file) + ".lock"):
            if not self.split_file.exists():
                files = self.source_files()
                train, val = seeded_split(len(files), self.num_validation, self.split_seed)
                split = {"train": [files[i] for i in train], "validation": [files[i] for i in val]}
                _write_json_atomic(self.split_file, split)

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        if not self.split_file.exists():
            raise RuntimeError(f"{self.split_file} does not exist: call prepare_data() first")
        saved = json.loads(self.split_file.read_text())
        row_of = {name: row for row, name in enumerate(self.source_files())}
        if sorted(row_of) != sorted(saved["train"] + saved["validation"]):
            raise ValueError(f"{self.split_file} lists other images than {self.folder} holds: "
                             "delete the split file to make a new split, or restore the images")
        val = np.array([row_of[name] for name in saved["validation"]], np.int64)
        return {"train": np.array([row_of[name] for name in saved["train"]], np.int64),
                "val": val, "test": val}


def _write_json_atomic(path: Path, value: object) -> None:
    write_atomic(path, json.dumps(value).encode())


class CelebAHQ256DataModule(SquareImageFolderDataModule):
    """CelebA-HQ 256: ``data_dir`` holds the 30,000 CelebA-HQ images (any depth, PNG or JPEG,
    square, >= 256 px). NVAE's split: 27,000 training / 3,000 validation (GLOW's; ours is a
    seeded split of the same sizes)."""

    name = "celeba_hq256"
    image_folder = "."
    layout = "  {folder}/<image>.png|.jpg  (30,000 square images of at least 256 px)"
    source = ("CelebAMask-HQ (https://github.com/switchablenorms/CelebAMask-HQ, CelebA-HQ-img/) "
              "or the progressive-GAN dataset tool (https://github.com/tkarras/progressive_growing_of_gans)")


class FFHQ256DataModule(SquareImageFolderDataModule):
    """FFHQ 256: ``data_dir/images1024x1024/`` holds FFHQ's 70,000 PNGs (flat or in the
    published 00000/ ... 69000/ sub-folders), resized to 256 with PIL bilinear as NVAE did.
    NVAE's split sizes: 63,000 training / 7,000 validation."""

    name = "ffhq256"
    image_folder = "images1024x1024"
    layout = "  {folder}/00000.png ... 69999.png  (or {folder}/00000/00000.png ...)"
    source = "https://github.com/NVlabs/ffhq-dataset (images1024x1024, Google Drive)"

    def __init__(self, data_dir: str, batch_size: int = 8, num_workers: int = 4, seed: int = 0,
                 cache_dir: str | None = None, num_validation: int = 7000,
                 split_seed: int = 0) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir, num_validation,
                         split_seed)
