"""The footprint estimate of an NVAE config (parameters, activations per image) against the
networks it describes, built and counted."""

from __future__ import annotations

import pytest
import torch

from tests.support.nvae_networks import TINY
from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.footprint import estimate_footprint
from zoo.models.nvae.network import NVAE
from zoo.models.nvae.plan import plan_nvae

# the exact parameter counts of the released presets (tests/test_nvae_convert.py checks the built networks)
PRESET_PARAMETERS = {"mnist": 33_363_134, "cifar10": 130_852_480, "celeba64": 153_281_364,
                     "imagenet32": 268_509_444, "celebahq256": 330_798_664}


@pytest.mark.parametrize("name", sorted(PRESET_PARAMETERS))
def test_the_estimate_is_within_4_percent_of_each_released_network(name):
    """Left out (batch norms, biases, squeeze-excitation, flows) is 1.6 - 2.7 % of these."""
    from zoo.models.nvae.config import preset

    config = preset(name)
    estimate = estimate_footprint(config, plan_nvae(config)).parameters
    assert 0.96 * PRESET_PARAMETERS[name] <= estimate <= PRESET_PARAMETERS[name]


@pytest.mark.parametrize("changes", [{}, {"arch_instance": "mbconv_sep", "num_channels_enc": 16, "num_channels_dec": 16},
                                     {"arch_instance": "res_bnelu", "num_latent_scales": 1, "num_groups_per_scale": 3}])
def test_the_estimate_follows_built_networks(changes):
    """Tiny networks (8 - 16 channels), where what is left out weighs most (a 3x3 conv of 8 channels
    has 576 weights, its batch norm and squeeze-excitation 90): within 35 % of the built count, never
    above it. Built on the meta device: counted, not allocated."""
    config = NVAEConfig(image_size=32, **{**TINY, **changes})
    with torch.device("meta"):
        built = sum(p.numel() for p in NVAE(config).parameters())
    estimate = estimate_footprint(config, plan_nvae(config)).parameters
    assert 0.65 * built <= estimate <= built


def test_activations_scale_with_the_image_area():
    """Every activation lives at a side proportional to the image's: doubling it quadruples them."""
    small, large = (NVAEConfig(image_size=size, **TINY) for size in (32, 64))
    ratio = estimate_footprint(large, plan_nvae(large)).activations / estimate_footprint(small, plan_nvae(small)).activations
    assert ratio == pytest.approx(4.0)
