"""The Middlebury colour coding of optical flow (Baker et al., IJCV 2011).

Hue encodes direction, saturation encodes magnitude. The hue circle is a wheel of 55 colours in
six ramps: red-yellow 15, yellow-green 6, green-cyan 4, cyan-blue 11, blue-magenta 13 and
magenta-red 6 steps. A vector of normalised length ``r <= 1`` is blended from white towards its
wheel colour (``255 - r * (255 - colour)``); longer vectors are drawn darker (``0.75 * colour``).
Rightward motion is red, downward yellow, leftward cyan, upward blue-violet.
"""

from __future__ import annotations

import numpy as np

from zoo.datamodules.flow.formats import UNKNOWN_FLOW_THRESHOLD

__all__ = ["COLOR_WHEEL_SEGMENTS", "color_wheel", "color_wheel_legend", "flow_to_color"]

COLOR_WHEEL_SEGMENTS = (("RY", 15), ("YG", 6), ("GC", 4), ("CB", 11), ("BM", 13), ("MR", 6))


def color_wheel() -> np.ndarray:
    """The 55 wheel colours as float64 (55, 3) RGB in [0, 255], integers, starting at red."""
    # Each ramp moves one channel between 0 and 255 while another stays at 255:
    # (channel that stays full, channel that ramps, whether it ramps up).
    ramps = ((0, 1, True), (1, 0, False), (1, 2, True), (2, 1, False), (2, 0, True), (0, 2, False))
    rows = []
    for (_, steps), (full, moving, rising) in zip(COLOR_WHEEL_SEGMENTS, ramps):
        block = np.zeros((steps, 3))
        block[:, full] = 255
        ramp = np.floor(255 * np.arange(steps) / steps)
        block[:, moving] = ramp if rising else 255 - ramp
        rows.append(block)
    return np.concatenate(rows)


def flow_to_color(flow: np.ndarray, max_radius: float | None = None) -> np.ndarray:
    """Colour-code a flow field.

    Args:
        flow: (H, W, 2) flow in pixels (u right, v down). Non-finite vectors and vectors with a
            component above 1e9 (Middlebury "unknown") are drawn black.
        max_radius: the flow magnitude (px) drawn at full saturation; ``None`` uses the largest
            magnitude among the known vectors.

    Returns:
        uint8 (H, W, 3) RGB image.
    """
    flow = np.asarray(flow, np.float64)
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow must have shape (H, W, 2), got {flow.shape}")
    known = np.isfinite(flow).all(axis=2) & (np.abs(flow) < UNKNOWN_FLOW_THRESHOLD).all(axis=2)
    u, v = (np.where(known, flow[..., i], 0.0) for i in range(2))
    radius = np.hypot(u, v)
    if max_radius is None:
        max_radius = radius.max(initial=0.0)
    elif max_radius <= 0:
        raise ValueError(f"max_radius must be positive, got {max_radius}")
    scale = 1.0 / max(max_radius, np.finfo(np.float64).eps)
    image = _wheel_colors(u * scale, v * scale)
    image[~known] = 0
    return image


def color_wheel_legend(size: int = 151) -> np.ndarray:
    """A legend: uint8 (size, size, 3) disk whose rim is the full-saturation colour of each direction.

    Pixel (x, y) shows the colour of the flow vector from the centre to (x, y), normalised so that
    the inscribed circle has radius 1; corners beyond it show the darkened over-range colours.
    """
    if size < 3:
        raise ValueError(f"legend size must be at least 3 pixels, got {size}")
    half = (size - 1) / 2
    coords = (np.arange(size) - half) / half
    return _wheel_colors(*np.meshgrid(coords, coords))


def _wheel_colors(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) colours of normalised flow components ``u``, ``v`` (radius 1 = saturated)."""
    wheel = color_wheel()
    count = len(wheel)
    radius = np.hypot(u, v)
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (count - 1)  # in [0, count - 1]
    k0 = np.floor(position).astype(int)
    k1 = (k0 + 1) % count
    fraction = (position - k0)[..., None]
    colour = (1 - fraction) * wheel[k0] + fraction * wheel[k1]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 255 - radius[..., None] * (255 - colour), 0.75 * colour)
    return np.floor(colour).astype(np.uint8)
