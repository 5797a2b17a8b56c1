"""FlyingChairs2 (Ilg et al. ECCV 2018, "Occlusions, Motion and Depth Boundaries"): both directions,
with occlusion and motion-boundary maps."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import OCCLUSION_SPLIT, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["FlyingChairs2"]


CHAIRS2_LAYOUT = """\
  train/0000000-img_0.png, 0000000-img_1.png   (val/ likewise)
  train/0000000-flow_01.flo, 0000000-flow_10.flo   (forward: img_0 -> img_1; backward: img_1 -> img_0)
  train/0000000-occ_01.png, 0000000-occ_10.png     (occlusion maps, non-zero = occluded)
  train/0000000-mb_01.png, 0000000-mb_10.png       (motion boundaries)"""
CHAIRS2_SOURCE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs2.en.html"

# direction -> (first frame, second frame, file suffix)
_DIRECTIONS = {"forward": ("0", "1", "01"), "backward": ("1", "0", "10")}


class FlyingChairs2(FlowDataset):
    """FlyingChairs2: pairs of 384x512 ``.png`` frames with ``.flo`` flow and ``.png`` occlusion maps in
    both directions (:meth:`occlusion`; ``zoo eval`` splits the EPE into occluded and non-occluded pixels).

    Args:
        root: the unpacked ``FlyingChairs2`` folder (holding ``train`` and ``val``).
        split: ``"train"`` or ``"val"``.
        directions: ``"forward"`` (``img_0`` -> ``img_1``, ``*_01`` files) and/or ``"backward"``.
    """

    name = "chairs2"

    def __init__(self, root: PathLike, split: str = "train", directions: Sequence[str] = ("forward", "backward"),
                 transform: Transform | None = None) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"FlyingChairs2 split must be 'train' or 'val', got {split!r}")
        if not directions or not set(directions) <= set(_DIRECTIONS):
            raise ValueError(f"FlyingChairs2 directions must be among 'forward', 'backward', got {directions!r}")
        folder = require(Path(root) / split, "FlyingChairs2", CHAIRS2_LAYOUT, CHAIRS2_SOURCE)
        firsts = numbered(folder.glob("*-img_0.png"), r"(\d+)-img_0\.png")
        if not firsts:
            raise none_found(folder, "FlyingChairs2", "*-img_0.png frames", CHAIRS2_LAYOUT, CHAIRS2_SOURCE)
        samples = []
        for n, path in sorted(firsts.items()):
            stem = path.name[: -len("img_0.png")]  # "0000000-"
            for direction in directions:
                first, second, suffix = _DIRECTIONS[direction]
                samples.append(FlowSample(folder / f"{stem}img_{first}.png", folder / f"{stem}img_{second}.png",
                                          folder / f"{stem}flow_{suffix}.flo", f"{split}/{direction}", n,
                                          occlusion=folder / f"{stem}occ_{suffix}.png"))
        check_complete(samples, "FlyingChairs2", CHAIRS2_LAYOUT, CHAIRS2_SOURCE)
        super().__init__(samples, transform)


declare(FlowFamily("chairs2", "FlyingChairs2", names={"chairs2": FlowName(
    lambda root, training, options: [
        FlyingChairs2(root, "train", **options) if training else
        FlyingChairs2(root, "val", **{"directions": ("forward",), **options})],
    "FlyingChairs2 train, both directions", "FlyingChairs2 val, forward",
    FlowProtocol("chairs2-val", OCCLUSION_SPLIT))}))
