"""One import name: the distribution installs ``zoo`` only (``zoo.models``, ``zoo.datamodules``),
so a user's own ``models`` / ``datamodules`` module beside their script changes nothing.

The user's modules here raise on import: any bare ``import models`` left in the zoo fails the
run loudly instead of picking up the user's code by chance.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BARE_IMPORT = re.compile(r"^\s*(from|import)\s+(models|datamodules)(\.|\s|$)"
                         r"|class_path:\s*(models|datamodules)\."
                         r"|[\"'](models|datamodules)\.[a-z_]+\.[a-z_]", re.MULTILINE)
LEGACY_NAMES_ON_PURPOSE = {"tests/zoo/cli/test_fit_legacy_checkpoints.py"}  # reads zoo 0.1 checkpoints
USER_MODULE = "raise ImportError('the user\\'s own {name} was imported by the zoo')\n"

# Each command in one process, as ``zoo.cli.main`` runs it; the user's folder is sys.path[0].
COMMANDS = """
import json, sys
from pathlib import Path
from zoo.cli import main


def run_all(work):
    runs = [
        ["list"], ["info", "pwcnet.synth"],
        ["flow", str(work / "a.png"), str(work / "b.png"), "--weights", "pwcnet.synth", "-o", str(work / "f.flo")],
        ["sample", "nvae.mnist-cpu", "-n", "2", "--no-readjust-bn", "-o", str(work / "s.png")],
        ["reconstruct", "nvae.mnist-cpu", str(work / "d.png"), "-o", str(work / "r.png")],
        ["interpolate", "nvae.mnist-cpu", str(work / "d.png"), str(work / "d.png"), "--steps", "3",
         "-o", str(work / "i.png")],
        ["export", "pwcnet.synth", "-o", str(work / "e.safetensors")],
        ["eval", "pwcnet.synth", "--data", "synthetic", "--synthetic-size", "64", "96", "--synthetic-pairs", "2"],
        ["benchmark", "pwcnet.synth", "--size", "64", "96", "--repeats", "1", "--warmup", "0"],
    ]
    return {" ".join(run[:2]): main(run) for run in runs}


if __name__ == "__main__":  # zoo benchmark measures memory in a spawned process
    print("STATUS", json.dumps(run_all(Path(sys.argv[1]))))
"""

API = """
import sys, torch, zoo
flow_net = zoo.load("pwcnet.synth")
frames = torch.rand(1, 3, 64, 96)
print("FLOW", tuple(flow_net(frames, frames).shape))
print("MODULE", type(zoo.load_module("pwcnet.synth")).__module__)
print("VAE", tuple(zoo.load("nvae.mnist-cpu").sample(2, temperature=0.5).shape))
print("FILES", zoo.__file__, sys.modules["zoo.models"].__file__, sys.modules["zoo.datamodules"].__file__)
"""


def _user_project(folder: Path, layout: str) -> None:
    """``models`` and ``datamodules`` of a user's project in ``folder``, as modules or packages."""
    for name in ("models", "datamodules"):
        if layout == "modules":
            (folder / f"{name}.py").write_text(USER_MODULE.format(name=f"{name}.py"))
        else:
            (folder / name).mkdir()
            (folder / name / "__init__.py").write_text(USER_MODULE.format(name=f"{name}/"))


