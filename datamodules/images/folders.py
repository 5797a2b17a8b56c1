"""Square image folders without an official split: CelebA-HQ 256 and FFHQ 256."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np
from filelock import FileLock

from zoo.datamodules.files.atomic import write_atomic
from zoo.datamodules.images import readers
from zoo.datamodules.images.datamodule import ImageDataModule, missing_dataset, seeded_split
from zoo.datamodules.images.declaration import ImageProtocol, ImageSet, declare
from zoo.datamodules.images.lmdb_reader import LMDBForm, read_ffhq_split

__all__ = ["CelebAHQ256DataModule", "FFHQ256DataModule", "SquareImageFolderDataModule"]


class SquareImageFolderDataModule(ImageDataModule):
    """A folder of square images of at least 256 px, resized to 256 x 256 (PIL bilinear).

    Items: image float32 (3, 256, 256) in [0, 1] (training: random horizontal flip), label -1.
    The seeded train / validation split (``num_validation`` images, ``split_seed``) is saved in
    ``cache_dir`` as ``<name>-split-seed<S>-val<V>.json`` (file names) when first made, and read
    from there afterwards; ``test`` is the validation split. It is not NVAE's split (which the
    official LMDB databases record, or for FFHQ ``train_test_ind.pt``: see the subclasses).

    Or ``data_dir`` holds NVAE's LMDB databases (``train.lmdb``, ``validation.lmdb``: raw 256 x 256 RGB),
    read with their split.
    """

    image_shape = (256, 256, 3)
    lmdb_form = LMDBForm(encoded=False, size=256)
    layout: ClassVar[str]
    source: ClassVar[str]

    def source_files(self) -> list[str]:
        images = readers.list_images(self.folder) if self.folder.is_dir() else []
        if not images:
            raise missing_dataset(self.name, self.folder,
                                  self.layout.format(folder=self.folder), self.source)
        return [(Path(self.declared.folder) / rel).as_posix() for rel in images]

    def decoded(self) -> tuple[int, Iterable[np.ndarray], None]:
        files = [self.data_dir / rel for rel in self.source_files()]
        return len(files), self._decode_all(readers.square_resized, files), None

    def cache_params(self) -> dict:
        return {"size": self.image_shape[0]}

    @property
    def split_file(self) -> Path:
        return self.cache_dir / f"{self.name}-split-seed{self.split_seed}-val{self.num_validation}.json"

    def official_split(self) -> dict[str, np.ndarray] | None:
        """Cache rows of the split NVAE's scripts made, where the data folder records it (None here)."""
        return None

    def prepare_data(self) -> None:
        super().prepare_data()
        if self.official_lmdb() is not None or self.official_split() is not None:
            return
        with FileLock(str(self.split_file) + ".lock"):
            if not self.split_file.exists():
                files = self.source_files()
                train, val = seeded_split(len(files), self.num_validation, self.split_seed)
                split = {"train": [files[i] for i in train], "validation": [files[i] for i in val]}
                _write_json_atomic(self.split_file, split)

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        official = self.official_split()
        if official is not None:
            return official
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


@declare
class CelebAHQ256DataModule(SquareImageFolderDataModule):
    """CelebA-HQ 256: ``data_dir`` holds the 30,000 CelebA-HQ images (any depth, PNG or JPEG,
    square, >= 256 px). NVAE's split: 27,000 training / 3,000 validation (GLOW's; ours is a
    seeded split of the same sizes)."""

    name = "celeba_hq256"
    declared = ImageSet("celebahq256", batch_size=8, num_validation=3000,
                        protocol=ImageProtocol("test", "celebahq256-val", "celebahq256-test", "bpd"))
    layout = "  {folder}/<image>.png|.jpg  (30,000 square images of at least 256 px)"
    source = ("CelebAMask-HQ (https://github.com/switchablenorms/CelebAMask-HQ, CelebA-HQ-img/) "
              "or the progressive-GAN dataset tool (https://github.com/tkarras/progressive_growing_of_gans)")


@declare
class FFHQ256DataModule(SquareImageFolderDataModule):
    """FFHQ 256: ``data_dir/images1024x1024/`` holds FFHQ's 70,000 PNGs (flat or in the
    published 00000/ ... 69000/ sub-folders), resized to 256 with PIL bilinear as NVAE did.
    NVAE's split sizes: 63,000 training / 7,000 validation. Where ``data_dir`` also holds the
    ``train_test_ind.pt`` that NVAE's ``create_ffhq_lmdb.py`` saved, its split is used (validation:
    its ``test`` images, in its order), so that a model trained with the official code is evaluated on
    exactly its held-out images; else the seeded split."""

    official_split_name = "train_test_ind.pt"  # in data_dir
    num_images = 70_000

    name = "ffhq256"
    declared = ImageSet("ffhq256", batch_size=8, num_validation=7000,
                        protocol=ImageProtocol("test", "ffhq256-val", "ffhq256-test", "bpd"), folder="images1024x1024")
    layout = "  {folder}/00000.png ... 69999.png  (or {folder}/00000/00000.png ...)"
    source = "https://github.com/NVlabs/ffhq-dataset (images1024x1024, Google Drive)"

    def official_split(self) -> dict[str, np.ndarray] | None:
        path = self.data_dir / self.official_split_name
        if not path.is_file() or self.official_lmdb() is not None:
            return None
        split = read_ffhq_split(path, self.num_images)
        row_of = {int(Path(name).stem): row for row, name in enumerate(self.source_files())
                  if Path(name).stem.isdigit()}
        missing = [index for index in np.concatenate([split["train"], split["test"]]) if index not in row_of]
        if missing:
            raise ValueError(f"{path} names images that {self.folder} does not hold, e.g. {missing[0]:05d}.png "
                             f"({len(missing):,} missing)")
        train, val = (np.array([row_of[i] for i in split[key]], np.int64) for key in ("train", "test"))
        return {"train": train, "val": val, "test": val}
