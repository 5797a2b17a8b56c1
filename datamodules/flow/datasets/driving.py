"""Driving (Mayer et al. CVPR 2016): the Scene Flow set of a car driving through a street scene."""

from __future__ import annotations

from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare
from zoo.datamodules.flow.datasets.scene_flow import SceneFlowSequences

__all__ = ["Driving"]


class Driving(SceneFlowSequences):
    """Driving: 540x960 frames for 15 mm / 35 mm focal lengths, scene forwards / backwards, fast / slow,
    clean / final, ``.pfm`` flow in both directions."""

    name = "driving"
    title = "Driving"
    sequence_pattern = "*/*/*"
    layout = """\
  frames_cleanpass/15mm_focallength/scene_forwards/fast/left/0001.png ...   (35mm_focallength, scene_backwards, slow;
                                                                              frames_finalpass likewise)
  optical_flow/15mm_focallength/scene_forwards/fast/into_future/left/OpticalFlowIntoFuture_0001_L.pfm ...
  optical_flow/15mm_focallength/scene_forwards/fast/into_past/left/OpticalFlowIntoPast_0002_L.pfm ..."""


declare(FlowFamily("driving", "Driving", names={"driving": FlowName(
    lambda root, training, options: [Driving(root, **options) if training else
                                     Driving(root, **{"directions": ("future",), **options})],
    "Driving, clean + final, both ways", "the same, future", FlowProtocol("driving-train", POOLED))}))
