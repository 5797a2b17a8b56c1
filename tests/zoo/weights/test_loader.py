"""Registry, safe checkpoint reading and ``zoo.load`` on a small architecture registered here.

The architecture ``tinynet`` stands for any zoo architecture: a two-layer network whose foreign
("upstream") layout names its layers differently, so that layout detection and conversion are
exercised end to end with real files.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
from pathlib import Path

import pytest
import torch

import zoo
from tests.support.http_server import Route
from tests.support.tinynet import TinyNet, example_input, reference_output, upstream_state
from zoo.catalog import registry
from zoo.cli import main
from zoo.weights import checkpoint


def test_weights_info_is_immutable_and_validated():
    info = registry.WeightsInfo(name="a.b", layout="zoo", config={"x": 1},
                                metrics={"sintel": {"epe": 2.5}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.layout = "other"
    with pytest.raises(TypeError):
        info.config["x"] = 2
    with pytest.raises(TypeError):
        info.metrics["sintel"]["epe"] = 1.0
    with pytest.raises(ValueError, match="hex"):
        registry.WeightsInfo(name="a.b", layout="zoo", sha256="xyz")
    assert info.arch == "a" and info.tag == "b"


def test_list_and_lookup(tinynet):
    tinynet.register_weights(registry.WeightsInfo(name="tinynet.alpha", layout="tinynet-upstream",
                                                  urls=("http://127.0.0.1:9/a.pth",)))
    assert "tinynet" in zoo.list_models("tiny*")
    assert zoo.list_models("tiny*", pretrained=True) == ["tinynet.alpha"]
    assert zoo.list_weights("tinynet") == ["tinynet.alpha"]
    assert zoo.weights_info("tinynet.alpha").layout == "tinynet-upstream"
    with pytest.raises(KeyError, match="available for 'tinynet': tinynet.alpha"):
        zoo.weights_info("tinynet.beta")
    with pytest.raises(KeyError, match="unknown architecture 'nope'; available: .*tinynet"):
        zoo.load("nope")
    with pytest.raises(KeyError, match="no default weights"):
        zoo.weights_info("tinynet")


def test_load_converts_a_foreign_file(tinynet, tmp_path):
    state = upstream_state(width=6)
    path = tmp_path / "upstream.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    net = zoo.load("tinynet", weights=path)
    assert not net.training and net.stem.out_channels == 6  # width came from the file
    torch.testing.assert_close(net(example_input()), reference_output(state, 6), rtol=0, atol=0)


def test_load_by_tag_downloads_and_verifies(tinynet, http_server):
    state = upstream_state()
    buffer = Path(os.environ["ZOO_HOME"]) / "upload.pth"
    torch.save(state, buffer)
    body = buffer.read_bytes()
    http_server.routes["/tiny/alpha.pth"] = Route(body)
    tinynet.register_weights(registry.WeightsInfo(
        name="tinynet.alpha", layout="tinynet-upstream", urls=(http_server.url("/tiny/alpha.pth"),),
        sha256=hashlib.sha256(body).hexdigest()[:8]))
    net = zoo.load("tinynet.alpha")
    torch.testing.assert_close(net(example_input()), reference_output(state), rtol=0, atol=0)
    zoo.load("tinynet", weights="alpha")
    assert http_server.hits["/tiny/alpha.pth"] == 1


def test_manual_weights_explain_and_import(tinynet, tmp_path, capsys):
    tinynet.register_weights(registry.WeightsInfo(
        name="tinynet.manual", layout="tinynet-upstream", file_name="checkpoint.pt",
        manual_download="Fetch checkpoint.pt from the authors' drive folder."))
    with pytest.raises(FileNotFoundError, match="drive folder.*zoo import tinynet.manual"):
        zoo.load("tinynet.manual")
    state = upstream_state(seed=3)
    source = tmp_path / "checkpoint.pt"
    torch.save({"state_dict": state, "args": argparse.Namespace(width=4)}, source)
    assert main(["import", "tinynet.manual", str(source)]) == 0
    net = zoo.load("tinynet.manual")
    torch.testing.assert_close(net(example_input()), reference_output(state), rtol=0, atol=0)


def test_zoo_safetensors_round_trip(tinynet, tmp_path):
    net = TinyNet(5)
    path = checkpoint.save_weights(tmp_path / "w.safetensors", net.state_dict(), arch="tinynet",
                                   config={"width": 5}, info={"recipe": "none"})
    loaded = zoo.load("tinynet", weights=path)
    torch.testing.assert_close(loaded(example_input()), net(example_input()), rtol=0, atol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]  # no temporary left
    half = checkpoint.save_weights(tmp_path / "h.safetensors", net.state_dict(), arch="tinynet",
                                   config={"width": 5}, dtype=torch.float16)
    assert checkpoint.read_checkpoint(half)["state_dict"]["stem.weight"].dtype == torch.float16
    assert zoo.load("tinynet", weights=half).stem.weight.dtype == torch.float32


def test_lightning_checkpoint_of_our_module_loads(tinynet, tmp_path):
    net = TinyNet(4)
    path = tmp_path / "last.ckpt"
    torch.save({"pytorch-lightning_version": "2.6.0", "epoch": 1,
                "state_dict": {f"network.{k}": v for k, v in net.state_dict().items()},
                "zoo": {"arch": "tinynet", "config": {"width": 4}}}, path)
    torch.testing.assert_close(zoo.load("tinynet", weights=path)(example_input()), net(example_input()))


def test_missing_and_unexpected_keys_are_listed(tinynet, tmp_path):
    net = TinyNet(4)
    state = {k: v for k, v in net.state_dict().items() if k != "head.bias"}
    state["extra.weight"] = torch.zeros(1)
    path = checkpoint.save_weights(tmp_path / "bad.safetensors", state, arch="tinynet",
                                   config={"width": 4})
    with pytest.raises(ValueError) as error:
        zoo.load("tinynet", weights=path)
    assert "missing keys (1): head.bias" in str(error.value)
    assert "unexpected keys (1): extra.weight" in str(error.value)
    assert str(path) in str(error.value)


def test_unknown_layout_lists_known_ones(tinynet, tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"encoder.0.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="known layouts: zoo, zoo-lightning, tinynet-upstream.*encoder.0.weight"):
        zoo.load("tinynet", weights=path)


def test_other_architecture_is_refused(tinynet, tmp_path):
    path = checkpoint.save_weights(tmp_path / "w.safetensors", TinyNet().state_dict(),
                                   arch="pwcnet", config={})
    with pytest.raises(ValueError, match="holds 'pwcnet' weights, not 'tinynet'"):
        zoo.load("tinynet", weights=path)


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_pickle_never_runs(tinynet, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": upstream_state(), "payload": _Exploit(marker)}, path)
    with pytest.raises(ValueError, match="refused to load"):
        zoo.load("tinynet", weights=path)
    assert not marker.exists()


def test_namespace_is_allowed(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"state_dict": {}, "args": argparse.Namespace(dataset="mnist", num_nf=0)}, path)
    assert checkpoint.read_checkpoint(path)["args"].dataset == "mnist"


def test_not_a_weight_file(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(ValueError, match="notes.pth"):
        checkpoint.read_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        checkpoint.read_checkpoint(tmp_path / "missing.pth")


def test_cli_list_info_and_errors(tinynet, capsys):
    tinynet.register_weights(registry.WeightsInfo(
        name="tinynet.alpha", layout="tinynet-upstream", urls=("http://127.0.0.1:9/a.pth",),
        metrics={"sintel-clean": {"epe": 2.55}}, license="MIT"))
    assert main(["list", "tinynet*"]) == 0
    assert capsys.readouterr().out.split() == ["tinynet", "tinynet.alpha"]
    assert main(["info", "tinynet.alpha"]) == 0
    out = capsys.readouterr().out
    assert "sintel-clean: epe 2.55" in out and "tinynet-upstream" in out and "MIT" in out
    assert main(["info", "tinynet.gamma"]) == 1
    assert capsys.readouterr().err.startswith("zoo: error: unknown weights 'tinynet.gamma'")
    with pytest.raises(SystemExit) as exit_info:
        main(["info", "--help"])
    assert exit_info.value.code == 0


def test_cli_download_then_offline_load(tinynet, http_server, capsys, monkeypatch):
    buffer = Path(os.environ["ZOO_HOME"]) / "upload.pth"
    torch.save(upstream_state(), buffer)
    body = buffer.read_bytes()
    http_server.routes["/tiny/alpha.pth"] = Route(body)
    tinynet.register_weights(registry.WeightsInfo(
        name="tinynet.alpha", layout="tinynet-upstream", urls=(http_server.url("/tiny/alpha.pth"),),
        sha256=hashlib.sha256(body).hexdigest()))
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert main(["download", "tinynet.alpha"]) == 1
    assert "ZOO_OFFLINE" in capsys.readouterr().err and http_server.hits["/tiny/alpha.pth"] == 0
    monkeypatch.delenv("ZOO_OFFLINE")
    assert main(["download", "tinynet.alpha"]) == 0
    assert Path(capsys.readouterr().out.strip()).read_bytes() == body
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    zoo.load("tinynet.alpha")
    assert http_server.hits["/tiny/alpha.pth"] == 1


def test_the_hub_and_the_plain_commands_do_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, zoo.weights.cache, zoo.catalog.registry, zoo.cli; zoo.cli.main(['list']); zoo.cli.main(['info', 'pwcnet.synth']); "
            "print(sorted(m for m in ('torch', 'pytorch_lightning') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3]).stdout
    assert "pwcnet.synth" in out and out.splitlines()[-1] == "[]"


def test_written_files_get_the_usual_permissions(tmp_path):
    from zoo.datamodules.files.atomic import write_atomic

    mask = os.umask(0o022)
    os.umask(mask)
    write_atomic(tmp_path / "a.bin", b"x")
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o666 & ~mask
