"""``zoo flow --weights X``: which architecture X names (``zoo.cli.flow_estimation.model_name``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

import zoo
from zoo.cli import main
from zoo.cli.flow_estimation import model_name

BUNDLED = Path(zoo.__file__).parent / "weights"


@pytest.mark.parametrize("weights, expected", [
    ("pwcnet.things", ("pwcnet.things", None)),  # a registry name names its architecture
    ("nvae.mnist-cpu", ("nvae.mnist-cpu", None)),  # (refused later: not a flow model)
    ("things", ("pwcnet", "things")),  # a bare tag is PWC-Net's
    ("hf-hub:org/flow", ("hf-hub:org/flow", None)),  # the Hub repository names its architecture
    ("foo.bar", ("pwcnet", "foo.bar")),  # no such architecture: zoo.load says so
])
def test_names(weights, expected):
    assert model_name(weights) == expected


def test_files_name_the_architecture_they_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(BUNDLED / "nvae-mnist-cpu.safetensors", "ours.safetensors")
    (tmp_path / "official.pth").write_bytes(b"\x80\x02}q\x00.")  # no record: PWC-Net's (NVlabs files)
    (tmp_path / "image.safetensors").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(16))  # not safetensors at all
    assert model_name("ours.safetensors") == ("nvae", "ours.safetensors")
    assert model_name(str(tmp_path / "official.pth")) == ("pwcnet", str(tmp_path / "official.pth"))
    assert model_name("image.safetensors") == ("pwcnet", "image.safetensors")


def test_a_model_of_another_task_is_refused_naming_both(tmp_path, capsys):
    frames = [tmp_path / f"{i}.png" for i in (1, 2)]

    for frame in frames:
        Image.new("RGB", (8, 8)).save(frame)
    assert main(["flow", *map(str, frames), "-o", str(tmp_path / "f.flo"), "--weights", "nvae.mnist-cpu"]) == 1
    err = capsys.readouterr().err
    assert "zoo flow (--weights nvae.mnist-cpu) runs optical-flow models; 'nvae' is an image-generation model" in err
