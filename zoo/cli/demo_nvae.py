"""The NVAE half of ``zoo demo``: samples and likelihoods from the bundled ``nvae.mnist-cpu``.

Everything runs offline: the weights ship with the package and the "test-like" digits are drawn
here from stroke lists (one hand-written ``0`` ... ``9``, rendered like MNIST: a 20 x 20 box
centred by its centre of mass in 28 x 28, padded to 32 x 32, then binarised by a seeded
Bernoulli draw as NVAE evaluates). They are not MNIST test digits: their NLLs show what the
model makes of unseen, plausible digits next to a random pattern; the test-set figure is in the
weights' metadata.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.files.outputs import check_outputs, local_files
from zoo.datamodules.images.grid import image_grid

__all__ = ["DEMO_TEMPERATURES", "draw_digits", "nvae_demo"]

DEMO_TEMPERATURES = (0.6, 0.8, 1.0)
_SCALE = 4  # digits are drawn at 4x and box-filtered down

# Strokes of one writer's digits in a unit box (x to the right, y down).
_Stroke = Sequence[tuple[float, float]]


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0,
             sweep: float = 2 * math.pi, n: int = 32) -> list[tuple[float, float]]:
    return [(cx + rx * math.sin(start + sweep * i / n), cy - ry * math.cos(start + sweep * i / n))
            for i in range(n + 1)]


_DIGIT_STROKES: dict[int, list[_Stroke]] = {
    0: [_ellipse(0.5, 0.5, 0.34, 0.48)],
    1: [[(0.62, 0.0), (0.55, 0.5), (0.46, 1.0)]],
    2: [[(0.14, 0.25), (0.3, 0.05), (0.6, 0.0), (0.82, 0.18), (0.76, 0.45), (0.15, 0.96),
         (0.92, 0.94)]],
    3: [[(0.15, 0.1), (0.5, 0.0), (0.8, 0.15), (0.74, 0.4), (0.42, 0.5), (0.8, 0.6),
         (0.86, 0.84), (0.5, 1.0), (0.12, 0.88)]],
    4: [[(0.58, 0.0), (0.1, 0.64), (0.92, 0.64)], [(0.66, 0.28), (0.64, 1.0)]],
    5: [[(0.86, 0.02), (0.26, 0.02), (0.2, 0.46), (0.55, 0.38), (0.82, 0.58), (0.8, 0.86),
         (0.5, 1.0), (0.14, 0.9)]],
    6: [[(0.72, 0.0), (0.36, 0.28), (0.18, 0.68), (0.3, 0.95), (0.6, 0.98), (0.8, 0.78),
         (0.66, 0.55), (0.36, 0.56), (0.2, 0.72)]],
    7: [[(0.1, 0.04), (0.9, 0.04), (0.38, 1.0)]],
    8: [_ellipse(0.5, 0.26, 0.24, 0.25), _ellipse(0.5, 0.73, 0.3, 0.26)],
    9: [_ellipse(0.5, 0.3, 0.3, 0.28, start=math.pi / 2), [(0.8, 0.3), (0.72, 1.0)]],
}


def _render(strokes: list[_Stroke], box: int = 20, width: float = 0.13) -> np.ndarray:
    """Grey-level ``(28, 28)`` float image in [0, 1] of one digit, MNIST-centred."""
    from PIL import Image, ImageDraw

    side = box * _SCALE
    margin = int(width * side)
    canvas = Image.new("L", (side + 2 * margin, side + 2 * margin), 0)
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(width * side))
    for stroke in strokes:
        points = [(margin + x * side, margin + y * side) for x, y in stroke]
        draw.line(points, fill=255, width=line, joint="curve")
        for px, py in points[:: max(1, len(points) - 1)]:  # round caps at the ends
            draw.ellipse([px - line / 2, py - line / 2, px + line / 2, py + line / 2], fill=255)
    bbox = canvas.getbbox()
    digit = canvas.crop(bbox)
    w, h = digit.size
    scale = box * _SCALE / max(w, h)
    digit = digit.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
    digit = digit.resize((max(1, round(digit.width / _SCALE)), max(1, round(digit.height / _SCALE))),
                         Image.BOX)
    small = np.asarray(digit, dtype=np.float32) / 255.0
    ys, xs = np.nonzero(small > 0)
    weights = small[ys, xs]
    cy, cx = (ys * weights).sum() / weights.sum(), (xs * weights).sum() / weights.sum()
    out = np.zeros((28, 28), np.float32)
    top = int(np.clip(round(14 - cy), 0, 28 - small.shape[0]))
    left = int(np.clip(round(14 - cx), 0, 28 - small.shape[1]))
    out[top:top + small.shape[0], left:left + small.shape[1]] = small
    return out


def draw_digits(seed: int = 0) -> dict[str, torch.Tensor]:
    """The demo's inputs, each ``(1, 32, 32)`` float in {0, 1}: ``digit_0`` ... ``digit_9``
    (drawn strokes, dynamically binarised with a generator seeded by ``seed``) and ``noise``
    (15 % random pixels in the central 28 x 28, for contrast)."""
    generator = torch.Generator().manual_seed(seed)
    images = {}
    for digit, strokes in _DIGIT_STROKES.items():
        grey = torch.from_numpy(np.pad(_render(strokes), 2))[None]
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
    means, 2x enlarged) per temperature in :data:`DEMO_TEMPERATURES`, after the batch-norm
    statistics are re-estimated at that temperature as the official sampler does.

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
    write_png(path, grid)

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
