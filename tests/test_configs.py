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
    assert {path.parent.name for path in CONFIGS} == {"pwcnet", "nvae"} and len(CONFIGS) == 11


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
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "fit", "--config", "configs/pwcnet/synthetic.yaml",
                             "--print_config"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["trainer"]["max_steps"] == 9000
    assert "args parameter is intended" not in result.stderr
