"""The official-checkpoint converter: full released key sets, configs from args, and refusals."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

import zoo
from tests.support.nvae_recipe import FULL_CONFIGS, official_checkpoint
from zoo.models.nvae.config import PRESETS, NVAEConfig
from zoo.models.nvae.convert import config_from_args, convert, detect_layout
from zoo.models.nvae.network import NVAE

# Released configs: fixture folder, our preset, official parameter count.
RELEASED = {"full-mnist": ("mnist", 33_363_134), "full-cifar10": ("cifar10", 130_852_480),
            "full-celeba64": ("celeba64", 153_281_364)}


def _meta_checkpoint(fixture: Path) -> dict:
    """An official checkpoint of a full config with storage-less (meta) tensors."""
    rows = json.loads((fixture / "keys.json").read_text())
    state = {k: torch.empty(shape, dtype=getattr(torch, dtype), device="meta") for k, shape, dtype in rows}
    return {"state_dict": state, "args": argparse.Namespace(**json.loads((fixture / "args.json").read_text()))}


@pytest.mark.parametrize("name", FULL_CONFIGS)
def test_full_released_key_sets_convert_strictly(shared_dir: Path, name: str) -> None:
    fixture = shared_dir / "fixtures" / "nvae" / name
    checkpoint = _meta_checkpoint(fixture)
    assert detect_layout(checkpoint) == "nvae-official"
    state, config = convert(checkpoint, "nvae-official")
    preset, num_params = RELEASED[name]
    assert NVAEConfig(**config) == PRESETS[preset]
    with torch.device("meta"):
        network = NVAE(NVAEConfig(**config))
    ours = network.state_dict()
    assert set(state) == set(ours)
    assert all(state[k].shape == ours[k].shape for k in ours)
    aliases = sum(k.endswith(".weight_normalized") for k in checkpoint["state_dict"])
    assert len(state) == len(checkpoint["state_dict"]) - aliases  # nothing dropped but aliases
    assert sum(p.numel() for p in network.parameters()) == num_params


@pytest.mark.parametrize("preset", ["celebahq256", "ffhq256"])
def test_256_presets_match_the_official_parameter_count(preset: str) -> None:
    """No key list of the 256-px models is in the fixtures, and no count is published: 330,798,664
    is the official ``AutoEncoder`` (NVlabs/NVAE at 9fc1a28, ``model.py``) built on the CPU with the
    README's ``celeba_256`` and ``ffhq`` training commands, counted once by us (the official code is
    not part of this project)."""
    with torch.device("meta"):
        network = NVAE(PRESETS[preset])
    assert sum(p.numel() for p in network.parameters()) == 330_798_664  # 330.80 M


def test_old_checkpoints_get_the_official_defaults(shared_dir: Path) -> None:
    args = json.loads((shared_dir / "fixtures" / "nvae" / "full-cifar10" / "args.json").read_text())
    for name in ("ada_groups", "min_groups_per_scale", "num_mixture_dec"):
        del args[name]
    config = config_from_args(argparse.Namespace(**args))
    assert (config.ada_groups, config.min_groups_per_scale, config.num_mixture_dec) == (False, 1, 10)
    assert config == PRESETS["cifar10"]
    with pytest.raises(ValueError, match="num_nf"):
        config_from_args({k: v for k, v in args.items() if k != "num_nf"})


@pytest.fixture(scope="module")
def tiny_checkpoint(shared_dir: Path) -> dict:
    return official_checkpoint(shared_dir / "fixtures" / "nvae" / "tiny-cifar-flow")


def test_aliases_optional_and_module_prefix_accepted(tiny_checkpoint: dict) -> None:
    reference, _ = convert(tiny_checkpoint, "nvae-official")
    without = {k: v for k, v in tiny_checkpoint["state_dict"].items() if not k.endswith("weight_normalized")}
    state, _ = convert({**tiny_checkpoint, "state_dict": without}, "nvae-official")
    assert state.keys() == reference.keys()
    prefixed = {"module." + k: v for k, v in tiny_checkpoint["state_dict"].items()}
    state, _ = convert({**tiny_checkpoint, "state_dict": prefixed}, "nvae-official")
    assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_sync_bn_level_lands_in_our_batch_norms(tiny_checkpoint: dict) -> None:
    state, _ = convert(tiny_checkpoint, "nvae-official")
    official = tiny_checkpoint["state_dict"]
    assert torch.equal(state["decoder_cells.0.ops.0.bn_in.running_var"],
                       official["dec_tower.1._ops.0.conv.0.bn.running_var"])
    assert torch.equal(state["postprocess.0.ops.0.bn_in.weight"],  # shifted by the up-sampling
                       official["post_process.0._ops.0.conv.1.bn.weight"])
    assert torch.equal(state["preprocess.0.ops.1.bn.bias"], official["pre_process.0._ops.1.bn_act.bias"])


def test_refusals_name_the_keys(tiny_checkpoint: dict) -> None:
    official = dict(tiny_checkpoint["state_dict"])
    broken = {k: v for k, v in official.items() if k != "enc_sampler.1.bias"}
    broken["enc_tower.99.conv.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as error:
        convert({**tiny_checkpoint, "state_dict": broken}, "nvae-official")
    assert "posterior_heads.1.bias (official enc_sampler.1.*)" in str(error.value) and "enc_tower.99.conv.weight" in str(error.value)

    wrong = {**official, "stem.weight": torch.zeros(8, 1, 3, 3)}
    with pytest.raises(ValueError, match="stem.weight"):
        convert({**tiny_checkpoint, "state_dict": wrong}, "nvae-official")

    alias = "dec_tower.1._ops.0.conv.3.weight_normalized"
    mismatched = {**official, alias: official[alias] + 1}
    with pytest.raises(ValueError, match="alias"):
        convert({**tiny_checkpoint, "state_dict": mismatched}, "nvae-official")

    with pytest.raises(ValueError, match="args"):
        convert({"state_dict": official}, "nvae-official")
    assert detect_layout({"state_dict": {"conv1.weight": torch.zeros(1)}}) is None


def test_other_config_args_refused_through_zoo_load(tiny_checkpoint: dict, shared_dir: Path,
                                                    tmp_path: Path) -> None:
    """The tiny CIFAR weights under MNIST args do not fit: clear error listing keys."""
    mnist_args = json.loads((shared_dir / "fixtures" / "nvae" / "tiny-mnist" / "args.json").read_text())
    path = tmp_path / "checkpoint.pt"
    torch.save({**tiny_checkpoint, "args": argparse.Namespace(**mnist_args)}, path)
    with pytest.raises(ValueError, match="does not fit"):
        zoo.load("nvae", weights=path)


def test_file_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pwc_net.pth.tar"
    torch.save({"conv1a.0.weight": torch.zeros(16, 3, 3, 3), "conv1a.0.bias": torch.zeros(16)}, path)
    with pytest.raises(ValueError, match="no nvae layout"):
        zoo.load("nvae", weights=path)


@torch.no_grad()
def test_our_safetensors_round_trip(tiny_checkpoint: dict, tmp_path: Path) -> None:
    from zoo.weights.checkpoint import save_weights

    official = tmp_path / "checkpoint.pt"
    torch.save(tiny_checkpoint, official)
    network = zoo.load("nvae", weights=official)
    ours = save_weights(tmp_path / "nvae.safetensors", network.state_dict(), arch="nvae",
                        config=network.config.to_dict())
    again = zoo.load("nvae", weights=ours)
    assert again.config == network.config
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again(x, temperature=0.0).logits, network(x, temperature=0.0).logits)
