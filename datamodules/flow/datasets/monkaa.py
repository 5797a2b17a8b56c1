"""Monkaa (Mayer et al. CVPR 2016): the Scene Flow set of an animated film's scenes."""

from __future__ import annotations

from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare
from zoo.datamodules.flow.datasets.scene_flow import SceneFlowSequences

__all__ = ["Monkaa"]


class Monkaa(SceneFlowSequences):
    """Monkaa: 540x960 frames of 24 scenes, clean / final, ``.pfm`` flow in both directions."""

    name = "monkaa"
    title = "Monkaa"
    sequence_pattern = "*"
    layout = """\
  frames_cleanpass/a_rain_of_stones_x2/left/0000.png ...   (frames_finalpass likewise; right/ for the right camera)
  optical_flow/a_rain_of_stones_x2/into_future/left/OpticalFlowIntoFuture_0000_L.pfm ...   (N -> N + 1)
  optical_flow/a_rain_of_stones_x2/into_past/left/OpticalFlowIntoPast_0001_L.pfm ...       (N -> N - 1)"""


declare(FlowFamily("monkaa", "Monkaa", names={"monkaa": FlowName(
    lambda root, training, options: [Monkaa(root, **options) if training else
                                     Monkaa(root, **{"directions": ("future",), **options})],
    "Monkaa, clean + final, both ways", "the same, future", FlowProtocol("monkaa-train", POOLED))}))
