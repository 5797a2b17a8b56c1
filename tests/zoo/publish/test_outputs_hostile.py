"""``save_pretrained``, ``export_weights`` and ``export_onnx`` (the APIs behind ``zoo export``,
``zoo push`` and the ``ExportBest`` callback) pointed at their own source (issue 26, items 2-3)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import zoo
from tests.support.hostile import SYNTH_WEIGHTS
from tests.support.output_spellings import SPELLINGS, snapshot, spell
from zoo.publish.onnx_export import export_onnx
from zoo.publish.safetensors_export import export_weights

pytestmark = pytest.mark.hostile


@pytest.fixture()
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "model.safetensors"
    path.parent.mkdir()
    shutil.copyfile(SYNTH_WEIGHTS, path)
    return path


def test_save_pretrained_into_the_folder_it_reads(tmp_path: Path) -> None:
    folder = zoo.save_pretrained("pwcnet.synth", tmp_path / "saved")
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"directory .*saved/model\.safetensors: the same file as model_or_name"):
        zoo.save_pretrained(folder, folder)
    alias = tmp_path / "alias"
    alias.symlink_to(folder, target_is_directory=True)
    with pytest.raises(ValueError, match="the same file as model_or_name"):
        zoo.save_pretrained(alias, folder)
    assert snapshot(tmp_path) == {**before, alias: f"-> {folder}"}


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_save_pretrained_onto_a_link_to_its_weight_file(tmp_path: Path, weights: Path, how: str) -> None:
    """The folder's ``model.safetensors`` is another name of the file being re-saved."""
    out = tmp_path / "out"
    out.mkdir()
    link = out / "model.safetensors"
    link.symlink_to(weights) if how == "symlink" else link.hardlink_to(weights)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="the same file as model_or_name"):
        zoo.save_pretrained(weights, out, arch="pwcnet")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("how", SPELLINGS)
def test_export_weights_onto_its_source(weights: Path, how: str) -> None:
    target = spell(weights, how)
    before = snapshot(weights.parent)
    with pytest.raises(ValueError, match=r"out_path .*: the same file as ckpt_path"):
        export_weights(weights, target)
    assert snapshot(weights.parent) == before


@pytest.mark.parametrize("how", ["symlink", "hardlink"])
def test_export_onnx_onto_its_source(weights: Path, how: str) -> None:
    target = spell(weights, how, ".onnx")
    before = snapshot(weights.parent)
    with pytest.raises(ValueError, match=r"path .*: the same file as model_or_name"):
        export_onnx(weights, target)
    assert snapshot(weights.parent) == before


def test_export_weights_to_a_distinct_file_still_works(tmp_path: Path, weights: Path) -> None:
    """The control: the same call with a free output writes a loadable file of the same network."""
    import torch

    out = export_weights(weights, tmp_path / "copy.safetensors", dtype=None)
    original, copy = zoo.load("pwcnet", weights=weights), zoo.load("pwcnet", weights=out)
    for (name, a), b in zip(original.state_dict().items(), copy.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("writer", ["export_weights", "export_onnx", "save_pretrained"])
def test_a_registry_name_protects_its_own_file(tmp_path: Path, writer: str) -> None:
    """``zoo export pwcnet.synth -o <a link to the package's bundled pwcnet-synth.safetensors>``:
    the source is a name, but the file it reads is an input all the same (a symlink here, so
    that a failing test replaces the link, never the package's file)."""
    link = tmp_path / ("model.safetensors" if writer == "save_pretrained" else f"link{'.onnx' if writer == 'export_onnx' else '.safetensors'}")
    link.symlink_to(SYNTH_WEIGHTS)
    before = snapshot(tmp_path)
    call = {"export_weights": lambda: export_weights("pwcnet.synth", link),
            "export_onnx": lambda: export_onnx("pwcnet.synth", link),
            "save_pretrained": lambda: zoo.save_pretrained("pwcnet.synth", tmp_path)}[writer]
    with pytest.raises(ValueError, match=r"the same file as .*pwcnet-synth\.safetensors \(input\)"):
        call()
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("path", ["best.ckpt", "best", "checkpoints/last.ckpt"])
def test_export_best_refuses_a_wrong_suffix_before_training(path: str) -> None:
    """The callback's output is checked when the run is configured, not after hours of training."""
    from zoo.publish.export_best import ExportBest

    with pytest.raises(ValueError, match=r"ExportBest path .*: expected a file name ending in \.safetensors"):
        ExportBest(path)
