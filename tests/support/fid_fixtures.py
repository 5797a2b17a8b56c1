"""Inputs shared by the FID tests and the pytorch-fid reference script: seeded random weights in the
FID Inception's state-dict layout, and seeded test images. Pure numpy (the reference script runs it in
a side environment without the zoo), each value a function of the seed and the key only.

- :func:`random_inception_state`: He-scaled convolutions and batch-norm parameters near identity, so
  activations stay of order one through the 94 convolutions (pytorch-fid's real weights are not here).
- :func:`test_images`: uint8 RGB images, smooth random colour fields plus noise; ``style`` shifts
  their colour distribution so two folders have a clearly non-zero FID.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

__all__ = ["FID_WEIGHTS_SEED", "random_inception_state", "test_images", "write_random_inception"]

FID_WEIGHTS_SEED = 2015


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def random_inception_state(shapes: Iterable[tuple[str, tuple[int, ...]]] | Mapping[str, tuple[int, ...]],
                           seed: int = FID_WEIGHTS_SEED) -> dict[str, np.ndarray]:
    """``{key: array}`` for every ``(key, shape)``: float32, int64 for ``num_batches_tracked``."""
    items = shapes.items() if isinstance(shapes, Mapping) else shapes
    state = {}
    for key, shape in items:
        shape = tuple(shape)
        rng = _rng(seed, key)
        if key.endswith("num_batches_tracked"):
            state[key] = np.zeros(shape, np.int64)
        elif key.endswith("conv.weight"):
            fan_in = int(np.prod(shape[1:]))
            state[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        elif key.endswith(("bn.weight", "bn.running_var")):
            state[key] = rng.uniform(0.8, 1.2, shape).astype(np.float32)
        elif key.endswith(("bn.bias", "bn.running_mean")):
            state[key] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        elif key.startswith("fc."):
            state[key] = (0.01 * rng.standard_normal(shape)).astype(np.float32)
        else:
            raise ValueError(f"no rule for key {key!r}")
    return state


def test_images(count: int, size: tuple[int, int], seed: int, style: int = 0) -> np.ndarray:
    """``count`` uint8 (H, W, 3) RGB images of ``size`` (H, W): (count, H, W, 3)."""
    rng = np.random.default_rng([seed, style, *size])
    height, width = size
    coarse = rng.uniform(0, 1, (count, 4, 4, 3))
    rows = np.linspace(0, 3, height)[:, None]
    cols = np.linspace(0, 3, width)[None, :]
    r0, c0 = np.floor(rows).astype(int).clip(0, 2), np.floor(cols).astype(int).clip(0, 2)
    fr, fc = (rows - r0)[..., None], (cols - c0)[..., None]
    field = (coarse[:, r0, c0] * (1 - fr) * (1 - fc) + coarse[:, r0 + 1, c0] * fr * (1 - fc)
             + coarse[:, r0, c0 + 1] * (1 - fr) * fc + coarse[:, r0 + 1, c0 + 1] * fr * fc)
    tint = np.array([0.0, 0.0, 0.0]) if style == 0 else np.array([0.25, -0.1, -0.2]) * style
    images = field + tint + 0.08 * rng.standard_normal(field.shape)
    return np.clip(np.round(images * 255), 0, 255).astype(np.uint8)


def write_random_inception(path: Path) -> Path:
    """The seeded random weights as pytorch-fid's published file stores them: ``torch.save`` of the bare
    state dict of torchvision's names (the key list checked against pytorch-fid in test_fid_reference.py)."""
    import torch

    from zoo.measure.inception import FIDInceptionV3

    shapes = {key: tuple(value.shape) for key, value in FIDInceptionV3().state_dict().items()}
    torch.save({key: torch.from_numpy(value) for key, value in random_inception_state(shapes).items()}, path)
    return path
