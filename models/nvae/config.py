"""NVAE hyper-parameters: a typed config, the official cell recipes and the released presets.

The field names follow the official ``train.py`` flags (``num_channels_enc``, ``num_nf``, ...)
so a README command line maps onto the config one to one. Three fields replace what the official
code derives from ``--dataset``: ``image_size``, ``image_channels``, ``decoder_distribution`` and
``crop_border`` (MNIST is zero-padded from 28 to 32 pixels and its likelihood is summed over the
central 28 x 28 crop only).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ARCH_INSTANCES",
    "CHANNEL_MULT",
    "PRESETS",
    "READJUST_BATCHES",
    "READJUST_BATCH_SIZE",
    "NVAEConfig",
    "groups_per_scale",
    "preset",
]

#: the official evaluation's sampling batch, and enough equal-weight batches of it to match the
#: precision of its 500-batch moving average (see :meth:`zoo.models.nvae.network.NVAE.readjust_bn`)
READJUST_BATCH_SIZE = 36
READJUST_BATCHES = 40


CHANNEL_MULT = 2
"""Channel factor of every down (x2) and up (/2) cell."""

DECODER_DISTRIBUTIONS = ("bernoulli", "logistic_mixture", "normal")
_KIND_NAMES = {int: "an integer", bool: "true or false", str: "a string"}
#: Largest value accepted for each size field: about 4x the largest released model's, so that a
#: config read from a hostile file cannot make the network take tens of gigabytes while it is built.
UPPER_BOUNDS: Mapping[str, int] = {
    "image_size": 1024, "num_channels_enc": 512, "num_channels_dec": 512, "num_latent_scales": 8,
    "num_groups_per_scale": 64, "num_latent_per_group": 128, "num_preprocess_blocks": 6,
    "num_preprocess_cells": 8, "num_postprocess_blocks": 6, "num_postprocess_cells": 8,
    "num_cell_per_cond_enc": 8, "num_cell_per_cond_dec": 8, "min_groups_per_scale": 64, "num_x_bits": 16,
    "num_nf": 8, "num_mixture_dec": 64,
}

# The operations of each cell type, per architecture instance (official ``get_arch_cells``).
# ``res_bnswish``: BN-Swish-conv3x3; ``res_bnswish5``: the same with dilation 2;
# ``res_bnelu``: BN-ELU-conv3x3; ``mconv_e{E}k{K}g{G}``: inverted residual with expansion E,
# depthwise kernel K and G groups (0 = depthwise).
_RES = ["res_bnswish", "res_bnswish"]
ARCH_INSTANCES: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    name: {cell: tuple(ops) for cell, ops in cells.items()}
    for name, cells in {
        "res_bnelu": {c: ["res_bnelu", "res_bnelu"] for c in (
            "normal_enc", "down_enc", "normal_dec", "up_dec",
            "normal_pre", "down_pre", "normal_post", "up_post")},
        "res_bnswish": {c: _RES for c in (
            "normal_enc", "down_enc", "normal_dec", "up_dec",
            "normal_pre", "down_pre", "normal_post", "up_post")},
        "mbconv_sep": {"normal_enc": ["mconv_e6k5g0"], "down_enc": ["mconv_e6k5g0"],
                       "normal_dec": ["mconv_e6k5g0"], "up_dec": ["mconv_e6k5g0"],
                       "normal_pre": ["mconv_e3k5g0"], "down_pre": ["mconv_e3k5g0"],
                       "normal_post": ["mconv_e3k5g0"], "up_post": ["mconv_e3k5g0"]},
        "mbconv_sep11": {"normal_enc": ["mconv_e6k11g0"], "down_enc": ["mconv_e6k11g0"],
                         "normal_dec": ["mconv_e6k11g0"], "up_dec": ["mconv_e6k11g0"],
                         "normal_pre": ["mconv_e3k5g0"], "down_pre": ["mconv_e3k5g0"],
                         "normal_post": ["mconv_e3k5g0"], "up_post": ["mconv_e3k5g0"]},
        "res_mbconv": {"normal_enc": _RES, "down_enc": _RES,
                       "normal_dec": ["mconv_e6k5g0"], "up_dec": ["mconv_e6k5g0"],
                       "normal_pre": _RES, "down_pre": _RES,
                       "normal_post": ["mconv_e3k5g0"], "up_post": ["mconv_e3k5g0"]},
        "res53_mbconv": {"normal_enc": ["res_bnswish5", "res_bnswish"],
                         "down_enc": ["res_bnswish5", "res_bnswish"],
                         "normal_dec": ["mconv_e6k5g0"], "up_dec": ["mconv_e6k5g0"],
                         "normal_pre": ["res_bnswish5", "res_bnswish"],
                         "down_pre": ["res_bnswish5", "res_bnswish"],
                         "normal_post": ["mconv_e3k5g0"], "up_post": ["mconv_e3k5g0"]},
        "res35_mbconv": {"normal_enc": ["res_bnswish", "res_bnswish5"],
                         "down_enc": ["res_bnswish", "res_bnswish5"],
                         "normal_dec": ["mconv_e6k5g0"], "up_dec": ["mconv_e6k5g0"],
                         "normal_pre": ["res_bnswish", "res_bnswish5"],
                         "down_pre": ["res_bnswish", "res_bnswish5"],
                         "normal_post": ["mconv_e3k5g0"], "up_post": ["mconv_e3k5g0"]},
        "res55_mbconv": {"normal_enc": ["res_bnswish5"] * 2, "down_enc": ["res_bnswish5"] * 2,
                         "normal_dec": ["mconv_e6k5g0"], "up_dec": ["mconv_e6k5g0"],
                         "normal_pre": ["res_bnswish5"] * 2, "down_pre": ["res_bnswish5"] * 2,
                         "normal_post": ["mconv_e3k5g0"], "up_post": ["mconv_e3k5g0"]},
        "mbconv_res": {"normal_enc": ["mconv_e6k5g0"], "down_enc": ["mconv_e6k5g0"],
                       "normal_dec": _RES, "up_dec": _RES,
                       "normal_pre": ["mconv_e3k5g0"], "down_pre": ["mconv_e3k5g0"],
                       "normal_post": _RES, "up_post": _RES},
        "mbconv_den": {"normal_enc": ["mconv_e6k5g0"], "down_enc": ["mconv_e6k5g0"],
                       "normal_dec": ["mconv_e6k5g0"], "up_dec": ["mconv_e6k5g0"],
                       "normal_pre": ["mconv_e3k5g8"], "down_pre": ["mconv_e3k5g8"],
                       "normal_post": ["mconv_e3k5g8"], "up_post": ["mconv_e3k5g8"]},
    }.items()
}


def groups_per_scale(num_scales: int, num_groups: int, adaptive: bool, minimum: int = 1) -> list[int]:
    """Latent groups per scale in encoder order (finest scale first).

    With ``adaptive`` the count halves at every coarser scale, never below ``minimum``.
    """
    counts, n = [], num_groups
    for _ in range(num_scales):
        counts.append(n)
        if adaptive:
            n = max(minimum, n // 2)
    return counts


@dataclass(frozen=True)
class NVAEConfig:
    """Every hyper-parameter that shapes the NVAE network (official flag names).

    Attributes:
        image_size: input height = width in pixels (a multiple of the total down-sampling).
        image_channels: 1 (binary MNIST) or 3 (RGB).
        decoder_distribution: ``bernoulli`` (1 logit per pixel), ``logistic_mixture``
            (discretised mixture of ``num_mixture_dec`` logistics, 10 channels per component) or
            ``normal`` (a Gaussian per sub-pixel on [-1, 1]).
        crop_border: pixels ignored on each side when summing the reconstruction likelihood.
        num_x_bits: bits per sub-pixel of the data (the mixture's bin width is 2 / (2^bits - 1)).
        arch_instance: the cell recipe, a key of :data:`ARCH_INSTANCES`.
    """

    image_size: int = 32
    image_channels: int = 3
    decoder_distribution: str = "logistic_mixture"
    crop_border: int = 0
    num_x_bits: int = 8
    num_mixture_dec: int = 10
    arch_instance: str = "res_mbconv"
    num_channels_enc: int = 32
    num_channels_dec: int = 32
    num_latent_scales: int = 1
    num_groups_per_scale: int = 10
    ada_groups: bool = False
    min_groups_per_scale: int = 1
    num_latent_per_group: int = 20
    num_preprocess_blocks: int = 2
    num_preprocess_cells: int = 3
    num_postprocess_blocks: int = 2
    num_postprocess_cells: int = 3
    num_cell_per_cond_enc: int = 1
    num_cell_per_cond_dec: int = 1
    use_se: bool = False
    res_dist: bool = False
    num_nf: int = 0

    def __post_init__(self) -> None:
        def fail(message: str) -> None:
            raise ValueError(f"NVAEConfig: {message}")

        for spec in fields(self):  # a config read from JSON may hold "32" or "false" in any field
            value, kind = getattr(self, spec.name), type(spec.default)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                fail(f"{spec.name} must be {_KIND_NAMES[kind]}, got {value!r}")
        if self.arch_instance not in ARCH_INSTANCES:
            fail(f"arch_instance {self.arch_instance!r} is not one of {sorted(ARCH_INSTANCES)}")
        if self.decoder_distribution not in DECODER_DISTRIBUTIONS:
            fail(f"decoder_distribution {self.decoder_distribution!r} is not one of {DECODER_DISTRIBUTIONS}")
        if self.image_channels not in (1, 3):
            fail(f"image_channels must be 1 or 3, got {self.image_channels}")
        if self.decoder_distribution == "bernoulli" and self.image_channels != 1:
            fail("the Bernoulli decoder models one binary channel (image_channels=1)")
        if self.decoder_distribution != "bernoulli" and self.image_channels != 3:
            fail(f"the {self.decoder_distribution} decoder models RGB images (image_channels=3)")
        if self.decoder_distribution == "logistic_mixture" and self.num_mixture_dec < 2:
            fail("a logistic mixture needs num_mixture_dec >= 2 (the official code uses a "
                 "normal decoder for num_mixture_dec=1)")
        positive = ("image_size", "num_channels_enc", "num_channels_dec", "num_latent_scales",
                    "num_groups_per_scale", "num_latent_per_group", "num_preprocess_blocks",
                    "num_preprocess_cells", "num_postprocess_blocks", "num_postprocess_cells",
                    "num_cell_per_cond_enc", "num_cell_per_cond_dec", "min_groups_per_scale",
                    "num_x_bits")
        for name in positive:
            if getattr(self, name) < 1:
                fail(f"{name} must be >= 1, got {getattr(self, name)}")
            if getattr(self, name) > UPPER_BOUNDS[name]:
                fail(f"{name} must be <= {UPPER_BOUNDS[name]}, got {getattr(self, name)}")
        if not 0 <= self.num_nf <= UPPER_BOUNDS["num_nf"]:
            fail(f"num_nf must be in [0, {UPPER_BOUNDS['num_nf']}], got {self.num_nf}")
        if self.num_mixture_dec > UPPER_BOUNDS["num_mixture_dec"]:
            fail(f"num_mixture_dec must be <= {UPPER_BOUNDS['num_mixture_dec']}, got {self.num_mixture_dec}")
        if self.num_latent_scales == 1 and self.num_groups_per_scale == 1:
            fail("a single latent group (the official 'vanilla VAE' branch) is not supported")
        if self.image_size % self.downsampling:
            fail(f"image_size {self.image_size} is not divisible by the total down-sampling "
                 f"factor {self.downsampling}")
        if self.num_postprocess_blocks != self.num_preprocess_blocks:
            fail("num_postprocess_blocks must equal num_preprocess_blocks so that the output "
                 "has the input's resolution")

    @property
    def downsampling(self) -> int:
        """Spatial factor between the image and the coarsest latent scale."""
        return 2 ** (self.num_preprocess_blocks + self.num_latent_scales - 1)

    @property
    def groups_per_scale(self) -> list[int]:
        """Latent groups per scale, encoder order (finest first)."""
        return groups_per_scale(self.num_latent_scales, self.num_groups_per_scale,
                                self.ada_groups, self.min_groups_per_scale)

    @property
    def num_groups(self) -> int:
        return sum(self.groups_per_scale)

    @property
    def output_channels(self) -> int:
        """Channels of the decoder output (the output distribution's parameters)."""
        if self.decoder_distribution == "bernoulli":
            return 1
        if self.decoder_distribution == "normal":
            return 2 * self.image_channels
        return 10 * self.num_mixture_dec

    @property
    def likelihood_dims(self) -> int:
        """Number of sub-pixels the reconstruction likelihood sums over (for bits/dim)."""
        side = self.image_size - 2 * self.crop_border
        return self.image_channels * side * side

    def cell_ops(self, cell_type: str) -> tuple[str, ...]:
        """Operation names of ``cell_type`` (``normal_enc``, ``down_pre``, ``up_dec``, ...)."""
        return ARCH_INSTANCES[self.arch_instance][cell_type]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable keyword arguments of the network builder."""
        return dataclasses.asdict(self)


_COMMON = {"arch_instance": "res_mbconv", "use_se": True, "res_dist": True, "num_latent_per_group": 20,
           "num_cell_per_cond_enc": 2, "num_cell_per_cond_dec": 2, "num_preprocess_blocks": 1,
           "num_preprocess_cells": 2, "num_postprocess_blocks": 1, "num_postprocess_cells": 2}
_FACES_256 = dict(_COMMON, image_size=256, num_channels_enc=30, num_channels_dec=30,
                  num_latent_scales=5, num_groups_per_scale=16, ada_groups=True,
                  min_groups_per_scale=4, num_nf=2, num_x_bits=5)

# The training commands of the official README, one per released model.
PRESETS: Mapping[str, NVAEConfig] = {
    "mnist": NVAEConfig(
        **dict(_COMMON, num_preprocess_blocks=2, num_preprocess_cells=3,
               num_postprocess_blocks=2, num_postprocess_cells=3),
        image_size=32, image_channels=1, decoder_distribution="bernoulli", crop_border=2,
        num_channels_enc=32, num_channels_dec=32, num_latent_scales=2, num_groups_per_scale=10,
        ada_groups=True, num_nf=0),
    "cifar10": NVAEConfig(**_COMMON, image_size=32, num_channels_enc=128, num_channels_dec=128,
                          num_latent_scales=1, num_groups_per_scale=30, num_nf=1),
    "celeba64": NVAEConfig(**_COMMON, image_size=64, num_channels_enc=64, num_channels_dec=64,
                           num_latent_scales=3, num_groups_per_scale=20, ada_groups=True,
                           num_nf=1),
    "imagenet32": NVAEConfig(**_COMMON, image_size=32, num_channels_enc=192,
                             num_channels_dec=192, num_latent_scales=1, num_groups_per_scale=28,
                             num_nf=1),
    "celebahq256": NVAEConfig(**_FACES_256),
    "ffhq256": NVAEConfig(**_FACES_256),
}


def preset(name: str) -> NVAEConfig:
    """The config of a released model: ``mnist``, ``cifar10``, ``celeba64``, ``imagenet32``,
    ``celebahq256`` or ``ffhq256``."""
    if name not in PRESETS:
        raise KeyError(f"unknown NVAE preset {name!r}; available: {', '.join(PRESETS)}")
    return PRESETS[name]
