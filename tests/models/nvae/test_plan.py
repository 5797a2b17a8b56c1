"""The NVAE plan against the official module tree, read from the fixtures' key lists alone.

For every official config with a key list (three tiny, three released) each tower position's
kind (combiner, resampling cell, normal cell) and the channels of combiners, skips and latent
heads are read off the official keys and shapes and compared with :func:`plan_nvae`.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from tests.support.nvae_recipe import FULL_CONFIGS, TINY_CONFIGS
from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.convert import config_from_args
from zoo.models.nvae.network import NVAE
from zoo.models.nvae.plan import Cell, GroupPoint, NVAEPlan, plan_nvae

# RECIPE.md section 1.1: latent shapes in decoder order.
TINY_LATENT_SHAPES = {
    "tiny-mnist": [(4, 8, 8), (4, 16, 16), (4, 16, 16)],
    "tiny-cifar-flow": [(4, 16, 16)] * 3,
    "tiny-celeba-3scale": [(4, 8, 8), (4, 16, 16), (4, 32, 32), (4, 32, 32)],
}


def _official(fixture: Path) -> tuple[NVAEConfig, dict[str, list[int]]]:
    args = json.loads((fixture / "args.json").read_text())
    shapes = {key: shape for key, shape, _ in json.loads((fixture / "keys.json").read_text())}
    return config_from_args(argparse.Namespace(**args)), shapes


def _tower_parts(shapes: dict[str, list[int]], tower: str) -> list[set[str]]:
    """For ``tower.<i>``, the names of the official sub-modules at position i, in order."""
    parts: dict[int, set[str]] = defaultdict(set)
    for key in shapes:
        names = key.split(".")
        if names[0] == tower:
            parts[int(names[1])].add(names[2])
    assert sorted(parts) == list(range(len(parts)))
    return [parts[i] for i in range(len(parts))]


def _official_kind(parts: set[str]) -> str:
    if parts == {"conv"}:
        return "combiner"
    return "resampling" if "skip" in parts else "normal"


def _plan_kind(step: Cell | GroupPoint) -> str:
    if isinstance(step, GroupPoint):
        return "combiner"
    return "normal" if step.cell_type.startswith("normal") else "resampling"


def _check_towers(plan: NVAEPlan, cfg: NVAEConfig, shapes: dict[str, list[int]]) -> None:
    towers = {"pre_process": plan.preprocess, "enc_tower": plan.encoder,
              "dec_tower": plan.decoder, "post_process": plan.postprocess}
    for tower, steps in towers.items():
        official = _tower_parts(shapes, tower)
        assert [_official_kind(p) for p in official] == [_plan_kind(s) for s in steps], tower
        for i, step in enumerate(steps):
            key = f"{tower}.{i}"
            if isinstance(step, GroupPoint):
                group = plan.groups[step.group]
                expected = ([group.encoder_channels, group.decoder_channels] if tower == "enc_tower"
                            else [group.decoder_channels,
                                  group.decoder_channels + group.latent_channels])
                assert shapes[f"{key}.conv.weight"][:2] == expected, key
            elif step.cell_type.startswith("down"):     # factorised reduce: 4 quarters
                assert shapes[f"{key}.skip.conv_1.weight"][:2] == [step.out_channels // 4,
                                                                   step.in_channels], key
            elif step.cell_type.startswith("up"):
                assert shapes[f"{key}.skip.1.weight"][:2] == [step.out_channels,
                                                              step.in_channels], key


def _check_groups(plan: NVAEPlan, cfg: NVAEConfig, shapes: dict[str, list[int]]) -> None:
    c_z = cfg.num_latent_per_group
    num_samplers = len({k.split(".")[1] for k in shapes if k.startswith("enc_sampler.")})
    assert num_samplers == len(plan.groups) == sum(cfg.groups_per_scale)
    for group in plan.groups:
        g = group.index
        assert shapes[f"enc_sampler.{g}.weight"][:2] == [2 * c_z, group.encoder_channels]
        if g > 0:
            assert shapes[f"dec_sampler.{g - 1}.1.weight"][:2] == [2 * c_z, group.decoder_channels]
    top = plan.top
    assert shapes["prior_ftr0"] == [top.decoder_channels, top.size, top.size]
    assert shapes["enc0.1.weight"][:2] == [top.encoder_channels, top.encoder_channels]
    num_flows = len({k.split(".")[1] for k in shapes if k.startswith("nf_cells.")})
    assert num_flows == sum(len(group.flows) for group in plan.groups) == len(plan.groups) * cfg.num_nf


@pytest.mark.parametrize("name", TINY_CONFIGS + FULL_CONFIGS)
def test_plan_follows_the_official_module_tree(shared_dir: Path, name: str) -> None:
    cfg, shapes = _official(shared_dir / "fixtures" / "nvae" / name)
    plan = plan_nvae(cfg)
    _check_towers(plan, cfg, shapes)
    _check_groups(plan, cfg, shapes)
    if name in TINY_LATENT_SHAPES:
        assert [g.latent_shape for g in plan.groups] == TINY_LATENT_SHAPES[name]


@pytest.mark.parametrize("name", TINY_CONFIGS + FULL_CONFIGS)
def test_channels_chain_along_each_tower(shared_dir: Path, name: str) -> None:
    cfg, _ = _official(shared_dir / "fixtures" / "nvae" / name)
    plan = plan_nvae(cfg)
    towers = ((plan.preprocess + plan.encoder, "encoder_channels", cfg.num_channels_enc),
              (plan.decoder + plan.postprocess, "decoder_channels", plan.top.decoder_channels))
    for steps, channels, state in towers:    # stem output, prior feature
        for step in steps:
            if isinstance(step, GroupPoint):
                assert state == getattr(plan.groups[step.group], channels)
            else:
                assert step.in_channels == state
                state = step.out_channels
    assert plan.postprocess[-1].out_channels == cfg.num_channels_dec
    assert [s.group for s in plan.encoder if isinstance(s, GroupPoint)] == list(
        range(len(plan.groups) - 1, 0, -1))                    # finest first, no point for 0
    assert [s.group for s in plan.decoder if isinstance(s, GroupPoint)] == list(
        range(len(plan.groups)))


def test_network_modules_are_exactly_the_plans() -> None:
    cfg = NVAEConfig(image_size=64, num_channels_enc=8, num_channels_dec=8, num_latent_scales=3,
                     num_groups_per_scale=3, ada_groups=True, num_latent_per_group=3,
                     num_preprocess_blocks=2, num_preprocess_cells=2, num_postprocess_blocks=2,
                     num_postprocess_cells=3, num_cell_per_cond_enc=2, num_cell_per_cond_dec=2,
                     num_nf=2)
    with torch.device("meta"):
        network = NVAE(cfg)
    plan = network.plan
    named = {step.name for step in plan.preprocess + plan.encoder + plan.decoder + plan.postprocess}
    for group in plan.groups:
        named |= {group.posterior_head, group.decoder_combiner, *group.flows}
        named |= {name for name in (group.prior_head, group.encoder_combiner) if name}
    listed = {f"{name}.{i}" for name, module in network.named_children()
              if isinstance(module, torch.nn.ModuleList) for i in range(len(module))}
    assert named == listed
    assert all(isinstance(network.get_submodule(s.name), torch.nn.Module) for s in plan.encoder)
