"""Test support: small random-weight NVAE networks (float64, eval mode) for behaviour tests."""

from __future__ import annotations

import torch

from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.network import NVAE

__all__ = ["TINY", "tiny_binary_nvae", "tiny_mixture_nvae"]

TINY = {"num_channels_enc": 8, "num_channels_dec": 8, "num_latent_scales": 2, "num_groups_per_scale": 2,
        "ada_groups": True, "num_latent_per_group": 4, "num_preprocess_blocks": 1,
        "num_preprocess_cells": 2, "num_postprocess_blocks": 1, "num_postprocess_cells": 2,
        "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1, "use_se": True, "res_dist": True}
"""Two scales with 2 and 1 groups (3 latent groups), 8 channels, 4 latent channels."""


def tiny_binary_nvae() -> NVAE:
    """Bernoulli decoder on 32 x 32 (MNIST layout, 2 px likelihood crop), no flows; seed 0."""
    torch.manual_seed(0)
    config = NVAEConfig(image_size=32, image_channels=1, decoder_distribution="bernoulli",
                        crop_border=2, num_nf=0, **TINY)
    return NVAE(config).double().eval()


def tiny_mixture_nvae() -> NVAE:
    """Logistic mixture of 3 on 16 x 16 RGB, one flow stage per group; seed 1."""
    torch.manual_seed(1)
    return NVAE(NVAEConfig(image_size=16, num_nf=1, num_mixture_dec=3, **TINY)).double().eval()
