"""Data: readers of published formats, datasets, LightningDataModules, and the verified file cache.

- :mod:`zoo.datamodules.flow`: optical flow (file formats, datasets, augmentation, the synthetic
  generator, the datamodule, metrics, colour coding);
- :mod:`zoo.datamodules.images`: the image sets NVAE trains on (readers, uint8 cache, datamodules,
  image grids);
- :mod:`zoo.datamodules.files`: what both use, and ``zoo`` too: atomic writes and downloads into the
  verified cache.

Names are imported lazily on first access, so ``import zoo.datamodules`` stays cheap. Besides the
names below, every dataset class is one: those of :mod:`zoo.datamodules.flow.datasets` and
:mod:`zoo.datamodules.images.datasets` (which list the dataset modules, one import line each).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ImageDataModule": "zoo.datamodules.images.datamodule",
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
    "prepare_dataset": "zoo.datamodules.flow.sources",
    "FlowAugmentation": "zoo.datamodules.flow.augment",
    "FlowDataModule": "zoo.datamodules.flow.datamodule",
}

#: Modules whose ``__all__`` names (the dataset classes) are public names here too.
_DATASET_MODULES = ("zoo.datamodules.flow.datasets", "zoo.datamodules.images.datasets")

__all__ = sorted(_LAZY)  # noqa: PLE0605 - the lazily imported names are the public ones


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if not name.startswith("__"):
        for module_name in _DATASET_MODULES:
            module = importlib.import_module(module_name)
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module 'zoo.datamodules' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *(name for module in _DATASET_MODULES
                                         for name in importlib.import_module(module).__all__)})
