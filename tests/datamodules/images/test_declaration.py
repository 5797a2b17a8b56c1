"""Image datasets declare themselves: the ``declared`` record of each datamodule gives ``zoo eval``
its sets and the datamodule its defaults (batch size, held-out images, folder)."""

from __future__ import annotations

import pytest

from zoo import datamodules
from zoo.datamodules.images.datasets import (
    IMAGE_SETS,
    CelebA64DataModule,
    CelebAHQ256DataModule,
    CIFAR10DataModule,
    FFHQ256DataModule,
    MNISTDataModule,
)
from zoo.measure.evaluation import image_protocols


def test_every_image_set_is_declared_once_with_its_protocol():
    assert IMAGE_SETS == {"celeba64": CelebA64DataModule, "cifar10": CIFAR10DataModule,
                          "celebahq256": CelebAHQ256DataModule, "ffhq256": FFHQ256DataModule,
                          "mnist": MNISTDataModule}
    protocols = image_protocols()
    assert {name: (p.split, p.key, p.reference, p.unit) for name, p in protocols.items()} == {
        "mnist": ("test", "mnist-test", "mnist-test", "nats"),
        "cifar10": ("test", "cifar10-test", "cifar10-test", "bpd"),
        "celeba64": ("val", "celeba64-val", "celeba64-test", "bpd"),
        "celebahq256": ("test", "celebahq256-val", "celebahq256-test", "bpd"),
        "ffhq256": ("test", "ffhq256-val", "ffhq256-test", "bpd")}
    assert datamodules.CIFAR10DataModule is CIFAR10DataModule and "FFHQ256DataModule" in dir(datamodules)


@pytest.mark.parametrize(("cls", "batch_size", "num_validation", "folder"), [
    (MNISTDataModule, 200, 5000, "d"), (CIFAR10DataModule, 32, 5000, "d/cifar-10-batches-py"),
    (CelebA64DataModule, 64, None, "d"), (CelebAHQ256DataModule, 8, 3000, "d"),
    (FFHQ256DataModule, 8, 7000, "d/images1024x1024")])
def test_defaults_come_from_the_declaration(cls, batch_size, num_validation, folder):
    module = cls("d", num_workers=0)
    assert (module.batch_size, module.num_validation, module.folder.as_posix()) == (batch_size, num_validation, folder)
    if num_validation is not None:
        assert cls("d", batch_size=3, num_validation=7).num_validation == 7


def test_an_official_split_refuses_num_validation():
    with pytest.raises(ValueError, match="CelebA64DataModule uses the official validation split"):
        CelebA64DataModule("d", num_validation=10)


def test_readme_names_every_declared_image_set():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert all(f"`{cls.__name__}`" in readme or f"`zoo.datamodules.{cls.__name__}`" in readme
               for cls in IMAGE_SETS.values())
