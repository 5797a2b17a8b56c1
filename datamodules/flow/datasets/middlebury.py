"""Middlebury flow (Baker et al. IJCV 2011): the 8 ``other`` sequences with public ground truth."""

from __future__ import annotations

from pathlib import Path

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    none_found,
    require,
)
from zoo.datamodules.flow.datasets.declaration import FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["Middlebury"]


MIDDLEBURY_LAYOUT = """\
  other-data/Dimetrodon/frame10.png, frame11.png ...   (other-color-twoframes.zip or -allframes.zip)
  other-gt-flow/Dimetrodon/flow10.flo ...              (other-gt-flow.zip: 8 sequences; |u| or |v| > 1e9 = unknown)"""
MIDDLEBURY_SOURCE = "https://vision.middlebury.edu/flow/data/"


class Middlebury(FlowDataset):
    """Middlebury ``other`` sequences with ground truth: ``frame10.png`` -> ``frame11.png`` and
    ``flow10.flo`` of each sequence folder in ``other-gt-flow`` (pixels with a component above 1e9 in
    magnitude are unknown: not ``valid``)."""

    name = "middlebury"

    def __init__(self, root: PathLike, transform: Transform | None = None) -> None:
        root = Path(root)
        flows = require(root / "other-gt-flow", "Middlebury", MIDDLEBURY_LAYOUT, MIDDLEBURY_SOURCE)
        frames = require(root / "other-data", "Middlebury", MIDDLEBURY_LAYOUT, MIDDLEBURY_SOURCE)
        sequences = sorted(p.name for p in flows.iterdir() if p.is_dir())
        if not sequences:
            raise none_found(flows, "Middlebury", "sequence folders", MIDDLEBURY_LAYOUT, MIDDLEBURY_SOURCE)
        samples = [FlowSample(frames / s / "frame10.png", frames / s / "frame11.png", flows / s / "flow10.flo", s, 10)
                   for s in sequences]
        check_complete(samples, "Middlebury", MIDDLEBURY_LAYOUT, MIDDLEBURY_SOURCE)
        super().__init__(samples, transform)


# Middlebury reports each sequence's figures over its pixels with known flow: one pair per sequence,
# averaged over the sequences (rows per sequence with --per-sequence).
declare(FlowFamily("middlebury", "Middlebury", names={"middlebury": FlowName(
    lambda root, training, options: [Middlebury(root, **options)], "Middlebury other, 8 sequences with GT",
    "the same", FlowProtocol("middlebury-train", (("epe", "image"), ("aae", "image"))))}))
