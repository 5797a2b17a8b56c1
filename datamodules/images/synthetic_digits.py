"""Procedural digits for trying NVAE training with no download: a smoke test, not a benchmark.

Each image is one of :data:`~zoo.datamodules.images.drawn_digits.DIGIT_STROKES`' ten digits under
a random slant, rotation, aspect, wobble and pen width (:func:`~zoo.datamodules.images.drawn_digits.jittered`),
rendered as MNIST is (20 x 20 box, centred by mass in 28 x 28) and padded to 32 x 32, so the
shipped MNIST network configs run on it unchanged. Image ``i`` is a pure function of
``(render_seed, i)``. The set is far easier and less varied than MNIST (one writer's strokes):
its likelihoods say that training runs and learns, not how good a model is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from zoo.datamodules.images.cache import BatchTransform
from zoo.datamodules.images.datamodule import ImageDataModule, dynamic_binarize
from zoo.datamodules.images.declaration import ImageSet
from zoo.datamodules.images.drawn_digits import DIGIT_STROKES, jittered, render_digit

__all__ = ["RENDER_VERSION", "SyntheticDigitsDataModule", "synthetic_digit"]

RENDER_VERSION = 1  # bump when the rendering of an image changes (it keys the cache)


def synthetic_digit(render_seed: int, index: int) -> tuple[np.ndarray, int]:
    """Image ``index`` of the set seeded by ``render_seed``: (uint8 (32, 32), digit label).
    Labels cycle through 0..9 so every split is balanced."""
    label = index % 10
    strokes, width = jittered(DIGIT_STROKES[label], np.random.default_rng([render_seed, index]))
    grey = np.pad(render_digit(strokes, width=width), 2)
    return (grey * 255).round().astype(np.uint8), label


class SyntheticDigitsDataModule(ImageDataModule):
    """Rendered digits in MNIST's shape (1 x 32 x 32), dynamically binarised like MNIST.

    Items: image float32 (1, 32, 32), in {0, 1} with ``binarize`` (a fresh Bernoulli draw at every
    access) else in [0, 1]; digit label. Rendered once into the uint8 cache (about 2 ms an image
    on one CPU core), then memory-mapped like the other image sets.

    Args:
        num_train, num_validation, num_test: images of each split (disjoint indices of one sequence).
        render_seed: seeds the shapes; ``seed`` (as for every datamodule) the order and binarisation.
        data_dir: unused (nothing is read); kept so that configs of the image sets carry over.
    """

    name = "synthetic-digits"
    declared = ImageSet("synthetic-digits", batch_size=32, num_validation=320)
    image_shape = (32, 32, 1)

    def __init__(self, data_dir: str = "", batch_size: int = 32, num_workers: int = 0, seed: int = 0,
                 cache_dir: str | None = None, num_train: int = 6400, num_validation: int = 320,
                 num_test: int = 320, render_seed: int = 0, binarize: bool = True) -> None:
        super().__init__(data_dir, batch_size, num_workers, seed, cache_dir, num_validation)
        for option, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
            if value < 1:
                raise ValueError(f"SyntheticDigitsDataModule: {option} must be >= 1, got {value}")
        self.counts = {"train": num_train, "val": num_validation, "test": num_test}
        self.render_seed = render_seed
        self.binarize = binarize

    def fetch(self) -> None:
        """Nothing to fetch: the images are rendered."""

    def source_files(self) -> list[str]:
        return []

    def cache_params(self) -> dict:
        return {"version": RENDER_VERSION, "render_seed": self.render_seed, **self.counts}

    def decoded(self) -> tuple[int, Iterable[np.ndarray], np.ndarray]:
        count = sum(self.counts.values())
        labels = np.arange(count, dtype=np.int64) % 10

        def rows() -> Iterator[np.ndarray]:
            for index in range(count):
                yield synthetic_digit(self.render_seed, index)[0][..., None]

        return count, rows(), labels

    def split_indices(self, count: int) -> dict[str, np.ndarray]:
        ends = np.cumsum([self.counts[split] for split in ("train", "val", "test")])
        return {"train": np.arange(0, ends[0]), "val": np.arange(ends[0], ends[1]), "test": np.arange(ends[1], ends[2])}

    def transforms(self, split: str) -> tuple[BatchTransform, ...]:
        return (dynamic_binarize,) if self.binarize else ()
