"""A ``zoo fit`` run killed mid-epoch and resumed with ``--ckpt_path`` draws exactly the samples
of the uninterrupted run, for both training modules (issue 26, item 4).

Each run records the dataset index of every training sample it loads
(:class:`tests.support.drawn_samples.RecordDrawnSamples`). The epoch has 12 batches; a
``ModelCheckpoint`` saves every 4 steps and the run is killed after step 6 (two batches after the
checkpoint, which the resumed run must draw again, the same). NVAE's ``configure_optimizers``
reads ``trainer.estimated_stepping_batches``, which builds the training loader before Lightning
restores the checkpoint: before the fix its resumed run drew the epoch's first samples again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from tests.support.drawn_samples import drawn_samples
from zoo.cli import main

KILL_AT, EVERY, BATCHES = 6, 4, 12
TINY_NVAE = {"image_size": 32, "image_channels": 1, "decoder_distribution": "bernoulli", "crop_border": 2,
             "arch_instance": "res_bnswish", "num_channels_enc": 4, "num_channels_dec": 4,
             "num_latent_scales": 1, "num_groups_per_scale": 2, "ada_groups": False, "num_latent_per_group": 2,
             "num_preprocess_blocks": 1, "num_preprocess_cells": 1, "num_postprocess_blocks": 1,
             "num_postprocess_cells": 1, "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1,
             "use_se": False, "res_dist": True, "num_nf": 0}


def _model_and_data(arch: str, data_dir: Path | None, batch_size: int) -> tuple[dict, dict]:
    if arch == "pwcnet":
        return ({"class_path": "zoo.models.pwcnet.module.PWCNetModule",
                 "init_args": {"lr": 1e-4, "log_images_every_n_steps": 0}},
                {"class_path": "zoo.datamodules.flow.datamodule.FlowDataModule",
                 "init_args": {"train": "synthetic", "val": "synthetic", "crop_size": [64, 64],
                               "synthetic_size": [64, 80], "synthetic_length": BATCHES * batch_size,
                               "synthetic_val_length": 1, "batch_size": batch_size, "num_workers": 0}})
    return ({"class_path": "zoo.models.nvae.module.NVAEModule",
             "init_args": {"config": TINY_NVAE, "sample_every_n_steps": 0, "warmup_epochs": 1}},
            {"class_path": "zoo.datamodules.images.mnist.MNISTDataModule",
             "init_args": {"data_dir": str(data_dir), "batch_size": batch_size, "num_workers": 0}})


def fit_config(folder: Path, arch: str, record: Path, *, data_dir: Path | None = None, kill_at: int | None = None,
               batch_size: int = 2, callbacks: tuple[dict, ...] = (), name: str | None = None,
               logger: bool = False) -> Path:
    """One epoch of 12 batches, a checkpoint every 4 steps in ``folder/checkpoints``, every drawn
    sample recorded in ``record``; ``kill_at`` crashes the run after that step; ``callbacks``
    are added; the config is written as ``folder/name``."""
    model, data = _model_and_data(arch, data_dir, batch_size)
    callbacks = [{"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                  "init_args": {"save_last": True, "every_n_train_steps": EVERY, "save_top_k": -1}},
                 {"class_path": "tests.support.drawn_samples.RecordDrawnSamples", "init_args": {"path": str(record)}},
                 *callbacks]
    if kill_at is not None:
        callbacks.append({"class_path": "tests.support.pwcnet_training_support.KillAtStep",
                          "init_args": {"step": kill_at}})
    config = {"seed_everything": 0,
              "trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "limit_train_batches": BATCHES,
                          "limit_val_batches": 0, "logger": logger, "log_every_n_steps": 1, "enable_progress_bar": False,
                          "enable_model_summary": False, "num_sanity_val_steps": 0, "default_root_dir": str(folder),
                          "callbacks": callbacks},
              "model": model, "data": data}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or f"run-{kill_at}-{batch_size}.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def kill_and_resume(tmp_path: Path, arch: str, data_dir: Path | None, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Drawn samples of the uninterrupted run, the killed run and the resumed run."""
    from tests.support.pwcnet_training_support import Killed

    records = {name: tmp_path / f"{name}.txt" for name in ("whole", "killed", "resumed")}
    assert main(["fit", "--config", str(fit_config(tmp_path / "whole", arch, records["whole"], data_dir=data_dir))]) == 0
    monkeypatch.setenv("ZOO_DEBUG", "1")  # the kill itself, not zoo's one-line report of it
    with pytest.raises(Killed):
        main(["fit", "--config", str(fit_config(tmp_path / "run", arch, records["killed"], data_dir=data_dir,
                                                 kill_at=KILL_AT))])
    monkeypatch.delenv("ZOO_DEBUG")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == EVERY
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"][0]["batches_drawn"] == EVERY
    config = fit_config(tmp_path / "run", arch, records["resumed"], data_dir=data_dir)
    assert main(["fit", "--config", str(config), "--ckpt_path", str(last)]) == 0
    return {name: drawn_samples(path) for name, path in records.items()}


def _assert_exact_resume(drawn: dict, batch_size: int = 2) -> None:
    whole, killed, resumed = drawn["whole"], drawn["killed"], drawn["resumed"]
    assert len(whole) == BATCHES * batch_size and len(set(whole)) == len(whole)  # one epoch, no repeats
    assert killed == whole[:KILL_AT * batch_size]
    # the resumed run starts at the checkpoint's sample (not at the epoch's first) and ends the epoch
    assert resumed == whole[EVERY * batch_size:], (resumed[:8], whole[:8])


def test_pwcnet_killed_mid_epoch_draws_the_uninterrupted_runs_samples(tmp_path: Path, monkeypatch) -> None:
    _assert_exact_resume(kill_and_resume(tmp_path, "pwcnet", None, monkeypatch))


def test_nvae_killed_mid_epoch_draws_the_uninterrupted_runs_samples(shared_dir: Path, tmp_path: Path,
                                                                    monkeypatch) -> None:
    mnist = shared_dir / "data" / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not in {mnist}")
    _assert_exact_resume(kill_and_resume(tmp_path, "nvae", mnist, monkeypatch))
