"""The layout of an NVAE network, computed once from its config.

:func:`plan_nvae` states the scale x group x cell order of the official ``AutoEncoder``: every
cell of the pre-processing, encoder, decoder and post-processing towers in running order with
its channels, and every latent group with its scale, latent shape, heads and flows. Building
(``NVAE.__init__``), running (its bottom-up and top-down passes) and converting official
checkpoints (:mod:`zoo.models.nvae.convert`, where a step's position in ``encoder`` / ``decoder`` is
its official ``enc_tower`` / ``dec_tower`` index) all walk this plan; none of them repeats the
order.

Orders: latent groups and scales are numbered in decoder order, 0 being the coarsest. The
encoder visits the groups finest first (the reverse). A name such as ``"encoder_cells.3"`` is
the module's path inside ``NVAE`` and the prefix of its state-dict keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.models.nvae.config import CHANNEL_MULT, NVAEConfig

__all__ = ["Cell", "GroupPoint", "LatentGroupPlan", "NVAEPlan", "TowerStep", "plan_nvae"]


@dataclass(frozen=True)
class Cell:
    """A residual cell of a tower: ``state = cell(state)``.

    Attributes:
        name: the module's path in ``NVAE`` (``"preprocess.0"``, ``"encoder_downsamples.1"``).
        cell_type: ``normal_pre``, ``down_pre``, ``normal_enc``, ``down_enc``, ``normal_dec``,
            ``up_dec``, ``up_post`` or ``normal_post``: ``down`` cells halve the resolution and
            double the channels, ``up`` cells the reverse.
        in_channels: channels of the state entering the cell.
        out_channels: channels of the state leaving it.
        group: the latent group (decoder order) whose part of the tower holds the cell; -1 for
            the pre- and post-processing cells.
    """

    name: str
    cell_type: str
    in_channels: int
    out_channels: int
    group: int = -1


@dataclass(frozen=True)
class GroupPoint:
    """Where latent group ``group`` meets a tower.

    In the encoder the state here is the group's feature, which its ``encoder_combiner``
    (``name``) later adds to the decoder state; in the decoder its ``decoder_combiner``
    (``name``) merges the group's latent into the state. The encoder has no point for group 0:
    the tower's last state feeds ``encoder_top``.
    """

    name: str
    group: int


TowerStep = Cell | GroupPoint


@dataclass(frozen=True)
class LatentGroupPlan:
    """One latent group.

    Attributes:
        index: position in decoder order (0: the coarsest group, whose prior is fixed).
        scale: decoder-order scale (0: coarsest).
        size: height = width of the latent and of the tower states at this scale, pixels.
        encoder_channels: channels of the encoder feature at this scale.
        decoder_channels: channels of the decoder state at this scale.
        latent_channels: channels of the latent ``C_z``.
        posterior_head: conv giving q's raw ``(mu, log_sigma)`` from the (combined) feature.
        prior_head: conv giving p's raw parameters from the decoder state; None for group 0.
        encoder_combiner: adds the decoder state to the group's encoder feature; None for
            group 0 (its posterior sees the top feature alone).
        decoder_combiner: merges the group's latent into the decoder state.
        flows: the flow stages applied to the posterior sample, in order.
    """

    index: int
    scale: int
    size: int
    encoder_channels: int
    decoder_channels: int
    latent_channels: int
    posterior_head: str
    prior_head: str | None
    encoder_combiner: str | None
    decoder_combiner: str
    flows: tuple[str, ...]

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """``(C_z, h, w)`` of the group's latent."""
        return (self.latent_channels, self.size, self.size)


@dataclass(frozen=True)
class NVAEPlan:
    """Every module of an NVAE tower in running order, and the latent groups.

    Attributes:
        preprocess: cells between the stem and the encoder tower (official ``pre_process``).
        encoder: the encoder tower, finest scale first (official ``enc_tower``).
        decoder: the decoder tower, coarsest scale first (official ``dec_tower``).
        postprocess: cells between the decoder tower and the output conv (``post_process``).
        groups: the latent groups in decoder order.
    """

    preprocess: tuple[Cell, ...]
    encoder: tuple[TowerStep, ...]
    decoder: tuple[TowerStep, ...]
    postprocess: tuple[Cell, ...]
    groups: tuple[LatentGroupPlan, ...]

    @property
    def top(self) -> LatentGroupPlan:
        """Group 0: its scale holds ``encoder_top`` and the learned ``prior_feature``."""
        return self.groups[0]


def _scaled(channels: int, cell_type: str) -> int:
    """Channels after a cell of ``cell_type`` entered with ``channels``."""
    if cell_type.startswith("down"):
        return channels * CHANNEL_MULT
    if cell_type.startswith("up"):
        return channels // CHANNEL_MULT
    return channels


