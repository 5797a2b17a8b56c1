"""Data: readers of published formats, datasets, LightningDataModules, and the verified file cache.

- :mod:`datamodules.flow`: optical flow (file formats, datasets, augmentation, the synthetic
  generator, the datamodule, metrics, colour coding);
- :mod:`datamodules.images`: the image sets NVAE trains on (readers, uint8 cache, datamodules,
  image grids);
- :mod:`datamodules.files`: what both use, and ``zoo`` too: atomic writes and downloads into the
  verified cache.

Names are imported lazily on first access, so ``import datamodules`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ImageDataModule": "datamodules.images.datamodule",
    "MNISTDataModule": "datamodules.images.mnist",
    "CIFAR10DataModule": "datamodules.images.cifar10",
    "CelebA64DataModule": "datamodules.images.celeba",
    "CelebAHQ256DataModule": "datamodules.images.folders",
    "FFHQ256DataModule": "datamodules.images.folders",
    "image_grid": "datamodules.images.grid",
    "read_flow": "datamodules.flow.formats",
    "write_flow": "datamodules.flow.formats",
    "read_image": "datamodules.flow.formats",
    "flow_to_color": "datamodules.flow.visualize",
    "EndPointError": "datamodules.flow.metrics",
    "FlAll": "datamodules.flow.metrics",
    "PixelAccuracy": "datamodules.flow.metrics",
    "WeightedAreaUnderCurve": "datamodules.flow.metrics",
    "SyntheticFlow": "datamodules.flow.synthetic",
    "FlyingChairs": "datamodules.flow.datasets",
    "FlyingThings3D": "datamodules.flow.datasets",
    "Sintel": "datamodules.flow.datasets",
    "KITTI": "datamodules.flow.datasets",
    "HD1K": "datamodules.flow.datasets",
    "prepare_dataset": "datamodules.flow.sources",
    "FlowAugmentation": "datamodules.flow.augment",
    "FlowDataModule": "datamodules.flow.datamodule",
}

__all__ = sorted(_LAZY)  # noqa: PLE0605 - the lazily imported names are the public ones


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
