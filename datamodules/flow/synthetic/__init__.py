"""Procedural optical-flow pairs with exact ground truth (:class:`SyntheticFlow`).

One concept per module: :mod:`.textures` (procedural textures), :mod:`.shapes` (object
silhouettes), :mod:`.layered` (layered affine scenes, the v1 generator), :mod:`.deformation`
(non-rigid layers), :mod:`.planar_world` (ray-cast textured quads, exact 3-D flow),
:mod:`.driving` (KITTI-like driving scenes), :mod:`.degradation` (camera and photometric
effects), :mod:`.dataset` (the recipes and the torch Dataset).
"""

from zoo.datamodules.flow.synthetic.dataset import RECIPES, SCENE_KINDS, SyntheticFlow
from zoo.datamodules.flow.synthetic.layered import MotionStatistics
from zoo.datamodules.flow.synthetic.pair import SyntheticPair

__all__ = ["RECIPES", "SCENE_KINDS", "MotionStatistics", "SyntheticFlow", "SyntheticPair"]
