"""Flow pairs written in a published dataset layout, so that pairs made in memory (e.g. by
:class:`~zoo.datamodules.flow.synthetic.SyntheticFlow`) are read back by the same reader, and
evaluated by the same code, as the real dataset."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.flow.formats import write_flow

__all__ = ["write_sintel"]


def write_sintel(pairs: Iterable[dict], root: str | os.PathLike, pass_: str = "clean") -> Path:
    """Write ``pairs`` as an MPI-Sintel training tree under ``root`` and return ``root``.

    Pair ``i`` becomes its own scene ``pair_{i:04d}`` (Sintel pairs are consecutive frames of a
    scene): ``training/<pass_>/pair_NNNN/frame_0001.png`` (image1) and ``frame_0002.png``
    (image2) as 8-bit RGB PNG (rounded, as Sintel's frames are stored), the flow as
    ``training/flow/pair_NNNN/frame_0001.flo`` and the pixels that are not ``valid`` as the
    invalid-pixel map ``training/invalid/pair_NNNN/frame_0001.png`` (255 = invalid).

    Args:
        pairs: item dicts with ``image1``, ``image2`` (3, H, W) float RGB in [0, 1], ``flow``
            (2, H, W) float pixels and ``valid`` (H, W) bool, as the flow datasets give them.
        root: the folder that becomes ``MPI-Sintel-complete``.
        pass_: the render pass folder the frames go to, ``"clean"`` or ``"final"``.
    """
    if pass_ not in ("clean", "final"):
        raise ValueError(f"Sintel pass must be 'clean' or 'final', got {pass_!r}")
    training = Path(root) / "training"
    for index, item in enumerate(pairs):
        scene = f"pair_{index:04d}"
        for frame, key in ((1, "image1"), (2, "image2")):
            write_png(training / pass_ / scene / f"frame_{frame:04d}.png", _uint8_rgb(item[key]))
        write_flow(training / "flow" / scene / "frame_0001.flo", item["flow"].permute(1, 2, 0).numpy())
        invalid = (~item["valid"]).numpy().astype(np.uint8) * 255
        write_png(training / "invalid" / scene / "frame_0001.png", invalid)
    return Path(root)


def _uint8_rgb(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, rounded to the nearest level."""
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
