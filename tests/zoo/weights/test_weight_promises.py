"""A registry name gets exactly the weights it promises: layout, config, parameter count, finite
values; a file that is no weight file, or one built to exhaust memory, is refused before use."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

import zoo
from tests.support.tinynet import TinyNet, upstream_state
from zoo.cli import main
from zoo.weights import checkpoint

TINY_PARAMS = sum(p.numel() for p in TinyNet(4).parameters())


def _manual_entry(registry, **fields):
    registry.register_weights(registry.WeightsInfo(
        name="tinynet.manual", layout="tinynet-upstream", config={"width": 4}, num_params=TINY_PARAMS,
        manual_download="Get it by hand.", **fields))


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_import_refuses_a_file_of_another_layout_and_writes_nothing(tinynet, tmp_path, zoo_home, capsys):
    _manual_entry(tinynet)
    ours = tmp_path / "ours.safetensors"
    checkpoint.save_weights(ours, TinyNet(4).state_dict(), arch="tinynet", config={"width": 4})
    assert main(["import", "tinynet.manual", str(ours)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("zoo: error: ")
    assert str(ours) in err and "expected a file in layout 'tinynet-upstream', found layout 'zoo'" in err
    assert _files(zoo_home) == []


def test_import_refuses_another_config_and_writes_nothing(tinynet, tmp_path, zoo_home, capsys):
    _manual_entry(tinynet)
    wide = tmp_path / "wide.pth"
    torch.save(upstream_state(width=8), wide)
    assert main(["import", "tinynet.manual", str(wide)]) == 1
    assert "does not match tinynet.manual's: width: file 8 vs 4" in capsys.readouterr().err
    assert _files(zoo_home) == []


def test_import_refuses_another_parameter_count(tinynet, tmp_path, zoo_home, capsys):
    tinynet.register_weights(tinynet.WeightsInfo(
        name="tinynet.manual", layout="tinynet-upstream", num_params=TINY_PARAMS + 1, manual_download="."))
    path = tmp_path / "w.pth"
    torch.save(upstream_state(), path)
    assert main(["import", "tinynet.manual", str(path)]) == 1
    assert f"has {TINY_PARAMS:,} parameters; tinynet.manual has {TINY_PARAMS + 1:,}" in capsys.readouterr().err
    assert _files(zoo_home) == []


def test_import_of_the_right_file_then_loads_it(tinynet, tmp_path):
    _manual_entry(tinynet)
    path = tmp_path / "w.pth"
    torch.save(upstream_state(seed=3), path)
    assert main(["import", "tinynet.manual", str(path)]) == 0
    loaded = zoo.load("tinynet.manual")
    assert torch.equal(loaded.stem.weight, upstream_state(seed=3)["conv1.weight"])


def test_non_finite_weights_are_refused_naming_the_tensor(tinynet, tmp_path):
    state = upstream_state()
    state["conv2.bias"][0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"nan.pth: tensor 'head.bias' holds NaN or infinite values"):
        zoo.load("tinynet", weights=path)


def test_unknown_config_keys_are_refused_naming_the_file(tinynet, tmp_path):
    path = tmp_path / "w.safetensors"
    checkpoint.save_weights(path, TinyNet(4).state_dict(), arch="tinynet", config={"width": 4, "depth": 9})
    with pytest.raises(ValueError, match=r"w.safetensors: unknown tinynet config key\(s\) depth; known: width"):
        zoo.load("tinynet", weights=path)


def test_pwcnet_search_radius_is_bounded_before_building(tmp_path):
    path = tmp_path / "big.safetensors"
    checkpoint.save_weights(path, {"x": torch.zeros(1)}, arch="pwcnet", config={"max_displacement": 400})
    with pytest.raises(ValueError, match=r"big.safetensors: max_displacement must be an int in \[1, 16\]"):
        zoo.load("pwcnet", weights=path)


@pytest.mark.parametrize("field, value", [("num_channels_enc", 100_000), ("num_groups_per_scale", 10_000),
                                          ("image_size", 1 << 20), ("num_nf", 1000)])
def test_nvae_sizes_are_bounded_before_building(tmp_path, field, value):
    path = tmp_path / "big.safetensors"
    checkpoint.save_weights(path, {"x": torch.zeros(1)}, arch="nvae", config={field: value})
    with pytest.raises(ValueError, match=rf"big.safetensors: NVAEConfig: {field} must be"):
        zoo.load("nvae", weights=path)


@pytest.mark.parametrize("head, looks_like", [
    (b"PIEH" + bytes(12), "this looks like a Middlebury .flo optical-flow file"),
    (b"\x89PNG\r\n\x1a\n" + bytes(8), "this looks like a PNG image"),
    (b"hello world, not weights", "it starts with bytes 68 65 6c 6c 6f 20 77 6f"),
])
def test_a_file_that_is_no_weight_file_is_named_for_what_it_is(tmp_path, head, looks_like):
    path = tmp_path / "weights.pth"
    path.write_bytes(head)
    with pytest.raises(ValueError) as error:
        checkpoint.read_checkpoint(path)
    assert str(path) in str(error.value) and "not a weight file" in str(error.value)
    assert looks_like in str(error.value) and "could run code" not in str(error.value)


def test_a_zip_that_inflates_far_beyond_its_size_is_refused_unread(tmp_path):
    path = tmp_path / "bomb.pth"
    torch.save({"w": torch.zeros(4)}, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data/1", bytes(200 << 20))  # 200 MiB of zeros in a few hundred KiB
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ValueError, match=r"bomb.pth: refused: its zip members inflate to 209,7\d\d,\d\d\d bytes"):
        checkpoint.read_checkpoint(path)


def test_truncated_and_damaged_safetensors_name_the_file(tmp_path):
    good = tmp_path / "good.safetensors"
    checkpoint.save_weights(good, {"w": torch.arange(1000.0)}, arch="pwcnet", config={})
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-100])
    with pytest.raises(ValueError, match=r"truncated.safetensors: not a readable safetensors file, truncated"):
        checkpoint.read_checkpoint(truncated)
    bad_json = tmp_path / "bad_json.safetensors"
    bad_json.write_bytes(data.replace(b'"zoo.config":"{}"', b'"zoo.config":"{]"'))
    with pytest.raises(ValueError, match=r"bad_json.safetensors: metadata entry 'zoo.config' is not valid JSON"):
        checkpoint.read_checkpoint(bad_json)
    not_object = tmp_path / "list.safetensors"
    not_object.write_bytes(data.replace(b'"zoo.config":"{}"', b'"zoo.config":"[]"'))
    with pytest.raises(ValueError, match=r"list.safetensors: metadata entry 'zoo.config' must be a JSON object"):
        checkpoint.read_checkpoint(not_object)
