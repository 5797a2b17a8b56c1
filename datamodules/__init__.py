"""Data: readers of published formats, datasets and LightningDataModules.

Names are imported lazily on first access, so ``import datamodules`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ImageDataModule": "datamodules.image_datamodules",
    "MNISTDataModule": "datamodules.image_datamodules",
    "CIFAR10DataModule": "datamodules.image_datamodules",
    "CelebA64DataModule": "datamodules.image_datamodules",
    "CelebAHQ256DataModule": "datamodules.image_datamodules",
    "FFHQ256DataModule": "datamodules.image_datamodules",
    "read_flow": "datamodules.flow_io",
    "write_flow": "datamodules.flow_io",
    "read_image": "datamodules.flow_io",
    "flow_to_color": "datamodules.flow_viz",
    "EndPointError": "datamodules.flow_metrics",
    "FlAll": "datamodules.flow_metrics",
    "PixelAccuracy": "datamodules.flow_metrics",
    "SyntheticFlow": "datamodules.flow.synthetic",
    "FlyingChairs": "datamodules.flow_datasets",
    "FlyingThings3D": "datamodules.flow_datasets",
    "Sintel": "datamodules.flow_datasets",
    "KITTI": "datamodules.flow_datasets",
    "HD1K": "datamodules.flow_datasets",
    "FlowAugmentation": "datamodules.flow_augment",
    "FlowDataModule": "datamodules.flow_datamodule",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
