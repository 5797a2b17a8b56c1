"""``zoo sample`` off a terminal: progress lines on stderr for both phases, each with its time."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from zoo.cli import sample

ROOT = Path(__file__).resolve().parents[3]


def test_progress_lines_at_start_every_interval_and_end(capsys, monkeypatch):
    monkeypatch.setattr(sample, "PROGRESS_EVERY_S", 0.0)  # a line after every item but the last
    assert list(sample._progress_lines(range(3), "phase", "batch")) == [0, 1, 2]
    lines = capsys.readouterr().err.splitlines()
    assert lines[:3] == ["phase: 3 batches", "phase: batch 1/3, 0 s", "phase: batch 2/3, 0 s"]
    assert re.fullmatch(r"phase: done in \d+\.\d s", lines[3]) and len(lines) == 4
    monkeypatch.setattr(sample, "PROGRESS_EVERY_S", 3600.0)
    list(sample._progress_lines(range(1), "phase", "batch"))
    assert capsys.readouterr().err.splitlines()[0] == "phase: 1 batch"


def test_zoo_sample_off_a_terminal_says_what_it_is_doing(tmp_path):
    env = {**os.environ, "ZOO_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "sample", "nvae.mnist-cpu", "-n", "4", "--batch-size", "2",
                           "--readjust-batches", "2", "-o", str(tmp_path / "s.png")], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "re-estimating batch norms: 2 batches"
    assert re.fullmatch(r"re-estimating batch norms: done in \d+\.\d s", lines[-3])
    assert lines[-2] == "sampling 4 images: 2 batches"
    assert re.fullmatch(r"sampling 4 images: done in \d+\.\d s", lines[-1])
    assert done.stdout.strip() == f"wrote 4 samples at temperature 0.7 to {tmp_path / 's.png'}"
