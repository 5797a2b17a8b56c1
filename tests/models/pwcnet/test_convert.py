"""PWC-Net weight conversion: the three official layouts against the fixture's key lists and
mapping table, layout detection, strictness, and ``zoo.load`` on files in each real structure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import zoo
from tests.support.pwcnet_recipe import FIXTURE_LAYOUTS, official_checkpoint, write_official_file
from zoo.models.pwcnet import convert
from zoo.models.pwcnet.network import PWCNet

LAYOUT_OF_VARIANT = {"nvlabs-bare": "pwcnet-nvlabs", "nvlabs-wrapped": "pwcnet-nvlabs",
                     "sniklaus": "pwcnet-sniklaus", "sniklaus-runtime": "pwcnet-sniklaus",
                     "ptlflow": "pwcnet-ptlflow"}
#: What each source's script feeds the network (RECIPE.md section 4; ptlflow's ``pwcnet`` flips BGR frames to RGB).
PUBLISHED_PIPELINE = {"pwcnet-nvlabs": {"channel_order": "BGR", "pipeline": "nvlabs"},
                      "pwcnet-sniklaus": {"channel_order": "BGR", "pipeline": "sniklaus"},
                      "pwcnet-ptlflow": {"channel_order": "RGB", "pipeline": "ptlflow"}}


def _key_list(pwcnet_fixture_dir: Path, name: str, field: str = "keys") -> dict[str, tuple[int, ...]]:
    return {key: tuple(shape) for key, shape in json.loads((pwcnet_fixture_dir / name).read_text())[field]}


def test_recipe_reproduces_fixture_checksums(pwcnet_fixture_dir, pwcnet_recipe):
    entries = json.loads((pwcnet_fixture_dir / "recipe-checksums.json").read_text())["entries"]
    assert len(entries) == len(pwcnet_recipe) == 128
    for entry in entries:
        tensor = pwcnet_recipe[entry["key"]]
        assert tensor.flatten()[:3].tolist() == entry["first"], entry["key"]
        assert tensor.sum().item() == pytest.approx(entry["sum"], abs=1e-9)
        assert tensor.abs().sum().item() == pytest.approx(entry["sum_abs"], abs=1e-9)


@pytest.mark.parametrize("file_name, names, field", [
    ("keys-nvlabs.json", convert.nvlabs_names(), "keys"),
    ("keys-sniklaus.json", convert.sniklaus_names(), "keys"),
    ("keys-ptlflow.json", convert.ptlflow_names(), "keys"),
])
def test_layout_names_cover_fixture_key_lists_with_matching_shapes(pwcnet_fixture_dir, file_name, names, field):
    theirs = _key_list(pwcnet_fixture_dir, file_name, field)
    expected = {k: s for k, s in theirs.items() if not k.startswith("deconv2.")}
    assert set(names) == set(expected)
    ours = {k: tuple(v.shape) for k, v in PWCNet().state_dict().items()}
    assert sorted(names.values()) == sorted(ours)
    for key, our_key in names.items():
        assert expected[key] == ours[our_key], key


def test_no_context_variant_is_the_ptlflow_layout_without_dc_conv():
    names = convert.ptlflow_names(context=False)
    assert set(names) == {k for k in convert.ptlflow_names() if not k.startswith("dc_conv")}
    assert set(names.values()) == set(PWCNet(context=False).state_dict())


@pytest.mark.parametrize("variant", FIXTURE_LAYOUTS)
def test_detect_layout(pwcnet_recipe, variant):
    assert convert.detect_layout(official_checkpoint(pwcnet_recipe, variant)) == LAYOUT_OF_VARIANT[variant]


def test_detect_layout_rejects_other_dicts():
    assert convert.detect_layout({"stem.weight": torch.zeros(1)}) is None
    assert convert.detect_layout(PWCNet().state_dict()) is None
    assert convert.detect_layout({"state_dict": {"encoder.0.weight": torch.zeros(1)}, "args": None}) is None


@pytest.mark.parametrize("variant", FIXTURE_LAYOUTS)
def test_convert_copies_every_tensor_unchanged(pwcnet_recipe, variant):
    state, config = convert.convert(official_checkpoint(pwcnet_recipe, variant), LAYOUT_OF_VARIANT[variant])
    assert config == {"context": True, "max_displacement": 4, **PUBLISHED_PIPELINE[LAYOUT_OF_VARIANT[variant]]}
    expected, _ = convert.convert(pwcnet_recipe, "pwcnet-nvlabs")
    assert state.keys() == expected.keys()
    for key in state:
        assert torch.equal(state[key], expected[key]), key
    # an independent check of a few correspondences of RECIPE.md section 5
    assert torch.equal(state["features.levels.5.0.weight"], pwcnet_recipe["conv6aa.0.weight"])
    assert torch.equal(state["features.levels.5.1.weight"], pwcnet_recipe["conv6a.0.weight"])
    assert torch.equal(state["features.levels.2.1.weight"], pwcnet_recipe["conv3aa.0.weight"])
    assert torch.equal(state["decoders.4.upsample_flow.weight"], pwcnet_recipe["deconv4.weight"])
    assert torch.equal(state["context.6.bias"], pwcnet_recipe["dc_conv7.bias"])


def test_convert_ptlflow_without_context_implies_config(pwcnet_recipe):
    checkpoint = official_checkpoint(pwcnet_recipe, "ptlflow")
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("dc_conv")}
    state, config = convert.convert(checkpoint, "pwcnet-ptlflow")
    assert config == {"context": False, "max_displacement": 4, "channel_order": "BGR", "pipeline": "ptlflow-nodc"}
    PWCNet(**config).load_state_dict(state, strict=True)


@pytest.mark.parametrize("variant, drop, add", [
    ("nvlabs-bare", "conv3aa.0.weight", None),
    ("sniklaus", "moduleRefiner.moduleMain.12.bias", None),
    ("ptlflow", None, "deconv2.weight"),
    ("nvlabs-wrapped", None, "module.conv1a.0.weight"),
])
def test_convert_is_strict(pwcnet_recipe, variant, drop, add):
    checkpoint = official_checkpoint(pwcnet_recipe, variant)
    state = checkpoint.get("state_dict", checkpoint)
    if drop:
        del state[drop]
    if add:
        state[add] = torch.zeros(2)
    with pytest.raises(ValueError) as error:
        convert.convert(checkpoint, LAYOUT_OF_VARIANT[variant])
    assert (drop or add) in str(error.value)
    assert ("missing" if drop else "unexpected") in str(error.value)


def test_convert_rejects_unknown_layout(pwcnet_recipe):
    with pytest.raises(ValueError, match="unknown PWC-Net layout"):
        convert.convert(pwcnet_recipe, "pwcnet-caffe")


@pytest.mark.parametrize("variant", FIXTURE_LAYOUTS)
def test_zoo_load_reads_each_official_file_structure(tmp_path, pwcnet_recipe, variant):
    """Real file structures (``torch.save``), float32 as published, loaded as a user would."""
    reference = {k: v.float() for k, v in convert.convert(pwcnet_recipe, "pwcnet-nvlabs")[0].items()}
    path = write_official_file(tmp_path / f"{variant}.pth", pwcnet_recipe, variant)
    network = zoo.load("pwcnet", weights=path)
    assert isinstance(network, PWCNet) and not network.training
    state = network.state_dict()
    assert state.keys() == reference.keys()
    assert all(torch.equal(state[k], reference[k]) for k in state)


def test_zoo_load_ptlflow_no_context_file(tmp_path, pwcnet_recipe):
    checkpoint = official_checkpoint({k: v.float() for k, v in pwcnet_recipe.items()}, "ptlflow")
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("dc_conv")}
    torch.save(checkpoint, tmp_path / "pwcnet-things-00000000.ckpt")
    network = zoo.load("pwcnet", weights=tmp_path / "pwcnet-things-00000000.ckpt")
    assert network.context is None
    assert sum(p.numel() for p in network.parameters()) == 8_243_008


def test_zoo_load_reports_missing_key(tmp_path, pwcnet_recipe):
    checkpoint = official_checkpoint({k: v.float() for k, v in pwcnet_recipe.items()}, "nvlabs-bare")
    del checkpoint["predict_flow4.bias"]
    torch.save(checkpoint, tmp_path / "pwc_net.pth.tar")
    with pytest.raises(ValueError, match="predict_flow4.bias"):
        zoo.load("pwcnet", weights=tmp_path / "pwc_net.pth.tar")
