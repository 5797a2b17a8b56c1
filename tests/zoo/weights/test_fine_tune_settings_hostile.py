"""``zoo fit --model.weights FOLDER`` of weights published RGB-ordered with ptlflow's pipeline
(issue 26, item 9): the training network takes the weights' ``channel_order`` and ``pipeline``
(they do not change any parameter's shape, so a strict load alone cannot notice them), says so on
stderr, and the checkpoint records them; settings that change shapes are still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo
from tests.datamodules.test_mid_epoch_resume import fit_config
from tests.support.hostile import SYNTH_WEIGHTS
from zoo.catalog.pwcnet import PTLFLOW_CONFIG
from zoo.catalog.registry import weights_info
from zoo.models.pwcnet.module import PWCNetModule
from zoo.weights.checkpoint import read_checkpoint, save_weights
from zoo.weights.loader import load_weights_into

pytestmark = pytest.mark.hostile


@pytest.fixture()
def ptlflow_folder(tmp_path: Path) -> Path:
    """A ``save_pretrained`` folder whose record is ``pwcnet.ptlflow-sintel``'s (RGB, ptlflow pipeline);
    the values are pwcnet.synth's (any PWC-DC-Net values do: only the settings are under test)."""
    record = weights_info("pwcnet.ptlflow-sintel")
    assert (record.config["channel_order"], record.config["pipeline"]) == ("RGB", "ptlflow")
    state = zoo.load("pwcnet.synth").state_dict()
    file = save_weights(tmp_path / "ptlflow.safetensors", state, arch="pwcnet", config=dict(PTLFLOW_CONFIG),
                        info={"record": record.description()})
    return zoo.save_pretrained(file, tmp_path / "ptlflow-sintel")


def test_the_module_takes_the_weights_channel_order_and_pipeline(ptlflow_folder: Path, capsys) -> None:
    module = PWCNetModule()  # the configs' default: BGR, nvlabs
    load_weights_into(module, ptlflow_folder)
    assert module.network.channel_order == "RGB" and module.network.pipeline.name == "ptlflow"
    assert module.network_config["channel_order"] == "RGB" and module.network_config["pipeline"] == "ptlflow"
    notice = capsys.readouterr().err
    assert "channel_order 'RGB' (the config gave 'BGR')" in notice and "pipeline 'ptlflow' (the config gave 'nvlabs')" in notice
    reference = zoo.load("pwcnet", weights=ptlflow_folder / "model.safetensors")
    image1, image2 = torch.rand(2, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the same function as zoo.load's network, pipeline and colours included
        torch.testing.assert_close(module.network.eval()(image1, image2), reference(image1, image2))


def test_weights_with_the_configs_settings_load_without_a_notice(capsys) -> None:
    module = PWCNetModule()
    load_weights_into(module, SYNTH_WEIGHTS)
    assert module.network.channel_order == "BGR" and capsys.readouterr().err == ""


def test_a_setting_that_changes_shapes_is_still_refused(ptlflow_folder: Path) -> None:
    module = PWCNetModule(config={"context": False})
    with pytest.raises(ValueError, match="ptlflow-sintel"):
        load_weights_into(module, ptlflow_folder)


def test_zoo_fit_records_the_carried_settings_in_its_checkpoint(tmp_path: Path, ptlflow_folder: Path, capsys) -> None:
    from zoo.cli import main

    config = fit_config(tmp_path / "run", "pwcnet", tmp_path / "drawn.txt")
    assert main(["fit", "--config", str(config), "--model.weights", str(ptlflow_folder), "--trainer.max_steps", "1"]) == 0
    assert "the network takes the weights' channel_order 'RGB'" in capsys.readouterr().err
    saved = read_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")["zoo"]["config"]
    assert (saved["channel_order"], saved["pipeline"]) == ("RGB", "ptlflow")