def _run(args: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ZOO_OFFLINE")}
    environment.update(OMP_NUM_THREADS="1", ZOO_OFFLINE="1", **env)
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def _write_inputs(folder: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    texture = (rng.random((72, 104, 3)) * 255).astype(np.uint8)
    Image.fromarray(texture[:64, :96]).save(folder / "a.png")
    Image.fromarray(texture[2:66, 3:99]).save(folder / "b.png")
    Image.fromarray((rng.random((32, 32)) > 0.5).astype(np.uint8) * 255).save(folder / "d.png")


@pytest.mark.parametrize("layout", ["modules", "packages"])
def test_a_users_models_and_datamodules_change_nothing(layout: str, tmp_path: Path) -> None:
    """``zoo.load``, ``zoo.load_module`` and the commands run, from a script and with ``python
    -m zoo.cli``, beside a user's ``models`` / ``datamodules`` that is first on ``sys.path``."""
    _user_project(tmp_path, layout)
    _write_inputs(tmp_path)
    (tmp_path / "train.py").write_text(API)
    api = _run([sys.executable, "train.py"], tmp_path)
    assert api.returncode == 0, api.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in api.stdout.splitlines())
    assert lines["FLOW"] == "(1, 2, 64, 96)"
    assert lines["MODULE"] == "zoo.models.pwcnet.module"
    assert lines["VAE"] == "(2, 1, 32, 32)"
    for path in lines["FILES"].split():
        assert not Path(path).is_relative_to(tmp_path), f"the zoo came from the user's folder: {path}"

    (tmp_path / "commands.py").write_text(COMMANDS)
    commands = _run([sys.executable, "commands.py", str(tmp_path)], tmp_path, PYTHONPATH=str(tmp_path))
    assert commands.returncode == 0, commands.stderr[-3000:]
    status = next(line for line in commands.stdout.splitlines() if line.startswith("STATUS"))
    assert set(re.findall(r": (\d+)", status)) == {"0"}, f"{status}\n{commands.stderr[-3000:]}"
    assert (tmp_path / "f.flo").stat().st_size == 12 + 64 * 96 * 8
    module_run = _run([sys.executable, "-m", "zoo.cli", "info", "nvae.mnist-cpu"], tmp_path)
    assert module_run.returncode == 0 and "nvae" in module_run.stdout, module_run.stderr[-3000:]


def test_zoo_fit_beside_a_users_models_package(tmp_path: Path) -> None:
    """``zoo fit`` (LightningCLI imports the config's ``class_path`` names) beside a user's
    ``models/`` and ``datamodules/``: one training step of the synthetic PWC-Net config."""
    _user_project(tmp_path, "packages")
    config = ROOT / "configs" / "pwcnet" / "synthetic.yaml"
    fit = _run([sys.executable, "-m", "zoo.cli", "fit", "--config", str(config),
                "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0", "--trainer.logger", "false",
                "--trainer.enable_checkpointing", "false", "--trainer.callbacks", "[]",
                "--trainer.default_root_dir", str(tmp_path / "run"), "--model.log_images_every_n_steps", "0",
                "--data.crop_size", "[64, 64]", "--data.synthetic_size", "[96, 128]",
                "--data.synthetic_length", "2", "--data.batch_size", "1"], tmp_path)
    assert fit.returncode == 0, fit.stderr[-3000:]
    assert "max_steps=1" in fit.stderr + fit.stdout


def test_no_file_uses_the_bare_import_names() -> None:
    """Every import, ``class_path`` and module-path string names ``zoo.models`` /
    ``zoo.datamodules``; the bare names are not installed."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    found = []
    for name in tracked.splitlines():
        if (Path(name).suffix in {".py", ".yaml", ".yml", ".md", ".cfg", ".toml"} and (ROOT / name).is_file()
                and name not in LEGACY_NAMES_ON_PURPOSE):
            for match in BARE_IMPORT.finditer((ROOT / name).read_text(errors="replace")):
                found.append(f"{name}: {match.group(0).strip()}")
    assert found == []


def test_the_installed_distribution_has_one_import_name() -> None:
    assert metadata.distribution("zoo").read_text("top_level.txt").split() == ["zoo"]


def test_a_wheel_installs_zoo_alone_and_runs_the_demo(tmp_path: Path) -> None:
    """A wheel built from the repository holds ``zoo/`` (with ``zoo/models``, ``zoo/datamodules``,
    the bundled weights and the catalog) and its metadata, nothing else at the top; unpacked on
    its own it runs ``zoo demo`` offline, importing nothing from the checkout."""
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                  "-w", str(tmp_path / "dist"), str(ROOT)], tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("zoo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = archive.read(next(n for n in names if n.endswith(".dist-info/top_level.txt"))).decode()
        archive.extractall(tmp_path / "site")
    assert top_level.split() == ["zoo"]
    assert {name.split("/")[0] for name in names} == {"zoo", wheel.name.split("-py")[0] + ".dist-info"}
    for member in ("zoo/models/pwcnet/network.py", "zoo/datamodules/flow/formats.py",
                   "zoo/weights/pwcnet-synth.safetensors", "zoo/catalog/measured.json"):
        assert member in names
    work = tmp_path / "work"
    work.mkdir()
    _user_project(work, "packages")
    code = "import sys, zoo; from zoo.cli import main; print('FROM', zoo.__file__); sys.exit(main(['demo']))"
    demo = _run([sys.executable, "-c", code], work, PYTHONPATH=str(tmp_path / "site"))
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert Path(demo.stdout.split("FROM ", 1)[1].split()[0]).is_relative_to(tmp_path / "site")
    assert {p.name for p in (work / "demo").iterdir()} >= {"frame1.png", "frame2.png"}


def test_imports_flow_from_zoo_down() -> None:
    """Nothing in ``models/`` or ``datamodules/`` imports the rooms of ``zoo/`` (catalog, weights,
    publish, measure, cli ...): imports flow from the face users touch down, never back up."""
    import ast

    upward = []
    for folder in ("models", "datamodules"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                upward += [f"{path.relative_to(ROOT)}: {name}" for name in names
                           if name.split(".")[0] == "zoo" and not name.startswith(("zoo.models", "zoo.datamodules"))]
    assert upward == []
