"""What each published PWC-Net source does around the network, from frames to flow.

All published weights run the same network; the scripts they were published with differ in a
few small steps, and weights give their published accuracy only through their own script's
steps. A :class:`Pipeline` names those steps; :class:`zoo.models.pwcnet.network.PWCNet` takes one by
name (``pipeline=``) and runs it in ``forward``:

1. frames with a side under 64 px: stretched like every other size (sniklaus' run.py), or
   padded by edge replication (our convention for the NVlabs files, whose script stretches, and
   for ptlflow's, whose correlation returns NaN on the 1-pixel level 6 of a stretched frame);
2. resize of the frames to the next multiples of 64: bilinear, ``align_corners`` per source;
3. the warp's mask rule inside the network (:class:`zoo.models.pwcnet.warp.MaskRule`);
4. flow 2 (1/4 of the network's input size, in 1/20 px) to the frames' size: either one
   bilinear resize (NVlabs, sniklaus) or ptlflow's x4 upsampling (bilinear,
   ``align_corners=True``) followed by a bilinear resize to H x W; u is scaled by W / W64 and v
   by H / H64 either way.

The colour order the first convolution expects belongs to the weights, not to the script:
``PWCNet(channel_order=...)``.

======================  =================  ==========================  ===========  ============
pipeline                frames under 64    resize to x64 (align)       mask         flow to H x W
======================  =================  ==========================  ===========  ============
``nvlabs``              padded             bilinear (False)            >= 0.9999    one resize (False)
``sniklaus``            stretched          bilinear (False)            > 0.999      one resize (False)
``ptlflow``             padded             bilinear (True)             >= 0.9999    x4 (True), resize (True)
``ptlflow-nodc``        padded             bilinear (False)            >= 0.9999    x4 (True), resize (False)
======================  =================  ==========================  ===========  ============

Sources: NVlabs/PWC-Net ``PyTorch/script_pwc.py`` (its cv2 resize of 8-bit frames is replaced by
the float resize its own network was checked with; see ``README.md``), sniklaus/pytorch-pwc
``run.py`` (``estimate`` and ``backwarp``), ptlflow 0.4.2 ``ptlflow/models/pwcnet/pwcnet.py``
(``pwcnet`` = the context model, ``pwcnet_nodc`` = without it) with its ``InputScaler``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zoo.models.flow_inference import resize_flow
from zoo.models.pwcnet.warp import NVLABS_MASK, SNIKLAUS_MASK, MaskRule

__all__ = ["PIPELINES", "STRIDE", "Pipeline", "pipeline_named"]

#: Image sides must be multiples of this for the raw network (the pyramid's stride).
STRIDE = 64
#: ptlflow's ``upsample1``: flow 2 is at a quarter of the network's input resolution.
_FLOW2_SCALE = 4


@dataclass(frozen=True)
class Pipeline:
    """The steps one source runs around the network (see the module docstring's table).

    Attributes:
        name: the key in :data:`PIPELINES`, as weight configs name it.
        pad_small_frames: pad sides under 64 px to 64 by edge replication (the flow is cropped
            back) instead of stretching them.
        input_align_corners: ``align_corners`` of the bilinear resize of the frames to x64.
        upsample_flow2: bring flow 2 to the network's input size first (x4, bilinear,
            ``align_corners=True``), as ptlflow does, before the resize to the frames' size.
        output_align_corners: ``align_corners`` of the final bilinear resize to H x W.
        warp_mask: the warp's rule for samples near the border.
    """

    name: str
    pad_small_frames: bool
    input_align_corners: bool
    upsample_flow2: bool
    output_align_corners: bool
    warp_mask: MaskRule = NVLABS_MASK

    @staticmethod
    def network_size(height: int, width: int) -> tuple[int, int]:
        """(H64, W64): the next multiples of :data:`STRIDE` at or above (height, width)."""
        return tuple(math.ceil(side / STRIDE) * STRIDE for side in (height, width))

    def resize_frames(self, images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(B, 3, H, W) frames -> (B, 3, *size), bilinear; unchanged at their own size."""
        if tuple(images.shape[-2:]) == tuple(size):
            return images
        return F.interpolate(images, size=size, mode="bilinear", align_corners=self.input_align_corners)

    def flow_to_frames(self, flow2: torch.Tensor, network_size: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
        """Flow 2 in pixels of the network's input, (B, 2, H64/4, W64/4) -> (B, 2, H, W) in pixels of the frames."""
        if self.upsample_flow2:
            flow2 = F.interpolate(flow2, size=network_size, mode="bilinear", align_corners=True)
        return resize_flow(flow2, size, units=network_size, align_corners=self.output_align_corners)


PIPELINES: dict[str, Pipeline] = {p.name: p for p in (
    Pipeline("nvlabs", pad_small_frames=True, input_align_corners=False, upsample_flow2=False,
             output_align_corners=False),
    Pipeline("sniklaus", pad_small_frames=False, input_align_corners=False, upsample_flow2=False,
             output_align_corners=False, warp_mask=SNIKLAUS_MASK),
    Pipeline("ptlflow", pad_small_frames=True, input_align_corners=True, upsample_flow2=True,
             output_align_corners=True),
    Pipeline("ptlflow-nodc", pad_small_frames=True, input_align_corners=False, upsample_flow2=True,
             output_align_corners=False),
)}


def pipeline_named(name: str) -> Pipeline:
    """The pipeline ``name`` (a key of :data:`PIPELINES`)."""
    if not isinstance(name, str) or name not in PIPELINES:
        raise ValueError(f"pipeline must be one of {', '.join(map(repr, PIPELINES))}, got {name!r}")
    return PIPELINES[name]
