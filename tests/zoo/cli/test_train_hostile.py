"""``zoo fit --ckpt_path`` of a file it cannot resume (issue 26, items 15 and 18): a truncated
checkpoint (a ``PytorchStreamReader`` error before the lead's fix), a checkpoint of Lightning 1.0
(it failed deep in the restore with "loaded state dict has a different number of parameter
groups"), a bare state dict. Each is one line naming the file; the old checkpoint's weights still
start a run through ``--model.weights``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from tests.support.hostile import ROOT, assert_one_line_error, run_cli, truncated_copy

pytestmark = pytest.mark.hostile

SHRUNK = ("--trainer.max_steps", "2", "--data.init_args.synthetic_size", "[96, 128]", "--data.init_args.crop_size",
          "[64, 64]", "--trainer.precision", "32", "--data.init_args.batch_size", "1",
          "--trainer.enable_progress_bar", "false")


def _fit(checkpoint: Path, root: Path):
    return run_cli("fit", "--config", ROOT / "configs" / "pwcnet" / "synthetic.yaml", "--ckpt_path", checkpoint,
                   "--trainer.default_root_dir", root, *SHRUNK, timeout=300)


@pytest.fixture(scope="module")
def lightning_1_0(tmp_path_factory) -> Path:
    """What Lightning 1.0.8's ``Trainer.save_checkpoint`` wrote (its ``dump_checkpoint``: epoch,
    global_step, version, best-model fields, optimizer and scheduler states, state_dict; no
    ``loops``), for our PWC-Net module."""
    module = zoo.load_module("pwcnet.synth")
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    path = tmp_path_factory.mktemp("old") / "epoch=0.ckpt"
    torch.save({"epoch": 0, "global_step": 4, "pytorch-lightning_version": "1.0.8",
                "checkpoint_callback_best_model_score": None, "checkpoint_callback_best_model_path": "",
                "optimizer_states": [optimizer.state_dict()], "lr_schedulers": [],
                "state_dict": module.state_dict()}, path)
    return path


def test_a_lightning_1_0_checkpoint_is_refused_in_one_line_and_its_weights_still_load(lightning_1_0, tmp_path):
    result = _fit(lightning_1_0, tmp_path / "run")
    assert_one_line_error(result, f"--ckpt_path {lightning_1_0}: written by Lightning 1.0.8",
                          f"--model.weights {lightning_1_0}")
    assert not list((tmp_path / "run").rglob("*.ckpt"))
    network = zoo.load("pwcnet", weights=lightning_1_0)
    reference = zoo.load("pwcnet.synth")
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(network.state_dict()[key], value, rtol=0, atol=0)


def test_a_truncated_checkpoint_is_named_in_one_line(lightning_1_0, tmp_path):
    truncated = truncated_copy(lightning_1_0, tmp_path / "last.ckpt", keep=0.5)
    assert_one_line_error(_fit(truncated, tmp_path / "run"), str(truncated), "not a readable PyTorch")


def test_a_bare_state_dict_is_no_training_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(zoo.load("pwcnet.synth").state_dict(), path)
    assert_one_line_error(_fit(path, tmp_path / "run"), f"--ckpt_path {path}: not a Lightning training checkpoint",
                          "--model.weights")
