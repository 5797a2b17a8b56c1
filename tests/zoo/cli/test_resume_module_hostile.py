"""``zoo fit --ckpt_path`` with a checkpoint of the other architecture's module (issue 26, item 15):
refused in one line naming both module classes and the file, before anything is built or written
(Lightning would switch the model to the checkpoint's class and fail later, or exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datamodules.test_mid_epoch_resume import fit_config
from tests.support.hostile import assert_one_line_error, call_cli
from tests.support.output_spellings import snapshot

pytestmark = [pytest.mark.hostile, pytest.mark.usefixtures("zoo_argv")]

DATA = Path(__file__).resolve().parents[2] / "data"
NVAE_CKPT = DATA / "nvae_tiny_zoo_0_1.ckpt"  # a zoo 0.1 checkpoint: its class path is models.nvae.module.NVAEModule
PWCNET_MODULE, NVAE_MODULE = "zoo.models.pwcnet.module.PWCNetModule", "zoo.models.nvae.module.NVAEModule"


def test_pwcnet_config_with_an_nvae_checkpoint(tmp_path: Path) -> None:
    config = fit_config(tmp_path / "run", "pwcnet", tmp_path / "drawn.txt")
    before = snapshot(tmp_path)
    result = call_cli("fit", "--config", config, "--ckpt_path", NVAE_CKPT)
    assert_one_line_error(result, f"--ckpt_path {NVAE_CKPT}", f"the checkpoint is of {NVAE_MODULE}",
                          f"the config's model is {PWCNET_MODULE}")
    assert snapshot(tmp_path) == before and not (tmp_path / "drawn.txt").exists()


def test_nvae_config_with_a_pwcnet_checkpoint(tmp_path: Path) -> None:
    pwcnet_run = fit_config(tmp_path / "pwcnet", "pwcnet", tmp_path / "pwcnet.txt")
    assert call_cli("fit", "--config", pwcnet_run, "--trainer.max_steps", "1").rc == 0
    ckpt = tmp_path / "pwcnet" / "checkpoints" / "last.ckpt"
    config = fit_config(tmp_path / "nvae", "nvae", tmp_path / "nvae.txt", data_dir=tmp_path / "no-mnist")
    before = snapshot(tmp_path / "nvae")
    result = call_cli("fit", "--config", config, "--ckpt_path", ckpt)
    assert_one_line_error(result, f"--ckpt_path {ckpt}", f"the checkpoint is of {PWCNET_MODULE}",
                          f"the config's model is {NVAE_MODULE}")
    assert snapshot(tmp_path / "nvae") == before
