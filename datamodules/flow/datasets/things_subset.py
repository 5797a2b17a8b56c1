"""The FlyingThings3D "DispNet/FlowNet2.0 dataset subsets" (Mayer et al. 2016; Ilg et al. 2017):
``.flo`` flow in both directions with occlusion maps."""

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
from zoo.datamodules.flow.datasets.declaration import (
    OCCLUSION_SPLIT,
    Builder,
    FlowFamily,
    FlowName,
    FlowProtocol,
    declare,
)

__all__ = ["FlyingThings3DSubset"]


SUBSET_LAYOUT = """\
  train/image_clean/left/0000000.png ...   (image_final likewise; val/ likewise; right/ for the right camera)
  train/flow/left/into_future/0000000.flo ...   (frame N -> N + 1)
  train/flow/left/into_past/0000001.flo ...     (frame N -> N - 1)
  train/flow_occlusions/left/into_future/0000000.png ...   (non-zero = occluded; into_past likewise)"""
SUBSET_SOURCE = ("https://lmb.informatik.uni-freiburg.de/resources/datasets/SceneFlowDatasets.en.html "
                 "(DispNet/FlowNet2.0 dataset subsets)")

# direction -> (flow folder, step from frame 1 to frame 2)
_DIRECTIONS = {"future": ("into_future", 1), "past": ("into_past", -1)}


class FlyingThings3DSubset(FlowDataset):
    """The FlyingThings3D subset: 540x960 ``.png`` frames, ``.flo`` flow and ``.png`` occlusion maps
    (:meth:`occlusion`), numbered across sequences; a flow file whose second frame is not in the
    folder (a sequence's end) is an error, not skipped.

    Args:
        root: the unpacked subset (holding ``train`` and ``val``).
        split: ``"train"`` or ``"val"``.
        passes: from ``"clean"`` and ``"final"``.
        directions: ``"future"`` (frame N -> N + 1) and/or ``"past"`` (N -> N - 1).
        cameras: from ``"left"`` and ``"right"``.
    """

    name = "things-subset"

    def __init__(self, root: PathLike, split: str = "train", passes: Sequence[str] = ("clean", "final"),
                 directions: Sequence[str] = ("future", "past"), cameras: Sequence[str] = ("left",),
                 transform: Transform | None = None) -> None:
        for what, given, allowed in (("split", (split,), ("train", "val")), ("passes", passes, ("clean", "final")),
                                     ("directions", directions, tuple(_DIRECTIONS)), ("cameras", cameras, ("left", "right"))):
            if not given or not set(given) <= set(allowed):
                raise ValueError(f"FlyingThings3DSubset {what} must be among {allowed}, got {given!r}")
        base = require(Path(root) / split, "FlyingThings3D subset", SUBSET_LAYOUT, SUBSET_SOURCE)
        samples = []
        for pass_ in passes:
            for camera in cameras:
                frames = base / f"image_{pass_}" / camera
                for direction in directions:
                    folder, step = _DIRECTIONS[direction]
                    flow_dir = require(base / "flow" / camera / folder, "FlyingThings3D subset", SUBSET_LAYOUT,
                                       SUBSET_SOURCE)
                    flows = numbered(flow_dir.glob("*.flo"), r"(\d+)\.flo")
                    if not flows:
                        raise none_found(flow_dir, "FlyingThings3D subset", "*.flo files", SUBSET_LAYOUT, SUBSET_SOURCE)
                    occlusions = base / "flow_occlusions" / camera / folder
                    samples += [FlowSample(frames / f"{n:07d}.png", frames / f"{n + step:07d}.png", flow,
                                           f"{pass_}/{camera}/{direction}", n, occlusion=occlusions / f"{n:07d}.png")
                                for n, flow in sorted(flows.items())]
        check_complete(samples, "FlyingThings3D subset", SUBSET_LAYOUT, SUBSET_SOURCE)
        super().__init__(samples, transform)


def _subset(passes: tuple[str, ...]) -> Builder:
    def build(root: Path, training: bool, options: dict) -> list[FlyingThings3DSubset]:
        if training:
            return [FlyingThings3DSubset(root, "train", passes, **options)]
        return [FlyingThings3DSubset(root, "val", passes, **{"directions": ("future",), **options})]

    return build


declare(FlowFamily("things-subset", "FlyingThings3D_subset", names={
    "things-subset": FlowName(_subset(("clean", "final")), "FlyingThings3D subset train, clean + final, both ways",
                              "subset val, clean + final, future", FlowProtocol("things-subset-val", OCCLUSION_SPLIT)),
    "things-subset-clean": FlowName(_subset(("clean",)), "FlyingThings3D subset train, clean pass, both ways",
                                    "subset val, clean pass, future",
                                    FlowProtocol("things-subset-clean-val", OCCLUSION_SPLIT)),
    "things-subset-final": FlowName(_subset(("final",)), "FlyingThings3D subset train, final pass, both ways",
                                    "subset val, final pass, future",
                                    FlowProtocol("things-subset-final-val", OCCLUSION_SPLIT)),
}))
