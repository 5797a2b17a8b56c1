"""Resuming with data settings that move the saved position onto other samples (issue 26, item 10):
the loader saves its batch size, seed, dataset length and number of ranks, and refuses a resume
that changes any of them in one line, naming the setting, instead of skipping or repeating samples."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.datamodules.test_mid_epoch_resume import EVERY, KILL_AT, fit_config
from tests.support.hostile import assert_one_line_error, call_cli
from zoo.datamodules.resumable_loader import ResumableLoader

pytestmark = [pytest.mark.hostile, pytest.mark.usefixtures("zoo_argv")]


def _saved_state(**changes: int) -> dict[str, int]:
    return {"epoch": 0, "batches_drawn": 2, "batch_size": 4, "length": 20, "seed": 0, "num_replicas": 1, **changes}


@pytest.mark.parametrize(("key", "value", "named"), [("batch_size", 2, "batch size (--data.batch_size) 2 -> 4"),
                                                     ("length", 24, "training samples 24 -> 20"),
                                                     ("seed", 3, "data seed 3 -> 0"),
                                                     ("num_replicas", 2, "ranks (devices x nodes) 2 -> 1")])
def test_a_state_saved_with_other_settings_is_refused(key: str, value: int, named: str) -> None:
    loader = ResumableLoader(range(20), batch_size=4)
    with pytest.raises(ValueError, match=r"^cannot resume the training data mid-epoch \(2 batches into epoch 0\)") as error:
        loader.load_state_dict(_saved_state(**{key: value}))
    assert named in str(error.value) and "\n" not in str(error.value)
    assert next(iter(loader)).tolist() == [index for index, _ in list(loader.sampler)[:4]]  # not moved


def test_a_state_of_the_same_settings_and_a_zoo_0_1_state_resume() -> None:
    reference = [batch.tolist() for batch in ResumableLoader(range(20), batch_size=4)]
    for state in (_saved_state(), {"epoch": 0, "batches_drawn": 2}):
        loader = ResumableLoader(range(20), batch_size=4)
        loader.load_state_dict(state)
        assert [batch.tolist() for batch in loader] == reference[2:]


def test_zoo_fit_resumed_with_another_batch_size_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Killed after step 6 of batches of 2 (checkpoint at step 4: samples 0-7 drawn); resumed with
    ``--data.batch_size 3`` the saved 4 batches would start at sample 12 and skip 8-11."""
    from tests.support.pwcnet_training_support import Killed
    from zoo.cli import main

    record = tmp_path / "drawn.txt"
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(Killed):
        main(["fit", "--config", str(fit_config(tmp_path / "run", "pwcnet", record, kill_at=KILL_AT))])
    monkeypatch.delenv("ZOO_DEBUG")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == EVERY
    drawn_before = record.read_text()
    config = fit_config(tmp_path / "run", "pwcnet", record)
    result = call_cli("fit", "--config", config, "--data.batch_size", "3", "--ckpt_path", last)
    assert_one_line_error(result, "batch size (--data.batch_size) 2 -> 3", "cannot resume")
    assert record.read_text() == drawn_before, "the refused run trained on samples"


def test_a_state_saved_as_its_epoch_ended_resumes_at_the_next_epochs_start() -> None:
    """Lightning saves ``last.ckpt`` as an epoch ends (``limit_train_batches`` may end it early: 3 of
    5 batches here) and resumes with the next epoch, which it sets on the sampler: the saved count
    belongs to the finished epoch and must not cut the next one short."""
    reference = ResumableLoader(range(20), batch_size=4)
    reference.sampler.set_epoch(1)
    epoch_1 = [batch.tolist() for batch in reference]
    loader = ResumableLoader(range(20), batch_size=4)
    loader.load_state_dict(_saved_state(epoch=0, batches_drawn=3))
    loader.sampler.set_epoch(1)
    assert [batch.tolist() for batch in loader] == epoch_1
