"""The standard optical-flow datasets, read from their published on-disk layouts.

Every dataset is a ``torch.utils.data.Dataset`` of dicts:

- ``image1``, ``image2``: float32 (3, H, W) RGB in [0, 1];
- ``flow``: float32 (2, H, W), pixels, frame 1 -> frame 2 (zeros where there is no ground truth);
- ``valid``: bool (H, W), pixels with ground truth (all False for test splits);
- ``meta``: ``{"dataset": str, "sequence": str, "frame": int, "paths": (image1, image2, flow)}``
  with the flow path ``""`` when there is none.

An optional ``transform`` (e.g. :class:`zoo.datamodules.flow.augment.FlowAugmentation`) maps each
item dict to a new one. ``sparse`` tells whether the ground truth is sparse (KITTI, HD1K), which
resizing must respect.

A missing or incomplete folder raises :class:`DatasetNotFoundError` naming the folder, the layout
expected and where the data is published; :mod:`zoo.datamodules.flow.sources` downloads the sets that
have a public archive.

Each dataset module declares its names, default folder, public archive and evaluation protocols
once (:mod:`zoo.datamodules.flow.datasets.declaration`); the import lines below are what makes
them known to ``FlowDataModule``, ``zoo eval`` and the docs. A new dataset is a new module here and
one import line.
"""

from zoo.datamodules.flow.datasets.autoflow import AutoFlow
from zoo.datamodules.flow.datasets.base import DatasetNotFoundError, FlowDataset, FlowSample
from zoo.datamodules.flow.datasets.chairs import FlyingChairs
from zoo.datamodules.flow.datasets.chairs2 import FlyingChairs2
from zoo.datamodules.flow.datasets.declaration import FAMILIES, FlowFamily, FlowName, FlowProtocol
from zoo.datamodules.flow.datasets.driving import Driving
from zoo.datamodules.flow.datasets.hd1k import HD1K
from zoo.datamodules.flow.datasets.kitti import KITTI
from zoo.datamodules.flow.datasets.kubric import Kubric
from zoo.datamodules.flow.datasets.middlebury import Middlebury
from zoo.datamodules.flow.datasets.monkaa import Monkaa
from zoo.datamodules.flow.datasets.sintel import Sintel
from zoo.datamodules.flow.datasets.spring import Spring
from zoo.datamodules.flow.datasets.tartanair import TartanAir
from zoo.datamodules.flow.datasets.things import FlyingThings3D
from zoo.datamodules.flow.datasets.things_subset import FlyingThings3DSubset
from zoo.datamodules.flow.datasets.viper import Viper
from zoo.datamodules.flow.datasets.vkitti2 import VirtualKITTI2

__all__ = [
           "FAMILIES",
           "HD1K",
           "KITTI",
           "AutoFlow",
           "DatasetNotFoundError",
           "Driving",
           "FlowDataset",
           "FlowFamily",
           "FlowName",
           "FlowProtocol",
           "FlowSample",
           "FlyingChairs",
           "FlyingChairs2",
           "FlyingThings3D",
           "FlyingThings3DSubset",
           "Kubric",
           "Middlebury",
           "Monkaa",
           "Sintel",
           "Spring",
           "TartanAir",
           "Viper",
           "VirtualKITTI2",
]
