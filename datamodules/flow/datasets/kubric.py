"""Kubric MOVi (Greff et al. CVPR 2022) as exported to PNG sequences and read by ptlflow: 16-bit PNG
flow scaled by each sequence's ``data_ranges.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    check_contiguous,
    consecutive_pairs,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare
from zoo.datamodules.flow.formats import MAX_PIXELS, FlowFormatError
from zoo.datamodules.flow.png_io import png_header, read_png

__all__ = ["Kubric", "read_kubric_flow"]


KUBRIC_LAYOUT = """\
  <sequence>/rgba_00000.png ...
  <sequence>/forward_flow_00000.png ...    (frame N -> N + 1; 16-bit RGB: G = u, R = v, scaled to [0, 65535])
  <sequence>/backward_flow_00001.png ...   (frame N -> N - 1)
  <sequence>/data_ranges.json              ({"forward_flow": {"min": .., "max": ..}, "backward_flow": {...}})"""
KUBRIC_SOURCE = "https://github.com/google-research/kubric/tree/main/challenges/movi (PNG export as ptlflow reads it)"


def read_kubric_flow(path: PathLike, direction: str) -> np.ndarray:
    """A Kubric flow PNG (16-bit RGB): ``u`` in G, ``v`` in R, each ``value / 65535 * (max - min) + min``
    with ``min, max`` of ``direction`` (``"forward_flow"`` / ``"backward_flow"``) in the sequence's
    ``data_ranges.json``; returns float32 (H, W, 2) px."""
    path = Path(path)
    header = png_header(path)
    if (header.bit_depth, header.colour_type) != (16, 2):
        raise FlowFormatError(f"{path}: Kubric flow PNGs are 16-bit RGB, this one is {header.kind}")
    ranges_file = path.parent / "data_ranges.json"
    try:
        low, high = (float(json.loads(ranges_file.read_text())[direction][k]) for k in ("min", "max"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{ranges_file} does not exist: Kubric flow needs it to scale {path.name}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{ranges_file}: expected {{{direction!r}: {{'min': .., 'max': ..}}}} ({error!r})") from None
    flow = read_png(path, MAX_PIXELS)[..., [1, 0]].astype(np.float32)  # float32: rounding far below a code step
    flow *= np.float32((high - low) / 65535)
    flow += np.float32(low)
    return flow


# direction -> (file prefix, step from frame 1 to frame 2)
_DIRECTIONS = {"forward": ("forward_flow", 1), "backward": ("backward_flow", -1)}


class Kubric(FlowDataset):
    """Kubric MOVi sequences exported as PNGs: ``rgba_N.png`` frames (alpha dropped) and
    ``{forward,backward}_flow_N.png`` (:func:`read_kubric_flow`, valid everywhere), every sequence
    folder under the root.

    Args:
        root: the folder holding one folder per sequence.
        directions: ``"forward"`` (N -> N + 1) and/or ``"backward"`` (N -> N - 1).
    """

    name = "kubric"

    def __init__(self, root: PathLike, directions: Sequence[str] = ("forward",),
                 transform: Transform | None = None) -> None:
        if not directions or not set(directions) <= set(_DIRECTIONS):
            raise ValueError(f"Kubric directions must be among 'forward', 'backward', got {directions!r}")
        root = require(Path(root), "Kubric", KUBRIC_LAYOUT, KUBRIC_SOURCE)
        sequences = sorted(p for p in root.iterdir() if p.is_dir())
        samples = []
        for sequence in sequences:
            frames = numbered(sequence.glob("rgba_*.png"), r"rgba_(\d+)\.png")
            check_contiguous(frames, lambda n, at=sequence: at / f"rgba_{n:05d}.png", "Kubric", KUBRIC_LAYOUT,
                             KUBRIC_SOURCE)
            for direction in directions:
                prefix, step = _DIRECTIONS[direction]
                for n, first, second in consecutive_pairs(frames):
                    source = n if step == 1 else n + 1
                    digits = len(first.stem) - len("rgba_")  # the flow files are numbered as the frames
                    flow = sequence / f"{prefix}_{source:0{digits}d}.png"
                    pair = (first, second) if step == 1 else (second, first)
                    samples.append(FlowSample(*pair, flow, f"{sequence.name}/{direction}", source))
        if not samples:
            raise none_found(root, "Kubric", "<sequence>/rgba_*.png frame pairs", KUBRIC_LAYOUT, KUBRIC_SOURCE)
        check_complete(samples, "Kubric", KUBRIC_LAYOUT, KUBRIC_SOURCE)
        super().__init__(samples, transform)

    def read_ground_truth(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        flow = read_kubric_flow(path, "forward_flow" if path.name.startswith("forward") else "backward_flow")
        return flow, np.ones(flow.shape[:2], bool)


declare(FlowFamily("kubric", "Kubric", names={"kubric": FlowName(
    lambda root, training, options: [Kubric(root, **options)], "Kubric MOVi sequences, forward", "the same",
    FlowProtocol("kubric-train", POOLED))}))
