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
    # no "0 Total Flops" (uncounted, zoo/cli/lightning_noise.py): a real count only
    (r"[\d.]+ +[KMG]? +(Trainable params|Non-trainable params|Total params|Total estimated model params size \(MB\)"
    r"|Modules in train mode|Modules in eval mode)"),
    r"[\d.]+ [KMGT] +Total Flops",
    r"Restoring states from the checkpoint path at .+/last(-timed)?\.ckpt",
    r"Restored all states from the checkpoint at .+/last(-timed)?\.ckpt",
    r"`Trainer\.fit` stopped: `max_(steps|epochs)=\d+` reached\.",
    # off a terminal (zoo/cli/fit_progress.py)
    r"step \d+/\d+  loss -?[\d.e+-]+  [\d.e+-]+ steps/s  ETA (\d+h\d\dm|\d+m\d\ds|\d+s)",
    # --model.weights
    (r"weights: \S+ \((bundled with the package|file) .+\): loaded all \d+ tensors of the network, none missing, "
     r"none unexpected"),
    r"--ckpt_path last-or-new: no checkpoint in .+: starting a new run",
)]


def _run_fit(config: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "zoo.cli", "fit", "--config", str(config), *extra], check=False,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _fit(config: Path, *extra: str) -> list[str]:
    done = _run_fit(config, *extra)
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
    lines = _fit(_write(cfg, tmp_path / "run.yaml"), "--trainer.progress_every_s", "0")
    assert _unexpected(lines) == []
    assert "Using bfloat16 Automatic Mixed Precision (AMP)" in lines
    assert [line.split("  ")[0] for line in lines if line.startswith("step ")] == ["step 1/2", "step 2/2"]
    assert not any("Flops" in line or "FLOPs" in line for line in lines)
    assert "`Trainer.fit` stopped: `max_steps=2` reached." in lines
    assert (tmp_path / "run/lightning_logs/version_0/metrics.csv").is_file()  # the logs still go there


def test_nvae_mnist_fit_stopped_mid_epoch_and_resumed_prints_only_the_allowed_lines(shared_dir, tmp_path):
    from tests.models.nvae.test_training import TINY

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


def _synthetic_digits(tmp_path: Path, *, tiny: bool = True, callbacks: bool = True) -> dict:
    """The shipped smoke-test config, small: 8 images a split, the test network unless ``tiny`` is False."""
    from tests.models.nvae.test_training import TINY

    cfg = yaml.safe_load((ROOT / "configs/nvae/synthetic-digits-cpu.yaml").read_text())
    cfg["trainer"].update(default_root_dir=str(tmp_path / "run"), limit_val_batches=2, enable_progress_bar=False, max_epochs=50,
                          log_every_n_steps=1)
    if not callbacks:  # only the time-interval checkpoint zoo fit adds
        cfg["trainer"]["callbacks"] = [c for c in cfg["trainer"]["callbacks"] if "ModelCheckpoint" not in c["class_path"]]
    cfg["model"]["init_args"].update(sample_every_n_steps=0)
    if tiny:
        cfg["model"]["init_args"]["config"] = TINY
    cfg["data"]["init_args"].update(num_train=8, num_validation=4, num_test=4, batch_size=4,
                                    cache_dir=str(tmp_path / "cache"))
    return cfg


def test_fine_tuning_from_weights_says_what_it_loaded_and_shows_progress(tmp_path):
    """The shipped NVAE smoke test with the bundled weights, its network at full size, 2 steps."""
    import zoo
    from zoo.catalog.registry import weights_info
    from zoo.weights.cache import weights_file

    cfg = _synthetic_digits(tmp_path, tiny=False)
    cfg["trainer"].update(max_steps=2)
    lines = _fit(_write(cfg, tmp_path / "run.yaml"), "--model.init_args.weights", "nvae.mnist-cpu",
                 "--trainer.progress_every_s", "0")
    assert _unexpected(lines) == []
    loaded = [line for line in lines if line.startswith("weights: ")]
    count = len(zoo.load("nvae.mnist-cpu").state_dict())
    bundled = weights_file(weights_info("nvae.mnist-cpu"))
    assert loaded == [(f"weights: nvae.mnist-cpu (bundled with the package {bundled}): "
                       f"loaded all {count} tensors of the network, none missing, none unexpected")]
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split("  ")[0] for line in progress] == ["step 1/2", "step 2/2"]
    assert progress[-1].endswith("ETA 0s")
    assert not any("Flops" in line or "FLOPs" in line for line in lines)


def test_time_interval_checkpoint_is_written_and_resumed(tmp_path):
    """With the config's step checkpoints removed, the time checkpoint alone carries the run on."""
    from zoo.weights.checkpoint import read_checkpoint

    cfg = _synthetic_digits(tmp_path, callbacks=False)
    cfg["trainer"].update(max_steps=3)
    config = _write(cfg, tmp_path / "run.yaml")
    every_step = ("--trainer.checkpoint_every_minutes", "1e-6", "--trainer.progress_every_s", "0")
    first = _fit(config, *every_step)
    assert _unexpected(first) == []
    saved = tmp_path / "run" / "checkpoints"
    names = {p.name for p in saved.iterdir()}  # beside Lightning's default end-of-epoch checkpoint
    assert "last-timed.ckpt" in names and "last.ckpt" not in names
    assert read_checkpoint(saved / "last-timed.ckpt")["global_step"] == 3
    resumed = _fit(config, *every_step, "--trainer.max_steps", "5", "--ckpt_path", "last")
    assert _unexpected(resumed) == []
    assert f"Restored all states from the checkpoint at {saved / 'last-timed.ckpt'}" in resumed
    assert [line.split("  ")[0] for line in resumed if line.startswith("step ")] == ["step 4/5", "step 5/5"]
    assert read_checkpoint(saved / "last-timed.ckpt")["global_step"] == 5
    # switched off: no time checkpoint
    cfg["trainer"]["default_root_dir"] = str(tmp_path / "off")
    _fit(_write(cfg, tmp_path / "off.yaml"), "--trainer.checkpoint_every_minutes", "null")
    assert not (tmp_path / "off" / "checkpoints" / "last-timed.ckpt").exists()


def test_ckpt_path_last_without_a_checkpoint_stops_unless_asked_to_start(tmp_path):
    cfg = _synthetic_digits(tmp_path)
    cfg["trainer"].update(max_steps=1)
    config = _write(cfg, tmp_path / "run.yaml")
    refused = _run_fit(config, "--ckpt_path", "last")
    folder = os.path.realpath(tmp_path / "run" / "checkpoints")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"zoo: error: --ckpt_path last: no checkpoint to resume in {folder}; run without --ckpt_path to start a new "
        f"run, or with --ckpt_path last-or-new to resume when there is one")
    assert not (tmp_path / "run" / "checkpoints").exists()
    started = _fit(config, "--ckpt_path", "last-or-new")
    assert _unexpected(started) == []
    assert f"--ckpt_path last-or-new: no checkpoint in {folder}: starting a new run" in started
    assert "`Trainer.fit` stopped: `max_steps=1` reached." in started
    again = _fit(config, "--ckpt_path", "last-or-new", "--trainer.max_steps", "2")
    assert any(line.startswith("Restored all states from the checkpoint at ") for line in again)
