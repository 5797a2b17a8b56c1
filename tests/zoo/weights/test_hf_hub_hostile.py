"""A model folder's metadata is untrusted JSON (issue 26, item 17): ``num_params: "many"``,
``metrics`` as a list, the record as a list, a string metric value (``zoo info`` failed),
``pipeline: ["nvlabs"]`` (unhashable), ``context: "false"`` (accepted as true) and
``architecture: "../../bogus"`` (reported as ``unknown architecture ''``) each end in one line
naming the file and the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import zoo
from tests.support.hostile import assert_one_line_error, call_cli

pytestmark = pytest.mark.hostile


@pytest.fixture(scope="module")
def pretrained_folder(tmp_path_factory) -> Path:
    return zoo.save_pretrained("pwcnet.synth", tmp_path_factory.mktemp("pretrained") / "pwc")


def _doctored(source: Path, target: Path, *, record: dict | None = None, record_value=None, config: dict | None = None,
              architecture: str | None = None) -> Path:
    """A copy of the folder whose ``model.safetensors`` metadata and ``config.json`` carry the
    changes (both files agree, as ``save_pretrained`` writes them)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    folder = Path(shutil.copytree(source, target))
    weights, manifest = folder / "model.safetensors", folder / "config.json"
    with safe_open(str(weights), framework="pt") as f:
        metadata = dict(f.metadata())
    info, net_config = json.loads(metadata["zoo.info"]), json.loads(metadata["zoo.config"])
    info["record"] = record_value if record_value is not None else {**info["record"], **(record or {})}
    net_config.update(config or {})
    data = json.loads(manifest.read_text())
    data["config"] = net_config
    data["architecture"] = architecture or data["architecture"]
    metadata.update({"zoo.info": json.dumps(info), "zoo.config": json.dumps(net_config, sort_keys=True),
                     "zoo.arch": data["architecture"]})
    save_file(load_file(str(weights)), str(weights), metadata=metadata)
    manifest.write_text(json.dumps(data))
    return folder


RECORD_CASES = {
    "num_params": ({"num_params": "many"}, "num_params must be a whole number >= 0 or null, got 'many'"),
    "metrics-list": ({"metrics": ["epe", 2.0]}, "metrics must be an object {dataset: {metric: number}}"),
    "metric-string": ({"metrics": {"sintel": {"epe": "2.1"}}}, "metrics must be an object"),
    "licence-number": ({"license": 7}, "license must be a string, got 7"),
}


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_a_record_field_of_the_wrong_type_names_file_and_key(pretrained_folder, tmp_path, case):
    changes, expected = RECORD_CASES[case]
    folder = _doctored(pretrained_folder, tmp_path / case, record=changes)
    with pytest.raises(ValueError) as caught:
        zoo.load(str(folder))
    assert str(caught.value).startswith(f"{folder / 'model.safetensors'}: metadata 'zoo.info' key 'record': {folder}: "
                                        f"{expected}")
    for command in ("info", "card"):
        assert_one_line_error(call_cli(command, folder), str(folder / "model.safetensors"), expected)


def test_a_record_that_is_a_list_names_file_and_key(pretrained_folder, tmp_path):
    folder = _doctored(pretrained_folder, tmp_path / "list", record_value=["pwcnet"])
    assert_one_line_error(call_cli("info", folder), f"{folder / 'model.safetensors'}: metadata 'zoo.info' key "
                                                    f"'record' must be a JSON object, got list")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"pipeline": ["nvlabs"]}, "pipeline must be one of 'nvlabs'"),
    ({"context": "false"}, "context must be true or false, got 'false'"),
    ({"max_displacement": 4.0}, "max_displacement must be an int"),
])
def test_a_network_config_of_the_wrong_type_names_file_and_key(pretrained_folder, tmp_path, changes, expected):
    folder = _doctored(pretrained_folder, tmp_path / "config", config=changes)
    with pytest.raises(ValueError, match=r"^" + str(folder / "model.safetensors") + ": " + expected.replace("(", r"\(")):
        zoo.load(str(folder))


def test_nvae_config_fields_are_type_checked():
    from zoo.models.nvae.config import NVAEConfig

    for field, value, expected in (("num_channels_enc", "32", "an integer"), ("use_se", "false", "true or false"),
                                   ("num_nf", True, "an integer"), ("arch_instance", 3, "a string")):
        with pytest.raises(ValueError, match=rf"^NVAEConfig: {field} must be {expected}, got {value!r}$"):
            NVAEConfig(**{field: value})


def test_an_architecture_that_is_a_path_is_named_as_given(pretrained_folder, tmp_path):
    folder = _doctored(pretrained_folder, tmp_path / "bogus", architecture="../../bogus")
    assert_one_line_error(call_cli("info", folder), f"{folder / 'config.json'}: 'architecture' must be an architecture "
                                                    f"name such as pwcnet or nvae, got '../../bogus'")
    with pytest.raises(KeyError, match=r"unknown architecture '\.\./\.\./bogus'; available: nvae, pwcnet"):
        zoo.load("../../bogus")
