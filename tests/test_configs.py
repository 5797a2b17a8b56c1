"""Every config in ``configs/`` and the LightningCLI wrapper around them: progress bar, warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("**/*.yaml"))


def test_there_are_configs_of_both_families():
    assert {path.parent.name for path in CONFIGS} == {"pwcnet", "nvae"} and len(CONFIGS) == 15


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_no_config_turns_the_progress_bar_off(path):
    trainer = yaml.safe_load(path.read_text())["trainer"]
    assert "enable_progress_bar" not in trainer  # zoo fit decides from the terminal


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_bar_follows_the_terminal_unless_set(terminal, monkeypatch, capsys):
    from zoo.cli.train import run_lightning_cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    config = str(ROOT / "configs" / "pwcnet" / "synthetic.yaml")
    for extra, expected in (([], terminal), (["--trainer.enable_progress_bar", str(not terminal)], not terminal)):
        with pytest.raises(SystemExit):
            run_lightning_cli(["fit", "--config", config, *extra, "--print_config"])
        assert yaml.safe_load(capsys.readouterr().out)["trainer"]["enable_progress_bar"] is expected


def test_zoo_fit_gives_lightning_the_command_line_without_its_args_warning():
    command = [sys.executable, "-m", "zoo.cli", "fit", "--config", "configs/pwcnet/synthetic.yaml", "--print_config"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["trainer"]["max_steps"] == 9000
    assert "args parameter is intended" not in result.stderr


def _callbacks(trainer_config: dict) -> list:
    """The config's callbacks, built from their class_path and init_args."""
    import importlib

    built = []
    for entry in trainer_config.get("callbacks", []):
        module, _, name = entry["class_path"].rpartition(".")
        built.append(getattr(importlib.import_module(module), name)(**entry.get("init_args", {})))
    return built


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_config_resumes_from_its_root_with_ckpt_path_last(path, tmp_path):
    """Lightning's ``ckpt_path="last"`` looks for last.ckpt in the ModelCheckpoints' dirpath: every
    config keeps one ModelCheckpoint that saves last.ckpt, sets no dirpath, and zoo fit roots them
    all in ``<default_root_dir>/checkpoints``, one folder per config."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint

    from zoo.cli.train import root_checkpoints

    trainer_config = yaml.safe_load(path.read_text())["trainer"]
    checkpoints = [c for c in trainer_config["callbacks"] if c["class_path"].endswith(".ModelCheckpoint")]
    assert [c for c in checkpoints if c.get("init_args", {}).get("save_last")], "no ModelCheckpoint saves last.ckpt"
    assert not [c for c in checkpoints if "dirpath" in c.get("init_args", {})], "a dirpath would ignore the root"
    trainer = pl.Trainer(default_root_dir=tmp_path / "root", callbacks=_callbacks(trainer_config), accelerator="cpu",
                         devices=1, enable_progress_bar=False, enable_model_summary=False)
    root_checkpoints(trainer)
    assert len(trainer.checkpoint_callbacks) == len(checkpoints)
    assert {c.dirpath for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)} == {
        str(tmp_path / "root" / "checkpoints")}


def test_configs_have_one_root_each():
    roots = [yaml.safe_load(path.read_text())["trainer"]["default_root_dir"] for path in CONFIGS]
    assert len(set(roots)) == len(CONFIGS)  # two configs in one folder would resume each other's runs
