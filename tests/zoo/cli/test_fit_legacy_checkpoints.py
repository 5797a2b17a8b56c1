"""Checkpoints written before the package moved under ``zoo`` (zoo 0.1: hyper-parameters name
``models.nvae.module.NVAEModule``) still fine-tune and resume.

``tests/data/nvae_tiny_zoo_0_1.ckpt`` was written by ``zoo fit`` at commit 276b269 (the last
commit with the bare import names): the mnist-cpu config with a tiny network (the ``NVAE_TINY``
below), 12 batches of 4 an epoch, stopped at step 4.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from tests.support.hostile import ROOT, run_cli
from zoo.cli.train import current_class_path

LEGACY = ROOT / "tests" / "data" / "nvae_tiny_zoo_0_1.ckpt"
NVAE_TINY = {"image_size": 32, "image_channels": 1, "decoder_distribution": "bernoulli", "crop_border": 2,
             "arch_instance": "res_bnswish", "num_channels_enc": 4, "num_channels_dec": 4, "num_latent_scales": 2,
             "num_groups_per_scale": 2, "ada_groups": True, "num_latent_per_group": 2, "num_preprocess_blocks": 1,
             "num_preprocess_cells": 1, "num_postprocess_blocks": 1, "num_postprocess_cells": 1,
             "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1, "use_se": True, "res_dist": True, "num_nf": 0}


def test_the_legacy_checkpoint_names_the_old_classes() -> None:
    saved = torch.load(LEGACY, map_location="cpu", weights_only=True)
    assert saved["hyper_parameters"]["_class_path"] == "models.nvae.module.NVAEModule"
    assert saved["global_step"] == 4


def test_old_class_paths_read_as_the_zoo_namespace() -> None:
    assert current_class_path("models.nvae.module.NVAEModule") == "zoo.models.nvae.module.NVAEModule"
    assert current_class_path("datamodules.images.mnist.MNISTDataModule") == (
        "zoo.datamodules.images.mnist.MNISTDataModule")
    assert current_class_path("zoo.models.pwcnet.module.PWCNetModule") == "zoo.models.pwcnet.module.PWCNetModule"
    assert current_class_path("my_models.Net") == "my_models.Net"


def test_a_legacy_checkpoint_fine_tunes() -> None:
    """``weights=`` of a zoo 0.1 ``.ckpt``: the network holds exactly the checkpoint's weights."""
    import zoo

    saved = torch.load(LEGACY, map_location="cpu", weights_only=True)["state_dict"]
    expected = {k.removeprefix("network."): v for k, v in saved.items() if k.startswith("network.")}
    network = zoo.load("nvae", weights=LEGACY)
    assert network.state_dict().keys() == expected.keys()
    assert all(torch.equal(network.state_dict()[k], v) for k, v in expected.items())
    module = zoo.load_module("nvae", weights=LEGACY)
    assert all(torch.equal(module.network.state_dict()[k], v) for k, v in expected.items())


def test_a_legacy_checkpoint_resumes(tmp_path: Path, shared_dir: Path) -> None:
    """``zoo fit --ckpt_path`` of the zoo 0.1 checkpoint resumes at its step 4 and trains on."""
    config = yaml.safe_load((ROOT / "configs" / "nvae" / "mnist-cpu.yaml").read_text())
    config["trainer"].update(log_every_n_steps=1, enable_progress_bar=False, limit_train_batches=12, max_epochs=1)
    starts = tmp_path / "starts.txt"
    config["trainer"]["callbacks"] = [{"class_path": "tests.support.callbacks.RecordStartStep",
                                       "init_args": {"path": str(starts)}}]
    config["model"]["init_args"].update(config=NVAE_TINY, sample_every_n_steps=0, test_num_samples=2)
    config["data"]["init_args"].update(data_dir=str(shared_dir / "data" / "mnist"), cache_dir=str(tmp_path / "cache"),
                                       batch_size=4, num_validation=8)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    run = run_cli("fit", "--config", tmp_path / "run.yaml", "--trainer.default_root_dir", tmp_path / "root",
                  "--trainer.max_steps", "6", "--ckpt_path", LEGACY, cwd=tmp_path, timeout=600)
    assert run.rc == 0, run.stderr[-3000:]
    assert starts.read_text().split() == ["4"]
