"""What ``zoo.save_pretrained`` writes loads back: the folder, its safetensors file, ``weights=``
a folder, ``load_module`` and the CLI; hostile folders give one-line errors naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.weights.hf_hub import CONFIG_FILE, WEIGHTS_FILE

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """pwcnet.synth as loaded from the registry, and its save_pretrained folder."""
    original = zoo.load("pwcnet.synth")
    return original, zoo.save_pretrained(original, tmp_path_factory.mktemp("saved") / "p")


def _flow(network: torch.nn.Module) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(2, 1, 3, 64, 64, generator=generator)
    with torch.no_grad():
        return network(images[0], images[1])


def _same_network(loaded: torch.nn.Module, original: torch.nn.Module) -> None:
    # same process, same threads, same weights: the outputs are bit-identical
    assert torch.equal(_flow(loaded), _flow(original))
    assert loaded.zoo_record.arch == "pwcnet"
    assert loaded.zoo_record.weights.config == original.zoo_record.weights.config


@pytest.mark.parametrize("form", ["folder", "folder-str", "file", "weights-folder"])
def test_every_form_of_a_saved_folder_loads_the_same_network(saved, form):
    original, folder = saved
    loaded = {"folder": lambda: zoo.load(folder),
              "folder-str": lambda: zoo.load(str(folder)),
              "file": lambda: zoo.load(folder / WEIGHTS_FILE),
              "weights-folder": lambda: zoo.load("pwcnet", weights=folder)}[form]()
    _same_network(loaded, original)
    assert loaded.zoo_record.weights.name == str(folder / WEIGHTS_FILE if form == "file" else folder)


def test_load_module_takes_a_folder(saved):
    original, folder = saved
    module = zoo.load_module(folder)
    assert module.hparams.weights == str(folder)
    _same_network(zoo.load(folder), original)
    assert all(torch.equal(module.network.state_dict()[k], v) for k, v in original.state_dict().items())


def test_registry_name_wins_over_a_same_named_folder_unless_written_as_a_path(saved, tmp_path, monkeypatch):
    nvae_folder = zoo.save_pretrained("nvae.mnist-cpu", tmp_path / "pwcnet.synth")
    monkeypatch.chdir(tmp_path)
    assert zoo.load("pwcnet.synth").zoo_record.arch == "pwcnet"
    assert zoo.load(f".{os.sep}pwcnet.synth").zoo_record.arch == "nvae"
    with pytest.raises(ValueError, match=r"holds 'nvae' weights, not 'pwcnet'"):
        zoo.load("pwcnet", weights=nvae_folder)


def test_a_name_that_is_neither_says_so():
    with pytest.raises(KeyError, match=r"unknown architecture 'no/such'.*no local folder or weight file either"):
        zoo.load("no/such")


def _copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        (target / name).write_bytes((folder / name).read_bytes())
    return target


def _one_line(error: pytest.ExceptionInfo, *needles: str) -> None:
    message = str(error.value)
    assert "\n" not in message.strip("'\""), message
    for needle in needles:
        assert needle in message, message


def test_a_folder_missing_files_names_it_and_the_expected_files(saved, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError) as error:
        zoo.load(tmp_path / "empty")
    _one_line(error, str(tmp_path / "empty"), CONFIG_FILE, WEIGHTS_FILE)


@pytest.mark.parametrize("damage", ["malformed", "unknown-arch", "huge", "truncated", "other-arch-metadata"])
def test_hostile_folders_give_one_line_errors_naming_the_file(saved, tmp_path, damage):
    folder = _copy(saved[1], tmp_path / "bad")
    config = json.loads((folder / CONFIG_FILE).read_text())
    weights = folder / WEIGHTS_FILE
    if damage == "malformed":
        (folder / CONFIG_FILE).write_text('{"architecture": "pwcnet", ')
        expected = (str(folder / CONFIG_FILE), "not a readable zoo config.json")
    elif damage == "unknown-arch":
        (folder / CONFIG_FILE).write_text(json.dumps({**config, "architecture": "raft"}))
        expected = (str(folder), "disagrees")
    elif damage == "huge":
        (folder / CONFIG_FILE).write_text(json.dumps({**config, "pad": "x" * (2 << 20)}))
        expected = (str(folder / CONFIG_FILE), "a zoo config.json is a few kB")
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        expected = (str(weights), "truncated or damaged")
    else:
        (folder / CONFIG_FILE).write_text(json.dumps({**config, "architecture": "nvae"}))
        expected = (str(folder), "disagrees")
    with pytest.raises(ValueError) as error:
        zoo.load(folder)
    _one_line(error, *expected)


def test_unknown_architecture_in_matching_files_is_named(saved, tmp_path):
    from zoo.weights.checkpoint import save_weights

    folder = tmp_path / "raft"
    folder.mkdir()
    save_weights(folder / WEIGHTS_FILE, {"w": torch.zeros(1)}, arch="raft", config={}, info={})
    (folder / CONFIG_FILE).write_text(json.dumps({"architecture": "raft", "config": {}}))
    with pytest.raises(ValueError) as error:
        zoo.load(folder)
    _one_line(error, str(folder), "'raft'", "pwcnet")


def test_cli_flow_takes_the_folder_as_weights(saved, tmp_path):
    original, folder = saved
    frames = _two_frames(tmp_path)
    result = _zoo("flow", *frames, "-o", str(tmp_path / "f.flo"), "--weights", str(folder), "--precision", "float32")
    assert result.returncode == 0, result.stderr
    from zoo.cli.flow_estimation import read_frame
    from zoo.datamodules.flow.formats import read_flow
    from zoo.models.flow_inference import estimate_flow

    torch.set_num_threads(1)
    expected = estimate_flow(original, read_frame(Path(frames[0]))[None], read_frame(Path(frames[1]))[None])
    # another process, one thread on both sides: allclose, not bit-exact
    written = torch.from_numpy(read_flow(tmp_path / "f.flo")[0])
    assert (written - expected[0].permute(1, 2, 0)).abs().max() < 1e-4


def _two_frames(tmp_path: Path) -> list[str]:
    from PIL import Image

    generator = torch.Generator().manual_seed(1)
    paths = []
    for index in range(2):
        pixels = (torch.rand(48, 64, 3, generator=generator) * 255).to(torch.uint8).numpy()
        paths.append(str(tmp_path / f"{index}.png"))
        Image.fromarray(pixels).save(paths[-1])
    return paths


def _zoo(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *args], check=False, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def test_cli_info_describes_a_folder(saved):
    result = _zoo("info", str(saved[1]))
    assert result.returncode == 0, result.stderr
    rows = dict(line.split(None, 1) for line in result.stdout.splitlines() if line.strip() and " " in line.strip())
    assert rows["architecture"].strip() == "pwcnet" and rows["name"].strip() == str(saved[1])


def test_cli_sample_takes_a_folder(tmp_path):
    from zoo.datamodules.flow.formats import read_image

    folder = zoo.save_pretrained("nvae.mnist-cpu", tmp_path / "nvae")
    common = ("-n", "4", "--no-readjust-bn", "--seed", "3")
    for name, output in ((str(folder), "folder.png"), ("nvae.mnist-cpu", "registry.png")):
        result = _zoo("sample", name, *common, "-o", str(tmp_path / output))
        assert result.returncode == 0, result.stderr
    # two processes, one thread each: pixels may differ by a rounding step, never by more
    difference = abs(read_image(tmp_path / "folder.png") - read_image(tmp_path / "registry.png"))
    assert difference.max() <= 1 / 255 + 1e-6
