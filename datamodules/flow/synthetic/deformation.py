"""Non-rigid scenes: layered scenes whose layers also deform smoothly (cloth, water, skin, foliage).

Each layer of a :class:`.layered.LayeredScene` gets a smooth displacement field ``g`` (2, H, W):
frame 1 shows at pixel ``x`` the layer's canvas point of ``x + g(x)``, frame 2 the canvas moved
by the layer's affine motion ``A``, so the flow ``A(x + g(x)) - x`` is exact by construction
(no field inversion). Amplitudes are log-uniform in 0.3-12 px (times ``sqrt(H W / (384 * 512))``)
over correlation lengths of 30-200 px, and at most 0.15 of the correlation length, so the warp
never folds. The affine motions are smaller than v1's: the deformation carries the motion.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from zoo.datamodules.flow.synthetic.layered import LayeredScene, MotionStatistics
from zoo.datamodules.flow.synthetic.pair import SyntheticPair
from zoo.datamodules.flow.synthetic.textures import natural_texture, smooth_noise

__all__ = ["DEFORMATION_MOTION", "render_deformation", "smooth_deformation"]

#: The layers' affine motions under the deformation (px at 384x512).
DEFORMATION_MOTION = MotionStatistics(
    background_median=2.0, background_cap=40.0, background_rotation_deg=0.5, background_log_scale_sd=0.01,
    object_median=4.0, object_log_sd=1.0, object_cap=80.0, object_rotation_deg=4.0, object_rotation_cap_deg=15.0,
    object_log_scale_sd=0.04, object_shear_sd=0.01,
)


def smooth_deformation(rng: np.random.Generator, size: tuple[int, int], scale: float, device="cpu") -> torch.Tensor:
    """A smooth random displacement field (2, H, W) px (see the module docstring)."""
    height, width = size
    length = scale * math.exp(rng.uniform(math.log(30), math.log(200)))
    amplitude = min(scale * math.exp(rng.uniform(math.log(0.3), math.log(12))), 0.15 * length)
    return amplitude * torch.stack([smooth_noise(rng, height, width, length, device) for _ in range(2)])


def render_deformation(rng: np.random.Generator, size: tuple[int, int], device="cpu") -> SyntheticPair:
    """A background and 0-4 objects, each deforming and moving; exact flow, no photometric changes."""
    scene = LayeredScene(size, DEFORMATION_MOTION, natural_texture, device)
    layers = scene.sample_layers(rng, objects=(0, 5))
    for layer in layers:
        layer.deformation = smooth_deformation(rng, size, scene.scale, device)
    image1, image2, flow, owner1, owner2 = scene.render(layers)
    return SyntheticPair(image1.clamp_(0, 1), image2.clamp_(0, 1), flow, owner1, owner2, kind="deformation")
