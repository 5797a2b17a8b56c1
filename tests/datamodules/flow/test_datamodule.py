"""FlowDataModule: compositions, roots, synthetic sets without data, downloads in prepare_data."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile

import pytest
import torch

from tests.support.flow_fixtures import make_kitti, make_sintel, make_things
from tests.support.http_server import Route
from zoo.datamodules import FlowDataModule
from zoo.datamodules.flow.datamodule import parse_composition
from zoo.datamodules.flow.datasets import FAMILIES, KITTI, Sintel
from zoo.datamodules.flow.sources import DataSource


def test_parse_composition():
    assert parse_composition("sintel-clean+sintel-final+2*kitti-2015") == [
        ("sintel-clean", 1), ("sintel-final", 1), ("kitti-2015", 2)]
    assert parse_composition("synthetic") == [("synthetic", 1)]
    for bad in ("sintel-dirty", "2*", "0*chairs", "chairs++things", "1.5*chairs"):
        with pytest.raises(ValueError, match="chairs|positive"):
            parse_composition(bad)


def _synthetic_module(**kwargs):
    settings = {"crop_size": (64, 96), "synthetic_size": (80, 112), "synthetic_length": 4, "synthetic_val_length": 2,
                "batch_size": 2, "num_workers": 0}
    settings.update(kwargs)
    return FlowDataModule(**settings)


def test_synthetic_needs_no_data_and_validates_on_another_seed(monkeypatch):
    monkeypatch.delenv("ZOO_DATA", raising=False)
    module = _synthetic_module()
    module.prepare_data()
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert batch["image1"].shape == (2, 3, 64, 96) and batch["flow"].shape == (2, 2, 64, 96)
    assert batch["valid"].shape == (2, 64, 96) and batch["valid"].dtype == torch.bool
    assert module.val_names == ["synthetic"]
    (val,) = module.val_datasets
    train_set = module.train_dataset.datasets[0]
    assert val.seed == train_set.seed + 1 and len(val) == 2
    assert not torch.equal(val[0]["image1"], train_set.render(0).image1[:, :80, :112])
    val_batch = next(iter(module.val_dataloader()[0]))
    assert val_batch["image1"].shape == (1, 3, 80, 112)  # no augmentation, full frames


def test_synthetic_options_reach_both_synthetic_sets():
    module = _synthetic_module(synthetic_options={"recipe": "v1"})
    module.setup("fit")
    train_set, (val,) = module.train_dataset.datasets[0], module.val_datasets
    assert train_set.recipe == val.recipe == "v1" and train_set.scenes == {"layered-v1": 1.0}
    assert train_set.transform is not None and val.transform is None
    mixed = _synthetic_module(synthetic_options={"scenes": {"driving": 1, "subpixel": 1}})
    mixed.setup("fit")
    assert mixed.val_datasets[0].scenes == mixed.train_dataset.datasets[0].scenes == {"driving": 1.0, "subpixel": 1.0}
    default = _synthetic_module()
    default.setup("fit")
    assert default.train_dataset.datasets[0].recipe == default.val_datasets[0].recipe == "v2"


def test_weighted_composition_of_real_layouts(tmp_path):
    roots = {"sintel": str(make_sintel(tmp_path / "sintel")), "kitti-2015": str(make_kitti(tmp_path / "kitti"))}
    module = FlowDataModule(train="sintel-clean+sintel-final+2*kitti-2015", val="sintel-final+kitti-2015", roots=roots,
                            crop_size=(8, 12), batch_size=4, num_workers=0)
    module.setup("fit")
    parts = module.train_dataset.datasets
    assert [type(p).__name__ for p in parts] == ["Sintel", "Sintel", "KITTI", "KITTI"]
    assert len(module.train_dataset) == 4 + 4 + 2 * 2
    assert [p.transform.sparse for p in parts] == [False, False, True, True]
    assert {p.name for p in parts} == {"sintel-clean", "sintel-final", "kitti-2015"}
    torch.manual_seed(0)
    batches = list(module.train_dataloader())
    assert len(batches) == 3 and all(b["image1"].shape == (4, 3, 8, 12) for b in batches)
    assert module.val_names == ["sintel-final", "kitti-2015"]
    sintel_val, kitti_val = module.val_datasets
    assert isinstance(sintel_val, Sintel) and isinstance(kitti_val, KITTI) and sintel_val.transform is None
    assert len(module.test_dataloader()) == 2  # test defaults to the validation sets


def test_dataset_options_reach_the_dataset_classes(tmp_path):
    root = make_things(tmp_path / "things", large={("future", 6): 600.0})
    module = FlowDataModule(train="things-clean", val="synthetic", roots={"things": str(root)}, num_workers=0,
                            dataset_options={"things": {"max_flow": 500, "max_flow_index": str(tmp_path / "m.json")}})
    module.setup("fit")
    (things,) = module.train_dataset.datasets
    pairs = [(s.image1.name, s.image2.name) for s in things.samples]
    assert pairs == [("0007.png", "0006.png"), ("0007.png", "0008.png"), ("0008.png", "0007.png")]  # 6 -> 7 dropped
    with pytest.raises(ValueError, match="dataset_options has unknown dataset families"):
        FlowDataModule(dataset_options={"thing": {}})


def test_roots_from_environment_and_data_dir(tmp_path, monkeypatch):
    make_sintel(tmp_path / "env_sintel")
    monkeypatch.setenv("ZOO_DATA_SINTEL", str(tmp_path / "env_sintel"))
    module = FlowDataModule(train="sintel-clean", val="sintel-clean", num_workers=0)
    assert module.root("sintel") == tmp_path / "env_sintel"
    monkeypatch.delenv("ZOO_DATA_SINTEL")
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "all"))
    assert FlowDataModule(num_workers=0).root("kitti-2015") == tmp_path / "all" / "KITTI2015"
    monkeypatch.delenv("ZOO_DATA")
    with pytest.raises(ValueError, match="ZOO_DATA_KITTI2012"):
        FlowDataModule(train="kitti-2012", num_workers=0).root("kitti-2012")


def test_bad_arguments():
    with pytest.raises(ValueError, match="plain names"):
        FlowDataModule(val="2*chairs")
    with pytest.raises(ValueError, match="unknown dataset families"):
        FlowDataModule(roots={"sintel-clean": "/x"})


def test_prepare_data_downloads_missing_public_sets(tmp_path, http_server, monkeypatch):
    buffer = io.BytesIO()
    original = make_sintel(tmp_path / "original", frames=2)
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(original.rglob("*")):
            if path.is_file():
                zf.write(path, str(path.relative_to(original)))
    http_server.routes["/sintel.zip"] = Route(buffer.getvalue())
    source = DataSource((http_server.url("/sintel.zip"),), hashlib.sha256(buffer.getvalue()).hexdigest())
    monkeypatch.setitem(FAMILIES, "sintel", dataclasses.replace(FAMILIES["sintel"], source=source))
    module = FlowDataModule(train="synthetic", val="sintel-clean", data_dir=str(tmp_path / "data"), download=True,
                            cache_dir=str(tmp_path / "cache"), num_workers=0)
    module.prepare_data()
    module.setup("validate")
    assert len(module.val_datasets[0]) == 2
    assert (tmp_path / "data" / "MPI-Sintel-complete" / "training" / "flow").is_dir()
