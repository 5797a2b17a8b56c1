"""The image datasets NVAE trains on, one import line each: importing a module declares its set
(:mod:`zoo.datamodules.images.declaration`) to ``zoo eval`` and the docs."""

from zoo.datamodules.images.celeba import CelebA64DataModule
from zoo.datamodules.images.cifar10 import CIFAR10DataModule
from zoo.datamodules.images.declaration import IMAGE_SETS
from zoo.datamodules.images.folders import CelebAHQ256DataModule, FFHQ256DataModule, SquareImageFolderDataModule
from zoo.datamodules.images.mnist import MNISTDataModule

__all__ = ["IMAGE_SETS", "CIFAR10DataModule", "CelebA64DataModule", "CelebAHQ256DataModule", "FFHQ256DataModule",
           "MNISTDataModule", "SquareImageFolderDataModule"]
