"""CelebA 64 x 64 with NVAE's crop, from the aligned images and the official partition."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from zoo.datamodules.images import readers
from zoo.datamodules.images.datamodule import ImageDataModule, missing_dataset
from zoo.datamodules.images.declaration import ImageProtocol, ImageSet, declare
from zoo.datamodules.images.lmdb_reader import LMDBForm

__all__ = ["CelebA64DataModule"]


@declare
class CelebA64DataModule(ImageDataModule):
    """CelebA 64 as NVAE: aligned image -> crop box (15, 40, 163, 188) = 148 x 148 -> 64 x 64.

    ``data_dir`` holds ``img_align_celeba/`` (the 202,599 JPEGs of ``img_align_celeba.zip``)
    beside ``list_eval_partition.txt``. Items: image float32 (3, 64, 64) in [0, 1] (training:
    random horizontal flip), label -1. Splits: the official partition; NVAE reports on ``val``.

    Or ``data_dir`` holds NVAE's LMDB (``create_celeba64_lmdb.py``: ``train.lmdb``, ``validation.lmdb``,
    optionally ``test.lmdb``, the aligned JPEGs stored encoded), with the same crop.
    """

    name = "celeba64"
    image_shape = (64, 64, 3)
    declared = ImageSet("celeba64", batch_size=64, num_validation=None,
                        protocol=ImageProtocol("val", "celeba64-val", "celeba64-test", "bpd"))
    lmdb_form = LMDBForm(encoded=True, to_cached=readers.celeba64_face)
    source = ("https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Google Drive: "
              "Img/img_align_celeba.zip and Eval/list_eval_partition.txt)")

    def _partition(self) -> dict[str, list[str]]:
        images = self.data_dir / "img_align_celeba"
        partition = self.data_dir / "list_eval_partition.txt"
        for path in (images, partition):
            if not path.exists():
                layout = (f"  {images}/000001.jpg ... 202599.jpg\n"
                          f"  {partition}")
                raise missing_dataset("CelebA", path, layout, self.source)
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
