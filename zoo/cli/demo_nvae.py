"""The NVAE half of ``zoo demo``: samples and likelihoods from the bundled ``nvae.mnist-cpu``.

Everything runs offline: the weights ship with the package and the "test-like" digits are drawn
here from stroke lists (one hand-written ``0`` ... ``9``, rendered like MNIST: a 20 x 20 box
centred by its centre of mass in 28 x 28, padded to 32 x 32, then binarised by a seeded
Bernoulli draw as NVAE evaluates). They are not MNIST test digits: their NLLs show what the
model makes of unseen, plausible digits next to a random pattern; the test-set figure is in the
weights' metadata.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.files.outputs import check_outputs, local_files
from zoo.datamodules.images.drawn_digits import DIGIT_STROKES, render_digit
from zoo.datamodules.images.grid import image_grid

__all__ = ["DEMO_TEMPERATURES", "LABEL_WIDTH", "draw_digits", "nvae_demo", "with_row_labels"]

DEMO_TEMPERATURES = (0.6, 0.8, 1.0)
#: Width in pixels of the label column of the sample picture.
LABEL_WIDTH = 56


def with_row_labels(grid: np.ndarray, labels: list[str]) -> np.ndarray:
    """``grid`` (H, W) uint8, cut into ``len(labels)`` equal rows, with a black column of
    :data:`LABEL_WIDTH` px on its left where each row's label is written in white, centred on the row."""
    from PIL import Image, ImageDraw

    height, width = grid.shape
    picture = Image.new("L", (LABEL_WIDTH + width, height), 0)
    picture.paste(Image.fromarray(grid), (LABEL_WIDTH, 0))
    draw = ImageDraw.Draw(picture)
    row_height = height / len(labels)
    for row, label in enumerate(labels):
        left, top, right, bottom = draw.textbbox((0, 0), label)
        draw.text(((LABEL_WIDTH - (right - left)) / 2, row_height * (row + 0.5) - (bottom + top) / 2), label, fill=255)
    return np.asarray(picture)


def draw_digits(seed: int = 0) -> dict[str, torch.Tensor]:
    """The demo's inputs, each ``(1, 32, 32)`` float in {0, 1}: ``digit_0`` ... ``digit_9``
    (drawn strokes, dynamically binarised with a generator seeded by ``seed``) and ``noise``
    (15 % random pixels in the central 28 x 28, for contrast)."""
    generator = torch.Generator().manual_seed(seed)
    images = {}
    for digit, strokes in DIGIT_STROKES.items():
        grey = torch.from_numpy(np.pad(render_digit(strokes), 2))[None]
        images[f"digit_{digit}"] = torch.bernoulli(grey, generator=generator)
    noise = torch.zeros(1, 32, 32)
    noise[:, 2:30, 2:30] = torch.bernoulli(torch.full((1, 28, 28), 0.15), generator=generator)
    images["noise"] = noise
    return images


def nvae_demo(out_dir: Path, *, weights: str | os.PathLike | None = None,
              num_importance_samples: int = 100, samples_per_row: int = 8, seed: int = 0,
              ) -> dict[str, Any]:
    """Sample ``nvae.mnist-cpu`` and score a few drawn digits.

    Writes ``out_dir/nvae_samples.png``: one row of ``samples_per_row`` samples (Bernoulli
    means, 2x enlarged) per temperature in :data:`DEMO_TEMPERATURES`, labelled ``T = t`` on the
    left, after the batch-norm statistics are re-estimated at that temperature as the official
    sampler does.

    Args:
        out_dir: folder for the grid (created if needed).
        weights: weight file to use instead of the bundled ``nvae.mnist-cpu`` (tests).
        num_importance_samples: K of the importance-weighted NLL.
        seed: seeds the sampling, the binarisation of the drawn digits and the NLL estimate.

    Returns:
        ``{"samples": path, "temperatures": [...], "nll_nats": {name: nats}, "mean_digit_nll_nats":
        float, "num_importance_samples": K, "weights": name}``.
    """
    from zoo.weights.loader import load

    path = Path(out_dir) / "nvae_samples.png"
    check_outputs({"out_dir": path}, local_files({"weights": weights}))
    name = "nvae.mnist-cpu" if weights is None else "nvae"
    network = load(name, weights=weights)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with torch.no_grad():
        for temperature in DEMO_TEMPERATURES:
            network.readjust_bn(num_batches=20, temperature=temperature, batch_size=32,
                                generator=generator)
            rows.append(network.sample(samples_per_row, temperature, generator=generator))
    grid = image_grid(torch.cat(rows), columns=samples_per_row)
    grid = grid.repeat(2, axis=0).repeat(2, axis=1)[..., 0]
    write_png(path, with_row_labels(grid, [f"T = {t:g}" for t in DEMO_TEMPERATURES]))

    # Likelihoods with the training-time batch-norm statistics, as the evaluation uses.
    network = load(name, weights=weights)
    images = draw_digits(seed)
    batch = torch.stack(list(images.values()))
    nll = -network.log_likelihood(batch, num_importance_samples, generator=generator)
    scores = {key: float(v) for key, v in zip(images, nll)}
    digit_scores = [v for k, v in scores.items() if k.startswith("digit_")]
    return {"samples": path, "temperatures": list(DEMO_TEMPERATURES), "nll_nats": scores,
            "mean_digit_nll_nats": sum(digit_scores) / len(digit_scores),
            "num_importance_samples": num_importance_samples,
            "weights": name if weights is None else str(weights)}
