"""Digits drawn from stroke lists and rendered as MNIST is: one writer's ``0`` ... ``9``.

A digit is a list of strokes (polylines in a unit box, x to the right, y down), drawn with round
caps at 4x, fitted into a 20 x 20 box and placed in 28 x 28 by its centre of mass, as MNIST's
digits were. :func:`jittered` varies a digit's shape (slant, rotation, aspect, wobble) for the
procedural training set :class:`zoo.datamodules.images.synthetic_digits.SyntheticDigitsDataModule`;
``zoo demo`` scores the unjittered ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["DIGIT_STROKES", "Stroke", "jittered", "render_digit"]

_SCALE = 4  # digits are drawn at 4x and box-filtered down

#: A polyline in the unit box (x to the right, y down).
Stroke = Sequence[tuple[float, float]]


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0.0,
             sweep: float = 2 * math.pi, n: int = 32) -> list[tuple[float, float]]:
    return [(cx + rx * math.sin(start + sweep * i / n), cy - ry * math.cos(start + sweep * i / n))
            for i in range(n + 1)]


DIGIT_STROKES: dict[int, list[Stroke]] = {
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


def render_digit(strokes: list[Stroke], box: int = 20, width: float = 0.13) -> np.ndarray:
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


def jittered(strokes: list[Stroke], rng: np.random.Generator) -> tuple[list[Stroke], float]:
    """A random variant of a digit: its strokes under a random slant (shear up to 0.35), rotation
    (up to 0.25 rad), aspect (each axis 0.8 to 1.15) and per-point wobble (0.025 of the box), and a
    pen width (0.09 to 0.17 of the box, :func:`render_digit`'s ``width``)."""
    angle, shear = rng.uniform(-0.25, 0.25), rng.uniform(-0.35, 0.35)
    sx, sy = rng.uniform(0.8, 1.15, size=2)
    cos, sin = math.cos(angle), math.sin(angle)
    matrix = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([sx, sy])
    out = []
    for stroke in strokes:
        points = (np.asarray(stroke, dtype=np.float64) - 0.5) @ matrix.T + 0.5
        points += rng.normal(0.0, 0.025, size=points.shape)
        out.append([(float(x), float(y)) for x, y in points])
    return out, float(rng.uniform(0.09, 0.17))
