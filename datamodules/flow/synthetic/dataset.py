"""``SyntheticFlow``: procedurally rendered image pairs with exact optical flow, no download.

A *recipe* names a mix of scene kinds (``scenes`` overrides its weights):

============= ======================================================================= =========
kind          what (module)                                                           v2 weight
============= ======================================================================= =========
layered-v1    today's v1 generator bit for bit: layered affine scenes (``layered``)    (v1 only)
layered       v1's layered scenes with natural-statistics textures (``layered``)       0.25
subpixel      layered scenes on fine texture moving 0.1-2 px (``layered``)            0.20
deformation   layered scenes whose layers also deform non-rigidly (``deformation``)    0.20
driving       a camera driving over a ground plane among buildings, cars, poles       0.35
              (``driving``): KITTI-like flow up to ~250 px at 375x1242
============= ======================================================================= =========

``recipe="v1"`` is ``{"layered-v1": 1}`` and reproduces the pairs the shipped ``pwcnet.synth``
weights were trained and measured on, bit for bit on the CPU. ``recipe="v2"`` (the default) adds
a camera model on top of every v2 kind (:func:`.degradation.camera_effects`: motion blur along
the motion, lighting / exposure / white-balance / gamma changes, vignetting, defocus, sensor
noise, 8-bit quantisation) when ``photometric`` is on. Motion statistics and throughput of both
recipes: ``python -m benchmarks.synthetic_flow``.

Every pair is a pure function of ``(seed, index)``, bit for bit whatever torch's thread count:
the kind is drawn from ``default_rng([seed, index, 1])``, the scene from ``default_rng([seed,
index])`` (the v1 stream), the camera from ``default_rng([seed, index, 2])``. All random numbers
come from numpy on the CPU, so ``device="cuda"`` renders the same scene (pixels equal up to float
rounding); with a GPU device use ``num_workers=0`` (CUDA does not fork into loader workers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.datamodules.flow.synthetic.deformation import render_deformation
from zoo.datamodules.flow.synthetic.degradation import camera_effects
from zoo.datamodules.flow.synthetic.driving import render_driving
from zoo.datamodules.flow.synthetic.layered import SUBPIXEL_MOTION, MotionStatistics, render_layered, render_layered_v1
from zoo.datamodules.flow.synthetic.pair import SyntheticPair
from zoo.datamodules.flow.synthetic.textures import natural_texture

__all__ = ["RECIPES", "SCENE_KINDS", "SyntheticFlow"]

#: Texture families of the sub-pixel scenes: mostly fine, high-contrast structure.
_FINE_TEXTURES = {"fine": 0.5, "fractal": 0.3, "cellular": 0.2}

#: Recipe name -> scene kind -> weight.
RECIPES: dict[str, dict[str, float]] = {
    "v1": {"layered-v1": 1.0},
    "v2": {"driving": 0.35, "layered": 0.25, "deformation": 0.2, "subpixel": 0.2},
}
SCENE_KINDS = ("layered-v1", "layered", "subpixel", "deformation", "driving")


class SyntheticFlow(Dataset):
    """Procedural optical-flow pairs (see the module docstring).

    Args:
        size: (H, W) of the images.
        length: number of pairs (indices ``0 .. length - 1``).
        seed: pairs are a pure function of ``(seed, index)``; use different seeds for training
            and validation.
        photometric: photometric and camera effects (v1: brightness changes, blur and noise;
            v2: :func:`.degradation.camera_effects`); off, frame 2 is exactly frame 1's scene moved.
        motion: the layers' motion statistics of the ``layered-v1`` and ``layered`` kinds.
        transform: applied to each item dict (e.g. :class:`zoo.datamodules.flow.augment.FlowAugmentation`).
        recipe: ``"v2"`` (default) or ``"v1"`` (today's pairs, bit for bit); see :data:`RECIPES`.
        scenes: scene kind -> weight, replacing the recipe's mix (kinds: :data:`SCENE_KINDS`).
        device: where pixels are rendered (``"cpu"``, ``"cuda"``); items live there.

    Items are dicts: ``image1``, ``image2`` float32 (3, H, W) in [0, 1], ``flow`` float32
    (2, H, W) px (forward, exact for every frame-1 pixel), ``valid`` bool (H, W) (False only where
    a point left through the camera plane) and ``meta``.
    """

    name = "synthetic"
    sparse = False

    def __init__(
        self,
        size: tuple[int, int] = (384, 512),
        length: int = 22232,
        seed: int = 0,
        photometric: bool = True,
        motion: MotionStatistics = MotionStatistics(),
        transform: Callable[[dict], dict] | None = None,
        recipe: str = "v2",
        scenes: Mapping[str, float] | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        height, width = (int(s) for s in size)
        if height < 8 or width < 8:
            raise ValueError(f"SyntheticFlow size must be at least 8x8 pixels, got {size}")
        if length < 1:
            raise ValueError(f"SyntheticFlow length must be positive, got {length}")
        if recipe not in RECIPES:
            raise ValueError(f"SyntheticFlow recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
        weights = dict(RECIPES[recipe] if scenes is None else scenes)
        unknown = set(weights) - set(SCENE_KINDS)
        if unknown or not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
            raise ValueError(f"SyntheticFlow scenes must map kinds of {SCENE_KINDS} to non-negative weights "
                             f"with a positive sum, got {weights}")
        self.size = (height, width)
        self.length = int(length)
        self.seed = int(seed)
        self.photometric = photometric
        self.motion = motion
        self.transform = transform
        self.recipe = recipe
        self.scenes = {kind: float(w) for kind, w in weights.items() if w > 0}
        self.device = torch.device(device)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        pair = self.render(index)
        item = {
            "image1": pair.image1,
            "image2": pair.image2,
            "flow": pair.flow,
            "valid": pair.valid if pair.valid is not None else torch.ones(self.size, dtype=torch.bool, device=self.device),
            "meta": {"dataset": self.name, "sequence": f"seed{self.seed}", "frame": int(index), "paths": ("", "", "")},
        }
        return self.transform(item) if self.transform is not None else item

    def kind(self, index: int) -> str:
        """The scene kind of pair ``index``."""
        kinds = list(self.scenes)
        if len(kinds) == 1:
            return kinds[0]
        weights = np.array([self.scenes[k] for k in kinds])
        return kinds[np.random.default_rng([self.seed, int(index), 1]).choice(len(kinds), p=weights / weights.sum())]

    def render(self, index: int) -> SyntheticPair:
        """Render pair ``index`` with its per-pixel owners (see :class:`.pair.SyntheticPair`)."""
        if not 0 <= index < self.length:
            raise IndexError(f"SyntheticFlow index {index} out of range [0, {self.length})")
        kind = self.kind(index)
        rng = np.random.default_rng([self.seed, int(index)])
        if kind == "layered-v1":
            return render_layered_v1(rng, self.size, self.motion, self.photometric, self.device)
        pair = self._renderers()[kind](rng, self.size, self.device)
        if self.photometric:
            pair = camera_effects(np.random.default_rng([self.seed, int(index), 2]), pair)
        return pair

    def _renderers(self) -> dict[str, Callable[..., SyntheticPair]]:
        return {
            "layered": partial(render_layered, motion=self.motion),
            "subpixel": partial(render_layered, motion=SUBPIXEL_MOTION,
                                texture=partial(natural_texture, families=_FINE_TEXTURES), kind="subpixel"),
            "deformation": render_deformation,
            "driving": render_driving,
        }
