"""The LMDB datasets NVAE's scripts write, read as NVlabs/NVAE's ``lmdb_datasets.py`` reads them.

A folder in the official layout holds ``train.lmdb/`` and ``validation.lmdb/`` (and, for CelebA 64
made with ``--split test``, ``test.lmdb/``), each an LMDB environment (``data.mdb``) whose keys are
``str(index).encode()`` for index 0 .. N-1 and whose values are one image each, in one of two forms:

- encoded (``create_celeba64_lmdb.py``): the bytes of the original image file, the aligned 178 x 218
  CelebA JPEG, decoded with PIL and converted to RGB;
- raw (``create_ffhq_lmdb.py``, ``convert_tfrecord_to_lmdb.py`` for CelebA-HQ from GLOW's
  TFRecords): ``size * size * 3`` uint8 bytes, RGB, row-major, the side ``sqrt(len / 3)``; FFHQ and
  CelebA-HQ are stored at 256 x 256.

``create_ffhq_lmdb.py`` saves its random split of FFHQ's 70,000 images as ``train_test_ind.pt``
(``{"train": indices, "test": indices}``, numpy int arrays, ``validation.lmdb`` in ``test`` order):
:func:`read_ffhq_split` reads it without unpickling anything but those arrays.

Databases are opened read-only without a lock file, so a read-only data folder works. A database is
refused, naming it, when its keys are not ``"0" .. "N-1"`` (a foreign database), when ``data.mdb`` is
shorter than the pages its header promises (truncated: reading it would crash the process), or when
a value is not an image of the expected form and size.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image

__all__ = ["LMDB_SPLITS", "LMDBForm", "LMDBImages", "OfficialLMDB", "read_ffhq_split"]

#: cache split -> LMDB folder of the official layout (``test.lmdb`` is optional).
LMDB_SPLITS = {"train": "train.lmdb", "val": "validation.lmdb", "test": "test.lmdb"}


def _lmdb() -> ModuleType:
    """The optional ``lmdb`` package, or an ImportError that says which extra to install."""
    try:
        import lmdb
    except ImportError:
        raise ImportError("reading NVAE's LMDB datasets needs the lmdb package: pip install 'zoo[lmdb]'") from None
    return lmdb


@dataclass(frozen=True)
class LMDBForm:
    """How a dataset's values are stored and turned into the cached image.

    Attributes:
        encoded: values are encoded image files (PIL decodes them), else raw RGB bytes.
        size: raw values' side in pixels (None: any square).
        to_cached: the decoded RGB image -> the uint8 (H, W, 3) image the datamodule caches.
    """

    encoded: bool
    size: int | None = None
    to_cached: Callable[[Image.Image], np.ndarray] = np.asarray


class LMDBImages:
    """One official LMDB database (``train.lmdb`` ...): ``len`` images, ``images[i]`` a PIL RGB image.

    Raises on opening: FileNotFoundError (no ``data.mdb``), ValueError (truncated or foreign).
    """

    def __init__(self, path: str | os.PathLike, form: LMDBForm) -> None:
        self.path, self.form = Path(path), form
        data_file = self.path / "data.mdb"
        if not data_file.is_file():
            raise FileNotFoundError(f"{self.path}: not an LMDB database (no data.mdb)")
        lmdb = _lmdb()
        try:
            self._env = lmdb.open(str(self.path), readonly=True, lock=False, readahead=False, meminit=False,
                                  max_readers=1, subdir=True)
        except lmdb.Error as error:
            raise ValueError(f"{self.path}: not a readable LMDB database ({error})") from None
        needed = (self._env.info()["last_pgno"] + 1) * self._env.stat()["psize"]
        if data_file.stat().st_size < needed:
            self._env.close()
            raise ValueError(f"{data_file}: truncated: {data_file.stat().st_size:,} bytes, its header promises "
                             f"{needed:,}; copy the database again")
        self._count = self._env.stat()["entries"]
        self._check_keys()

    def _check_keys(self) -> None:
        with self._env.begin(buffers=False) as txn:
            keys = set(txn.cursor().iternext(keys=True, values=False))
        expected = {str(index).encode() for index in range(self._count)}
        if keys != expected:
            odd = sorted(keys - expected)[:3]
            raise ValueError(f"{self.path}: not an NVAE image database: keys must be '0' .. '{self._count - 1}', "
                             f"found {', '.join(repr(key.decode(errors='replace')) for key in odd)}")

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> Image.Image:
        if not 0 <= index < self._count:
            raise IndexError(f"{self.path}: index {index} outside 0 .. {self._count - 1}")
        with self._env.begin(buffers=False) as txn:
            value = txn.get(str(index).encode())
        return self._decode(index, value)

    def _decode(self, index: int, value: bytes) -> Image.Image:
        where = f"{self.path} key '{index}'"
        if self.form.encoded:
            try:
                with Image.open(io.BytesIO(value)) as image:
                    return image.convert("RGB")
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
                raise ValueError(f"{where}: cannot decode the stored image ({error})") from None
        side = int(np.sqrt(len(value) / 3))
        if side * side * 3 != len(value) or (self.form.size is not None and side != self.form.size):
            want = f"{self.form.size} x {self.form.size} x 3 = {3 * self.form.size ** 2:,}" if self.form.size else \
                "3 * side^2"
            raise ValueError(f"{where}: raw RGB images here are {want} bytes, got {len(value):,}")
        return Image.fromarray(np.frombuffer(value, np.uint8).reshape(side, side, 3), mode="RGB")

    def cached_images(self) -> Iterator[np.ndarray]:
        """Every image in key order as the datamodule caches it (``form.to_cached``)."""
        for index in range(self._count):
            yield np.asarray(self.form.to_cached(self[index]), dtype=np.uint8)

    def close(self) -> None:
        self._env.close()


class OfficialLMDB:
    """A data folder in the official layout: :data:`LMDB_SPLITS` databases of one :class:`LMDBForm`."""

    def __init__(self, data_dir: str | os.PathLike, form: LMDBForm) -> None:
        self.data_dir, self.form = Path(data_dir), form
        if not (self.data_dir / LMDB_SPLITS["train"]).is_dir() or not (self.data_dir / LMDB_SPLITS["val"]).is_dir():
            raise FileNotFoundError(f"{self.data_dir}: the official LMDB layout needs train.lmdb/ and validation.lmdb/")
        self.databases = {split: LMDBImages(self.data_dir / folder, form) for split, folder in LMDB_SPLITS.items()
                          if (self.data_dir / folder).is_dir()}

    @staticmethod
    def present(data_dir: str | os.PathLike) -> bool:
        """Whether ``data_dir`` holds ``train.lmdb`` or ``validation.lmdb`` (then it is read as the official layout)."""
        return any((Path(data_dir) / LMDB_SPLITS[split]).is_dir() for split in ("train", "val"))

    def source_files(self) -> list[str]:
        """The ``data.mdb`` files, relative to ``data_dir``."""
        return [f"{LMDB_SPLITS[split]}/data.mdb" for split in self.databases]

    def count(self) -> int:
        return sum(map(len, self.databases.values()))

    def cached_images(self) -> Iterator[np.ndarray]:
        """All images: train, then validation, then test where present."""
        for database in self.databases.values():
            yield from database.cached_images()

    def split_indices(self) -> dict[str, np.ndarray]:
        """Cache rows of each split; ``test`` is ``test.lmdb`` where present, else the validation images."""
        bounds = np.cumsum([0, *map(len, self.databases.values())])
        rows = {split: np.arange(start, stop) for split, start, stop in zip(self.databases, bounds[:-1], bounds[1:])}
        rows.setdefault("test", rows["val"])
        return rows


def read_ffhq_split(path: str | os.PathLike, count: int) -> dict[str, np.ndarray]:
    """``train_test_ind.pt`` of ``create_ffhq_lmdb.py``: ``{"train", "test"}`` int64 image indices.

    Read with ``torch.load(weights_only=True)`` allowing numpy arrays only (as written by numpy 1 or 2).
    Refused, naming the file: other objects, missing keys, indices outside ``0 .. count-1``, repeated
    or shared between the two splits.
    """
    import pickle

    import torch

    path = Path(path)
    reconstruct = np._core.multiarray._reconstruct
    allowed = [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray, np.dtype,
               *(type(np.dtype(kind)) for kind in ("int64", "int32", "uint32", "uint64", "float64", "float32"))]
    try:
        with torch.serialization.safe_globals(allowed):
            split = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}: refused: it holds objects other than numpy index arrays "
                         f"({str(error).splitlines()[-1][:200]})") from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"{path}: not a readable train_test_ind.pt ({type(error).__name__}: {error})") from None
    if not isinstance(split, dict) or not {"train", "test"} <= set(split):
        raise ValueError(f"{path}: expected a dict with 'train' and 'test' index arrays")
    out = {}
    for key in ("train", "test"):
        values = np.asarray(split[key] if not isinstance(split[key], torch.Tensor) else split[key].numpy())
        if values.ndim != 1 or values.dtype.kind not in "iu" or (len(values) and not
                                                                  (0 <= values.min() and values.max() < count)):
            raise ValueError(f"{path}: '{key}' must be a 1-d array of image indices in 0 .. {count - 1}")
        out[key] = values.astype(np.int64)
    together = np.concatenate([out["train"], out["test"]])
    if len(np.unique(together)) != len(together):
        raise ValueError(f"{path}: an image index is repeated or in both 'train' and 'test'")
    return out
