"""Independent float64 checks of SyntheticFlow pairs: frame 2 warped back by the flow, and the
pixels seen in both frames (used by tests/test_flow_synthetic*.py)."""

from __future__ import annotations

import numpy as np


def backward_warp(image: np.ndarray, flow: np.ndarray):
    """Bilinear samples of ``image`` (3, H, W) at ``x + flow(x)``, float64, with the four integer
    neighbours used for every pixel: returns (warped (3, H, W), x0, y0, inside)."""
    _, height, width = image.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs + flow[0], ys + flow[1]
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    inside = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < width) & (y0 + 1 < height)
    x0c, y0c = np.clip(x0, 0, width - 2), np.clip(y0, 0, height - 2)
    fx, fy = x - x0c, y - y0c
    top = image[:, y0c, x0c] * (1 - fx) + image[:, y0c, x0c + 1] * fx
    bottom = image[:, y0c + 1, x0c] * (1 - fx) + image[:, y0c + 1, x0c + 1] * fx
    return top * (1 - fy) + bottom * fy, x0c, y0c, inside


def interior(owner: np.ndarray) -> np.ndarray:
    """Pixels whose 3x3 neighbourhood belongs to one layer / surface (away from edges)."""
    padded = np.pad(owner, 1, mode="edge")
    height, width = owner.shape
    same = np.ones(owner.shape, bool)
    for dy in range(3):
        for dx in range(3):
            same &= padded[dy : dy + height, dx : dx + width] == owner
    return same


def warp_residuals(pair, offsets=()):
    """Mean |frame 1 - frame 2 warped by the flow| (RGB mean per pixel) over the pixels whose point
    is seen, away from edges, in both frames, and the same residual with the flow shifted by each
    of ``offsets`` (px). Returns (residual per visible pixel, visible fraction, shifted means)."""
    image1, image2 = pair.image1.double().numpy(), pair.image2.double().numpy()
    flow = pair.flow.double().numpy()
    owner1, owner2 = pair.owner1.numpy(), pair.owner2.numpy()
    warped, x0, y0, inside = backward_warp(image2, flow)
    interior2 = interior(owner2)
    visible = inside & interior(owner1)
    if pair.valid is not None:
        visible &= pair.valid.numpy()
    for dy in (0, 1):
        for dx in (0, 1):
            visible &= interior2[y0 + dy, x0 + dx] & (owner2[y0 + dy, x0 + dx] == owner1)
    error = np.abs(warped - image1).mean(axis=0)[visible]
    shifted = [np.abs(backward_warp(image2, flow + np.array(o, float)[:, None, None])[0] - image1).mean(axis=0)[visible].mean()
               for o in offsets]
    return error, visible.mean(), shifted
