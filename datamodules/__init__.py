"""Data: readers of published formats, datasets, LightningDataModules, and the verified file cache.

- :mod:`zoo.datamodules.flow`: optical flow (file formats, datasets, augmentation, the synthetic
  generator, the datamodule, metrics, colour coding);
- :mod:`zoo.datamodules.images`: the image sets NVAE trains on (readers, uint8 cache, datamodules,
  image grids);
- :mod:`zoo.datamodules.files`: what both use, and ``zoo`` too: atomic writes and downloads into the
  verified cache.

Names are imported lazily on first access, so ``import zoo.datamodules`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ImageDataModule": "zoo.datamodules.images.datamodule",
    "MNISTDataModule": "zoo.datamodules.images.mnist",
    "CIFAR10DataModule": "zoo.datamodules.images.cifar10",
    "CelebA64DataModule": "zoo.datamodules.images.celeba",
    "CelebAHQ256DataModule": "zoo.datamodules.images.folders",
    "FFHQ256DataModule": "zoo.datamodules.images.folders",
    "image_grid": "zoo.datamodules.images.grid",
    "read_flow": "zoo.datamodules.flow.formats",
    "write_flow": "zoo.datamodules.flow.formats",
    "read_image": "zoo.datamodules.flow.formats",
    "flow_to_color": "zoo.datamodules.flow.visualize",
    "EndPointError": "zoo.datamodules.flow.metrics",
    "FlAll": "zoo.datamodules.flow.metrics",
    "PixelAccuracy": "zoo.datamodules.flow.metrics",
    "WeightedAreaUnderCurve": "zoo.datamodules.flow.metrics",
    "SyntheticFlow": "zoo.datamodules.flow.synthetic",
    "FlyingChairs": "zoo.datamodules.flow.datasets",
    "FlyingThings3D": "zoo.datamodules.flow.datasets",
    "Sintel": "zoo.datamodules.flow.datasets",
    "KITTI": "zoo.datamodules.flow.datasets",
    "HD1K": "zoo.datamodules.flow.datasets",
    "prepare_dataset": "zoo.datamodules.flow.sources",
    "FlowAugmentation": "zoo.datamodules.flow.augment",
    "FlowDataModule": "zoo.datamodules.flow.datamodule",
}

__all__ = sorted(_LAZY)  # noqa: PLE0605 - the lazily imported names are the public ones


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
