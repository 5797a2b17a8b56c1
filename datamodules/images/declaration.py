"""How an image dataset declares itself, once, on its datamodule class.

An :class:`~zoo.datamodules.images.datamodule.ImageDataModule` subclass carries a ``declared``
:class:`ImageSet` (its ``zoo eval --data`` name, default batch size, held-out images and NVAE
evaluation protocol) and is made known by the :func:`declare` class decorator; importing its module
(one line in ``datamodules/images/datasets.py``) is all it takes for ``zoo eval`` and the docs to
list it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["IMAGE_SETS", "ImageProtocol", "ImageSet", "declare"]


@dataclass(frozen=True)
class ImageProtocol:
    """An NVAE evaluation: the split evaluated, the row's dataset name, the record key of the
    published figure, the unit (``"nats"`` per image or ``"bpd"``, bits per dimension) and extra
    datamodule arguments for evaluation (MNIST: ``test_only``, so that evaluation never reads or
    downloads the training files)."""

    split: str
    key: str
    reference: str
    unit: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSet:
    """An image dataset's declaration.

    ``name``: its ``zoo eval --data`` name; ``folder``: where its files are under ``data_dir``;
    ``batch_size``: the default batch size;
    ``num_validation``: training images held out for validation by default (None: the dataset has
    an official validation split, and the argument is refused); ``protocol``: how NVAE is evaluated on it
    (None: a set that is not for figures, e.g. the rendered smoke-test digits).
    """

    name: str
    batch_size: int
    num_validation: int | None
    protocol: ImageProtocol | None = None
    folder: str = "."


#: ``zoo eval --data`` name -> the datamodule class that declares it, in import order.
IMAGE_SETS: dict[str, Any] = {}


def declare(datamodule: type) -> type:
    """Class decorator: make ``datamodule`` (whose ``declared`` is an :class:`ImageSet`) known."""
    name = datamodule.declared.name
    if name in IMAGE_SETS:
        raise ValueError(f"image dataset {name!r} is declared already, by {IMAGE_SETS[name].__name__}")
    IMAGE_SETS[name] = datamodule
    return datamodule
