"""Datasets declare themselves: one module (tests/support/toy_flow_dataset.py) makes a new flow
dataset a composition name, a root (``roots=``, ``ZOO_DATA_<FAMILY>``, ``<data_dir>/<folder>``), a
``zoo eval --data`` set and a row of the docs' table, with no other file edited."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from tests.support.flow_fixtures import make_sintel
from zoo.cli import main
from zoo.datamodules.flow.datamodule import FlowDataModule, parse_composition
from zoo.datamodules.flow.datasets import FAMILIES
from zoo.datamodules.flow.datasets.declaration import FlowFamily, composition_names, declare, names_table
from zoo.datamodules.flow.sources import public_sources
from zoo.measure.evaluation import flow_protocol, flow_protocols

README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture
def toy():
    """The toy dataset module, imported afresh, and forgotten afterwards."""
    sys.modules.pop("tests.support.toy_flow_dataset", None)
    module = importlib.import_module("tests.support.toy_flow_dataset")
    yield module
    module.forget()
    sys.modules.pop("tests.support.toy_flow_dataset", None)


def test_the_declared_tables_of_today():
    """What the tables keyed by name held before the datasets declared themselves (a new dataset adds to
    them without editing this test)."""
    folders = {name: family.folder for name, family in FAMILIES.items()}
    assert folders.items() >= {
        "chairs": "FlyingChairs_release", "things": "FlyingThings3D", "sintel": "MPI-Sintel-complete",
        "kitti-2015": "KITTI2015", "kitti-2012": "KITTI2012", "hd1k": "HD1K", "autoflow": "AutoFlow",
        "chairs2": "FlyingChairs2", "middlebury": "Middlebury", "tartanair": "TartanAir",
        "things-subset": "FlyingThings3D_subset", "vkitti2": "VirtualKITTI2", "viper": "VIPER", "kubric": "Kubric",
        "monkaa": "Monkaa", "driving": "Driving", "spring": "spring"}.items()
    assert set(composition_names()) >= {"chairs", "things", "things-clean", "things-final", "sintel", "sintel-clean",
                                        "sintel-final", "kitti-2015", "kitti-2012", "hd1k", "synthetic"}
    assert composition_names()[-1] == "synthetic"
    protocols = flow_protocols()
    assert {name: protocols[name].key for name in ("chairs", "sintel-clean", "sintel-final", "kitti-2015", "kitti-2012",
                                                   "chairs2", "things-subset", "middlebury", "spring")} == {
        "chairs": "chairs-val", "sintel-clean": "sintel-clean-train", "sintel-final": "sintel-final-train",
        "kitti-2015": "kitti-2015-train", "kitti-2012": "kitti-2012-train", "chairs2": "chairs2-val",
        "things-subset": "things-subset-val", "middlebury": "middlebury-train",
        "spring": "spring-val"}
    assert "sintel" not in protocols and "things" not in protocols and "hd1k" not in protocols
    assert set(public_sources()) == {"chairs", "sintel"}
    assert FAMILIES["kitti-2015"].variable == "ZOO_DATA_KITTI2015"


def test_one_module_makes_a_dataset_known_everywhere(toy, tmp_path, monkeypatch):
    root = make_sintel(tmp_path / "toy_root")
    assert "toy" in composition_names() and parse_composition("2*toy+synthetic") == [("toy", 2), ("synthetic", 1)]
    module = FlowDataModule(train="2*toy", val="toy", roots={"toy": str(root)}, crop_size=(4, 8), num_workers=0)
    module.setup("fit")
    assert [p.name for p in module.train_dataset.datasets] == ["toy", "toy"]
    assert len(module.val_datasets[0]) == len(module.train_dataset) // 2 > 0
    monkeypatch.setenv("ZOO_DATA_TOY", str(root))
    assert FlowDataModule(num_workers=0).root("toy") == root
    monkeypatch.delenv("ZOO_DATA_TOY")
    assert FlowDataModule(num_workers=0, data_dir=str(tmp_path)).root("toy") == tmp_path / "ToyFlow"
    assert flow_protocol("toy").key == "toy-train"
    assert "| `toy` | `toy` | `ToyFlow` | the toy pairs | the same | `toy-train` |" in names_table()


def test_zoo_eval_measures_a_declared_dataset(toy, tmp_path, capsys):
    make_sintel(tmp_path / "data" / "ToyFlow")
    out = tmp_path / "out"
    assert main(["eval", "pwcnet.synth", "--data", "toy", "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    rows = json.loads((out / "eval-pwcnet.synth.json").read_text())["rows"]
    assert {(r["dataset"], r["metric"]) for r in rows} == {("toy-train", "epe"), ("toy-train", "wauc")}
    toy.forget()
    assert main(["eval", "pwcnet.synth", "--data", "toy", "--data-dir", str(tmp_path / "data")]) != 0
    assert "unknown set(s) toy" in capsys.readouterr().err


def test_a_name_or_family_is_declared_once(toy):
    with pytest.raises(ValueError, match="declared already"):
        declare(FlowFamily("toy", "Elsewhere", names={}))
    with pytest.raises(ValueError, match=r"\['chairs'\]"):
        declare(FlowFamily("toy2", "Elsewhere", names={"chairs": FAMILIES["chairs"].names["chairs"]}))
    with pytest.raises(ValueError, match="synthetic"):
        declare(FlowFamily("toy3", "Elsewhere", names={"synthetic": FAMILIES["chairs"].names["chairs"]}))
    assert "toy2" not in FAMILIES and "toy3" not in FAMILIES


def test_readme_shows_the_declared_table():
    assert names_table() in README.read_text()
