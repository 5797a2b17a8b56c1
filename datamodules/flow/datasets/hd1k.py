"""HD1K (Kondermann et al. 2016): sparse ground truth of driving scenes."""

from __future__ import annotations

import re
from pathlib import Path

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    consecutive_pairs,
    none_found,
    require,
)
from zoo.datamodules.flow.datasets.declaration import FlowFamily, FlowName, declare

__all__ = ["HD1K"]


HD1K_LAYOUT = """\
  hd1k_input/image_2/000000_0000.png, 000000_0001.png ...   (sequence_frame)
  hd1k_flow_gt/flow_occ/000000_0000.png ..."""
HD1K_SOURCE = "http://hci-benchmark.iwr.uni-heidelberg.de/"


class HD1K(FlowDataset):
    """HD1K (Kondermann et al. 2016): 1,047 training pairs of 1080x2560 in 36 sequences, sparse
    KITTI-format flow. Pairs are consecutive frames of a sequence."""

    name = "hd1k"
    sparse = True

    def __init__(self, root: PathLike, transform: Transform | None = None) -> None:
        root = Path(root)
        frames_dir = require(root / "hd1k_input" / "image_2", "HD1K", HD1K_LAYOUT, HD1K_SOURCE)
        flow_dir = require(root / "hd1k_flow_gt" / "flow_occ", "HD1K", HD1K_LAYOUT, HD1K_SOURCE)
        sequences: dict[str, dict[int, Path]] = {}
        for path in frames_dir.glob("*.png"):
            match = re.fullmatch(r"(\d+)_(\d+)\.png", path.name)
            if match:
                sequences.setdefault(match.group(1), {})[int(match.group(2))] = path
        samples = [
            FlowSample(first, second, flow_dir / first.name, sequence, frame)
            for sequence in sorted(sequences)
            for frame, first, second in consecutive_pairs(sequences[sequence])
        ]
        if not samples:
            raise none_found(frames_dir, "HD1K", "frame pairs", HD1K_LAYOUT, HD1K_SOURCE)
        check_complete(samples, "HD1K", HD1K_LAYOUT, HD1K_SOURCE)
        super().__init__(samples, transform)


declare(FlowFamily("hd1k", "HD1K", names={
    "hd1k": FlowName(lambda root, training, options: [HD1K(root, **options)], "HD1K (1,047, sparse)", "the same")}))