def _cell(name: str, cell_type: str, channels: int, group: int = -1) -> Cell:
    return Cell(name, cell_type, channels, _scaled(channels, cell_type), group)


def _processing_cells(list_name: str, blocks: int, cells: int, channels: int,
                      resampling: str) -> tuple[Cell, ...]:
    """``blocks`` blocks of ``cells`` cells entered with ``channels``. The ``resampling`` cell
    (``down_pre`` or ``up_post``) ends each pre-processing block and starts each post-processing
    block; the others are ``normal_pre`` / ``normal_post``."""
    down, stage = resampling.startswith("down"), resampling.split("_")[1]
    steps = []
    for _ in range(blocks):
        for c in range(cells):
            resamples = c == (cells - 1 if down else 0)
            steps.append(_cell(f"{list_name}.{len(steps)}",
                               resampling if resamples else f"normal_{stage}", channels))
            channels = steps[-1].out_channels
    return tuple(steps)


def _latent_groups(cfg: NVAEConfig) -> tuple[LatentGroupPlan, ...]:
    """The groups in decoder order with the channels and size of their scale."""
    counts = cfg.groups_per_scale[::-1]                        # decoder order: coarsest first
    coarsest = cfg.image_size // cfg.downsampling
    groups = []
    for scale, count in enumerate(counts):
        mult = CHANNEL_MULT ** (cfg.num_preprocess_blocks + len(counts) - 1 - scale)
        for _ in range(count):
            g = len(groups)
            groups.append(LatentGroupPlan(
                index=g, scale=scale, size=coarsest * 2 ** scale,
                encoder_channels=cfg.num_channels_enc * mult,
                decoder_channels=cfg.num_channels_dec * mult,
                latent_channels=cfg.num_latent_per_group, posterior_head=f"posterior_heads.{g}",
                prior_head=f"prior_heads.{g - 1}" if g else None,
                encoder_combiner=f"encoder_combiners.{g - 1}" if g else None,
                decoder_combiner=f"decoder_combiners.{g}",
                flows=tuple(f"flows.{g * cfg.num_nf + k}" for k in range(cfg.num_nf))))
    return tuple(groups)


def _encoder_tower(cfg: NVAEConfig, groups: tuple[LatentGroupPlan, ...]) -> tuple[TowerStep, ...]:
    """Finest group first: its cells, the point keeping its feature, and after the coarsest
    group of a scale (unless the top scale) the down-sampling cell."""
    steps: list[TowerStep] = []
    cells = downsamples = 0
    for group in reversed(groups):
        for _ in range(cfg.num_cell_per_cond_enc):
            steps.append(_cell(f"encoder_cells.{cells}", "normal_enc", group.encoder_channels,
                               group.index))
            cells += 1
        if group.index > 0:
            steps.append(GroupPoint(group.encoder_combiner, group.index))
        if group.scale > 0 and groups[group.index - 1].scale != group.scale:
            steps.append(_cell(f"encoder_downsamples.{downsamples}", "down_enc",
                               group.encoder_channels, group.index))
            downsamples += 1
    return tuple(steps)


def _decoder_tower(cfg: NVAEConfig, groups: tuple[LatentGroupPlan, ...]) -> tuple[TowerStep, ...]:
    """Coarsest group first: its cells (none for group 0), the point merging its latent, and
    after the finest group of a scale (unless the last scale) the up-sampling cell."""
    steps: list[TowerStep] = []
    cells = 0
    for group in groups:
        if group.index > 0:
            for _ in range(cfg.num_cell_per_cond_dec):
                steps.append(_cell(f"decoder_cells.{cells}", "normal_dec",
                                   group.decoder_channels, group.index))
                cells += 1
        steps.append(GroupPoint(group.decoder_combiner, group.index))
        last = group.index + 1 == len(groups)
        if not last and groups[group.index + 1].scale != group.scale:
            steps.append(_cell(f"decoder_upsamples.{group.scale}", "up_dec",
                               group.decoder_channels, group.index))
    return tuple(steps)


def plan_nvae(cfg: NVAEConfig) -> NVAEPlan:
    """The plan of the network ``cfg`` describes (the official ``AutoEncoder``'s layout)."""
    groups = _latent_groups(cfg)
    preprocess = _processing_cells("preprocess", cfg.num_preprocess_blocks,
                                   cfg.num_preprocess_cells, cfg.num_channels_enc, "down_pre")
    postprocess = _processing_cells("postprocess", cfg.num_postprocess_blocks,
                                    cfg.num_postprocess_cells, groups[-1].decoder_channels,
                                    "up_post")
    return NVAEPlan(preprocess=preprocess, encoder=_encoder_tower(cfg, groups),
                    decoder=_decoder_tower(cfg, groups), postprocess=postprocess, groups=groups)
