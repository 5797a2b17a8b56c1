"""``FlowDataModule``: optical-flow training and validation sets composed by name.

Compositions are ``+``-separated dataset names, each optionally weighted by an integer repeat
count, e.g. ``"sintel-clean+sintel-final+2*kitti-2015"`` (KITTI appears twice per epoch) or
``"synthetic"``. The names are those the dataset modules of :mod:`zoo.datamodules.flow.datasets`
declare (:func:`~zoo.datamodules.flow.datasets.declaration.names_table` lists each with its training and
validation set, family and default folder; README "Flow datasets" shows the table), and
``synthetic``: SyntheticFlow with ``seed`` for training, ``seed + 1`` for validation.

The synthetic sets take ``synthetic_options`` (both of them), e.g. ``{"recipe": "v1"}`` for the
pairs ``pwcnet.synth`` was trained on, or ``{"scenes": {"driving": 2, "subpixel": 1}}``.

Sets without an official validation split (Sintel, KITTI, ...) validate on their training set, as
in the PWC-Net and RAFT papers; do not validate on a set you train on.

Dataset roots, for each family (the ``roots=`` keys: ``chairs``, ``things``, ``sintel``, ``kitti-2015``,
...), in order: the ``roots`` argument; the environment variable ``ZOO_DATA_<FAMILY>`` (upper
case, ``-`` removed: ``ZOO_DATA_KITTI2015``); ``<data_dir>/<default folder>`` with ``data_dir`` the
argument or ``$ZOO_DATA``, and the folder the family declares. The synthetic set needs no data at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from zoo.datamodules.flow.augment import FlowAugmentation, PhotometricJitter
from zoo.datamodules.flow.datasets import FAMILIES
from zoo.datamodules.flow.datasets.declaration import composition_names, family_of
from zoo.datamodules.flow.sources import prepare_dataset, public_sources
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.datamodules.resumable_loader import ResumableLoader

__all__ = ["FlowDataModule", "parse_composition"]


def parse_composition(spec: str) -> list[tuple[str, int]]:
    """``"sintel-clean+2*kitti-2015"`` -> ``[("sintel-clean", 1), ("kitti-2015", 2)]``."""
    terms = []
    for term in spec.replace(" ", "").split("+"):
        match = re.fullmatch(r"(?:(\d+)\*)?([a-z0-9-]+)", term)
        names = composition_names()
        if match is None or match.group(2) not in names:
            raise ValueError(f"bad dataset term {term!r} in {spec!r}: expected [N*]name with name one of {', '.join(names)}")
        weight = int(match.group(1) or 1)
        if weight < 1:
            raise ValueError(f"dataset weight must be a positive integer in {term!r}")
        terms.append((match.group(2), weight))
    return terms


class FlowDataModule(pl.LightningDataModule):
    """Optical-flow data for training PWC-Net (and any flow network) with Lightning.

    Args:
        train: training composition (see the module docstring), e.g. ``"chairs"``,
            ``"sintel-clean+sintel-final+2*kitti-2015"``, ``"synthetic"``.
        val: validation names, ``+``-separated, one dataloader each (no weights).
        test: test names (default: the validation names).
        roots: dataset family -> root folder.
        dataset_options: dataset family -> extra keyword arguments of its dataset class, e.g.
            ``{"things": {"max_flow": 500}}`` (FlyingThings3D's large-motion exclusion) or
            ``{"kitti-2012": {"image_dir": "image_0"}}``.
        data_dir: folder holding the datasets under their default folders (default ``$ZOO_DATA``).
        download: let ``prepare_data`` download the sets with a public archive (chairs, sintel)
            into their roots when they are missing.
        cache_dir: where downloaded archives are kept (default: the zoo cache).
        crop_size: (H, W) of training crops (multiples of 64 for PWC-Net).
        batch_size, val_batch_size, num_workers: the loaders' settings.
        scale_range, stretch, rotation_deg, hflip_prob, vflip_prob, photometric: the training
            augmentation (:class:`zoo.datamodules.flow.augment.FlowAugmentation`); ``photometric=False``
            turns colour jitter off.
        synthetic_size, synthetic_length, synthetic_val_length: SyntheticFlow's frame size and
            number of training / validation pairs.
        synthetic_options: further keyword arguments of both SyntheticFlow sets: ``recipe``
            (``"v2"`` by default, ``"v1"``: today's pairs), ``scenes`` (kind -> weight),
            ``photometric``, ``motion``, ``device``.
        seed: the data seed (non-negative): SyntheticFlow's training seed (validation uses ``seed + 1``)
            and the seed of the training order and augmentation.
    """

    def __init__(
        self,
        train: str = "synthetic",
        val: str = "synthetic",
        test: str | None = None,
        roots: Mapping[str, str] | None = None,
        dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
        data_dir: str | None = None,
        download: bool = False,
        cache_dir: str | None = None,
        crop_size: tuple[int, int] = (384, 448),
        batch_size: int = 8,
        val_batch_size: int = 1,
        num_workers: int = 4,
        scale_range: tuple[float, float] = (-0.2, 0.6),
        stretch: float = 0.2,
        rotation_deg: float = 0.0,
        hflip_prob: float = 0.5,
        vflip_prob: float = 0.1,
        photometric: bool = True,
        synthetic_size: tuple[int, int] = (384, 512),
        synthetic_length: int = 22232,
        synthetic_val_length: int = 640,
        synthetic_options: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.train_terms = parse_composition(train)
        self.val_names = self._plain_names(val, "val")
        self.test_names = self._plain_names(test or val, "test")
        for argument, mapping in (("roots", roots), ("dataset_options", dataset_options)):
            unknown_families = set(mapping or {}) - set(FAMILIES)
            if unknown_families:
                raise ValueError(f"{argument} has unknown dataset families {sorted(unknown_families)}; known: {sorted(FAMILIES)}")
        self.roots = dict(roots or {})
        self.dataset_options = {family: dict(options) for family, options in (dataset_options or {}).items()}
        self.synthetic_options = dict(synthetic_options or {})
        self.train_dataset: Dataset | None = None
        self.val_datasets: list[Dataset] = []
        self.test_datasets: list[Dataset] = []

    @staticmethod
    def _plain_names(spec: str, what: str) -> list[str]:
        terms = parse_composition(spec)
        if any(weight != 1 for _, weight in terms):
            raise ValueError(f"{what} takes plain names (one dataloader each), got weights in {spec!r}")
        return [name for name, _ in terms]

    # --- roots and downloads ----------------------------------------------------------------

    def root(self, family: str) -> Path:
        """The root folder of a dataset family (see the module docstring for the search order)."""
        if family in self.roots:
            return Path(self.roots[family])
        declared = FAMILIES[family]
        if os.environ.get(declared.variable):
            return Path(os.environ[declared.variable])
        base = self.hparams.data_dir or os.environ.get("ZOO_DATA")
        if base:
            return Path(base) / declared.folder
        raise ValueError(
            f"FlowDataModule: no root for {family!r}: pass roots={{'{family}': ...}}, set {declared.variable}, "
            f"or pass data_dir / set ZOO_DATA to a folder holding {declared.folder}/"
        )

    def _families(self) -> set[str]:
        names = {n for n, _ in self.train_terms} | set(self.val_names) | set(self.test_names)
        return {family_of(n).family for n in names if n != "synthetic"}

    def prepare_data(self) -> None:
        """Download and unpack the public sets that are needed and missing (``download=True`` only)."""
        if not self.hparams.download:
            return
        for family in sorted(self._families() & set(public_sources())):
            prepare_dataset(family, self.root(family), cache_dir=self.hparams.cache_dir)

    # --- datasets ---------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_dataset is None:
            parts = []
            for name, weight in self.train_terms:
                parts += self._datasets(name, training=True) * weight
            self.train_dataset = ConcatDataset(parts)
        if stage in (None, "fit", "validate") and not self.val_datasets:
            self.val_datasets = [self._evaluation_set(name) for name in self.val_names]
        if stage in (None, "test") and not self.test_datasets:
            self.test_datasets = [self._evaluation_set(name) for name in self.test_names]

    def _evaluation_set(self, name: str) -> Dataset:
        parts = self._datasets(name, training=False)
        return parts[0] if len(parts) == 1 else ConcatDataset(parts)

    def _datasets(self, name: str, training: bool) -> list[Dataset]:
        if name == "synthetic":
            hp = self.hparams
            options = self.synthetic_options
            if training:
                augmentation = self._augmentation(False)
                return [SyntheticFlow(hp.synthetic_size, hp.synthetic_length, hp.seed, transform=augmentation, **options)]
            return [SyntheticFlow(hp.synthetic_size, hp.synthetic_val_length, hp.seed + 1, **options)]
        declared = family_of(name)
        options = self.dataset_options.get(declared.family, {})
        datasets = declared.names[name].build(self.root(declared.family), training, options)
        if training:
            for dataset in datasets:
                dataset.transform = self._augmentation(dataset.sparse)
        return datasets

    def _augmentation(self, sparse: bool) -> FlowAugmentation:
        hp = self.hparams
        return FlowAugmentation(
            tuple(hp.crop_size),
            scale_range=tuple(hp.scale_range),
            stretch=hp.stretch,
            rotation_deg=hp.rotation_deg,
            hflip_prob=hp.hflip_prob,
            vflip_prob=hp.vflip_prob,
            photometric=PhotometricJitter() if hp.photometric else None,
            sparse=sparse,
        )

    # --- loaders ----------------------------------------------------------------------------

    def train_dataloader(self) -> ResumableLoader:
        """Shuffled, augmented training batches; each sample is a pure function of ``(seed, epoch,
        position)``, and a run resumed from a mid-epoch checkpoint continues the epoch exactly
        (:mod:`zoo.datamodules.resumable_loader`)."""
        if self.train_dataset is None:
            self.setup("fit")
        hp = self.hparams
        trainer = self.trainer
        return ResumableLoader(
            self.train_dataset,
            hp.batch_size,
            seed=hp.seed,
            num_replicas=trainer.world_size if trainer is not None else 1,
            rank=trainer.global_rank if trainer is not None else 0,
            num_workers=hp.num_workers,
            persistent_workers=hp.num_workers > 0,
            pin_memory=self._pin_memory(),
        )

    def _pin_memory(self) -> bool:
        """Pin batches for a GPU, unless the synthetic sets already render on one."""
        rendered_on = torch.device(self.synthetic_options.get("device", "cpu"))
        return torch.cuda.is_available() and rendered_on.type == "cpu"

    def val_dataloader(self) -> list[DataLoader]:
        if not self.val_datasets:
            self.setup("validate")
        return [self._evaluation_loader(d) for d in self.val_datasets]

    def test_dataloader(self) -> list[DataLoader]:
        if not self.test_datasets:
            self.setup("test")
        return [self._evaluation_loader(d) for d in self.test_datasets]

    def _evaluation_loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(dataset, batch_size=self.hparams.val_batch_size, shuffle=False, num_workers=self.hparams.num_workers)
