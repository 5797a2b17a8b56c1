"""What an NVAE config costs before it is built: parameters and activations per image, estimated
from its :class:`~zoo.models.nvae.plan.NVAEPlan`, and the bound every network is held to.

Each field of :class:`~zoo.models.nvae.config.NVAEConfig` is bounded on its own; their product
is not: a folder whose ``num_channels_enc/dec=512`` and ``image_size=64`` are each in bounds
describes a network of billions of parameters, which would fill tens of gigabytes while it is
built. :func:`check_footprint` refuses such a config in microseconds, naming the fields that
drive the size.

The estimate counts the weights of every convolution of the towers, combiners and heads (what
holds all but a few per mille of the parameters: batch norms, biases, squeeze-excitation and
flow cells are left out) and, per image, the floats of every operation's output in the towers
(what one forward keeps for the backward pass).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.plan import Cell, LatentGroupPlan, NVAEPlan

__all__ = ["MAX_ACTIVATIONS_PER_IMAGE", "MAX_PARAMETERS", "Footprint", "check_footprint", "estimate_footprint"]

#: about 4.5x the largest released model (CelebA-HQ / FFHQ 256: 331 M parameters, 1.3 GB float32)
MAX_PARAMETERS = 1_500_000_000
#: about 4x the largest released model's (CelebA-HQ / FFHQ 256: 1.28 G floats, 5.1 GB float32 per image)
MAX_ACTIVATIONS_PER_IMAGE = 5_000_000_000
_MBCONV = re.compile(r"mconv_e(\d+)k(\d+)g(\d+)")
_SIZE_FIELDS = ("image_size", "num_channels_enc", "num_channels_dec", "num_latent_scales", "num_groups_per_scale",
                "num_preprocess_blocks", "num_preprocess_cells", "num_postprocess_cells", "num_cell_per_cond_enc",
                "num_cell_per_cond_dec", "num_latent_per_group")


@dataclass(frozen=True)
class Footprint:
    """Estimated size of a network: ``parameters`` (count) and ``activations`` (floats kept per
    image by one forward pass)."""

    parameters: int
    activations: int


def _op(name: str, c_in: int, c_out: int, side_in: int, side_out: int) -> Footprint:
    """One operation of a cell: its convolution weights and the floats of its outputs."""
    match = _MBCONV.fullmatch(name)
    if match is None:  # res_bnswish, res_bnswish5, res_bnelu: BN, activation, 3x3 conv
        return Footprint(9 * c_in * c_out, c_in * side_in ** 2 + c_out * side_out ** 2)
    expansion, kernel, groups = (int(v) for v in match.groups())
    hidden = c_in * expansion
    depthwise = kernel ** 2 * hidden * (1 if groups == 0 else hidden // groups)
    return Footprint(c_in * hidden + depthwise + hidden * c_out,
                     3 * hidden * side_in ** 2 + 2 * c_out * side_out ** 2)


def _cell(cfg: NVAEConfig, cell: Cell, side_in: int) -> tuple[Footprint, int]:
    """A residual cell entered at ``side_in`` px: its footprint and the side it leaves at."""
    side_out = side_in // 2 if cell.cell_type.startswith("down") else (
        side_in * 2 if cell.cell_type.startswith("up") else side_in)
    parameters = cell.in_channels * cell.out_channels if side_out != side_in else 0  # the skip's 1x1 convs
    activations = cell.out_channels * side_out ** 2
    for i, name in enumerate(cfg.cell_ops(cell.cell_type)):
        op = _op(name, cell.in_channels if i == 0 else cell.out_channels, cell.out_channels,
                 side_in if i == 0 else side_out, side_out)
        parameters, activations = parameters + op.parameters, activations + op.activations
    return Footprint(parameters, activations), side_out


def _group(group: LatentGroupPlan) -> Footprint:
    """A latent group's heads and combiners (1x1 and 3x3 convolutions at its scale)."""
    enc, dec, latent, area = group.encoder_channels, group.decoder_channels, group.latent_channels, group.size ** 2
    parameters = 9 * enc * 2 * latent + (dec + latent) * dec
    if group.index > 0:
        parameters += dec * 2 * latent + dec * enc
    return Footprint(parameters, (4 * latent + 2 * enc + dec) * area)


def estimate_footprint(cfg: NVAEConfig, plan: NVAEPlan) -> Footprint:
    """Parameters and activations per image of the network ``cfg`` (laid out by ``plan``), from
    its plan alone (see the module docstring for what is counted)."""
    total = [0, 0]

    def add(footprint: Footprint) -> None:
        total[0] += footprint.parameters
        total[1] += footprint.activations

    side = cfg.image_size
    for cell in plan.preprocess:
        footprint, side = _cell(cfg, cell, side)
        add(footprint)
    sizes = {group.index: group.size for group in plan.groups}
    for step in (*plan.encoder, *plan.decoder):
        if isinstance(step, Cell):
            add(_cell(cfg, step, sizes[step.group])[0])
    for group in plan.groups:
        add(_group(group))
    side = plan.groups[-1].size
    for cell in plan.postprocess:
        footprint, side = _cell(cfg, cell, side)
        add(footprint)
    return Footprint(*total)


def check_footprint(cfg: NVAEConfig, plan: NVAEPlan) -> Footprint:
    """:func:`estimate_footprint`, or ``ValueError`` when it is over :data:`MAX_PARAMETERS` or
    :data:`MAX_ACTIVATIONS_PER_IMAGE`, naming the config's size fields."""
    footprint = estimate_footprint(cfg, plan)
    over = []
    if footprint.parameters > MAX_PARAMETERS:
        over.append(f"{footprint.parameters / 1e9:.2f} G parameters ({4 * footprint.parameters / 1e9:.1f} GB float32; "
                    f"the limit is {MAX_PARAMETERS / 1e9:g} G)")
    if footprint.activations > MAX_ACTIVATIONS_PER_IMAGE:
        over.append(f"{footprint.activations / 1e9:.2f} G activations per image ({4 * footprint.activations / 1e9:.1f} "
                    f"GB float32; the limit is {MAX_ACTIVATIONS_PER_IMAGE / 1e9:g} G)")
    if over:
        fields = ", ".join(f"{name}={getattr(cfg, name)}" for name in _SIZE_FIELDS)
        raise ValueError(f"NVAEConfig: this network would hold about {' and '.join(over)}, over 4x the largest "
                         f"released NVAE; its size comes from {fields}")
    return footprint
