"""What ``zoo fit`` prints: only the lines listed in ALLOWED, through the real command in a
subprocess (a fresh interpreter, so no filter of this test process hides a line)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]

# every line a tiny fit may print (stdout and stderr together); see zoo/cli/lightning_noise.py
ALLOWED = [re.compile(pattern) for pattern in (
    r"",
    r"Seed set to \d+",
    r"GPU available: (True|False).*, used: (True|False)",
    r"Using bfloat16 Automatic Mixed Precision \(AMP\)",
    # the model summary
    r"  \| Name +\| Type .*",
    r"-+",
    r"\d+ \| \w+ +\| \w+ +\| .*",
    (r"[\d.]+ +[KMG]? +(Trainable params|Non-trainable params|Total params|Total estimated model params size \(MB\)"
    r"|Modules in train mode|Modules in eval mode|Total Flops)"),
    r"Restoring states from the checkpoint path at .+/last\.ckpt",
    r"Restored all states from the checkpoint at .+/last\.ckpt",
    r"`Trainer\.fit` stopped: `max_steps=\d+` reached\.",
)]


def _fit(config: Path, *extra: str) -> list[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "fit", "--config", str(config), *extra], check=False,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return (done.stdout + done.stderr).splitlines()


def _unexpected(lines: list[str]) -> list[str]:
    return [line for line in lines if not any(pattern.fullmatch(line) for pattern in ALLOWED)]


def _write(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_pwcnet_synthetic_fit_prints_only_the_allowed_lines(tmp_path):
    cfg = yaml.safe_load((ROOT / "configs/pwcnet/synthetic.yaml").read_text())
    cfg["trainer"].update(max_steps=2, log_every_n_steps=1, default_root_dir=str(tmp_path / "run"), enable_progress_bar=False)
    cfg["data"]["init_args"].update(crop_size=[64, 64], synthetic_size=[80, 96], synthetic_length=8,
                                    synthetic_val_length=1, batch_size=1)
    lines = _fit(_write(cfg, tmp_path / "run.yaml"))
    assert _unexpected(lines) == []
    assert "Using bfloat16 Automatic Mixed Precision (AMP)" in lines
    assert "`Trainer.fit` stopped: `max_steps=2` reached." in lines
    assert (tmp_path / "run/lightning_logs/version_0/metrics.csv").is_file()  # the logs still go there


def test_nvae_mnist_fit_stopped_mid_epoch_and_resumed_prints_only_the_allowed_lines(shared_dir, tmp_path):
    from tests.test_nvae_training import TINY

    mnist = shared_dir / "data" / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not in {mnist}")
    # the shipped config, tiny network: 3 steps of an epoch of 480 stop before the epoch's
    # validation, where its monitored ModelCheckpoint used to warn; the resume used to warn that
    # the loader is not resumable and that the checkpoint folder is not empty
    cfg = yaml.safe_load((ROOT / "configs/nvae/mnist-cpu.yaml").read_text())
    cfg["trainer"].update(max_steps=3, limit_val_batches=2, default_root_dir=str(tmp_path / "run"),
                          enable_progress_bar=False)
    cfg["model"]["init_args"].update(config=TINY, sample_every_n_steps=0)
    cfg["data"]["init_args"].update(data_dir=str(mnist), cache_dir=str(tmp_path / "cache"), batch_size=4)
    config = _write(cfg, tmp_path / "run.yaml")
    first = _fit(config)
    assert _unexpected(first) == []
    assert "Seed set to 0" in first and "`Trainer.fit` stopped: `max_steps=3` reached." in first
    assert any(line.startswith("0 | network | NVAE") for line in first)  # the summary stays
    resumed = _fit(config, "--trainer.max_steps", "5", "--ckpt_path", "last")
    assert _unexpected(resumed) == []
    assert any(line.startswith("Restored all states") for line in resumed)
