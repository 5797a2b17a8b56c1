"""Two ``zoo fit`` runs into one ``default_root_dir`` (issue 26, item 16): the second refuses in
one line naming the folder and the first run's process, writes nothing, and the folder is free
again once the first run ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datamodules.test_mid_epoch_resume import fit_config
from tests.support.hostile import assert_one_line_error, call_cli, run_cli, spawn_cli, wait_for
from tests.support.output_spellings import snapshot
from zoo.cli.run_lock import HOLDER_FILE, LOCK_FILE, RunFolderBusy, run_folder_lock

pytestmark = pytest.mark.hostile


def test_a_second_run_into_a_busy_folder_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run = tmp_path / "run"
    started, release = tmp_path / "started", tmp_path / "release"
    hold = {"class_path": "tests.support.hold_run.HoldTraining",
            "init_args": {"started": str(started), "release": str(release)}}
    first = fit_config(tmp_path / "configs", "pwcnet", tmp_path / "first.txt", callbacks=(hold,), name="first.yaml",
                       logger=True)
    second = fit_config(tmp_path / "configs", "pwcnet", tmp_path / "second.txt", name="second.yaml", logger=True)
    holder = spawn_cli("fit", "--config", first, "--trainer.default_root_dir", run)
    try:
        wait_for(lambda: started.exists() or holder.poll() is not None, 300, "the first run to train")
        assert holder.poll() is None, "the first run ended early"
        before = snapshot(run)
        result = run_cli("fit", "--config", second, "--trainer.default_root_dir", run)
        assert_one_line_error(result, f"--trainer.default_root_dir {run.resolve()}: another run is writing",
                              f"process {holder.pid} on", "zoo fit --config")
        assert snapshot(run) == before and not (tmp_path / "second.txt").exists()
    finally:
        release.touch()
        assert holder.wait(timeout=300) == 0
    metrics = list(run.rglob("metrics.csv"))
    assert len(metrics) == 1 and "train/loss" in metrics[0].read_text()
    assert not (run / HOLDER_FILE).exists()
    # the holder is gone: the same folder takes the next run
    assert call_cli("fit", "--config", second, "--trainer.default_root_dir", run, "--trainer.max_steps", "1").rc == 0


def test_the_lock_is_released_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(KeyError), run_folder_lock(tmp_path, "zoo fit a"):
        with pytest.raises(RunFolderBusy, match=r"process \d+ on .*: zoo fit a"), run_folder_lock(tmp_path, "zoo fit b"):
            pass
        raise KeyError("the run failed")
    with run_folder_lock(tmp_path, "zoo fit c"):
        assert (tmp_path / LOCK_FILE).exists()


@pytest.mark.parametrize("variable", ["LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"])
def test_the_other_ranks_of_a_ddp_run_do_not_lock(tmp_path: Path, monkeypatch, variable: str) -> None:
    """Lightning's DDP launcher starts ranks 1.. by re-running ``zoo fit ...``: they must not be
    refused by the lock their rank 0 holds (nor take it)."""
    for name in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        monkeypatch.delenv(name, raising=False)
    with run_folder_lock(tmp_path, "zoo fit rank 0"):
        monkeypatch.setenv(variable, "0")
        with pytest.raises(RunFolderBusy), run_folder_lock(tmp_path, "zoo fit other"):  # rank 0 of another run
            pass
        monkeypatch.setenv(variable, "1")
        with run_folder_lock(tmp_path, "zoo fit rank 1"):
            assert "rank 0" in (tmp_path / HOLDER_FILE).read_text()
    assert not (tmp_path / HOLDER_FILE).exists()


def test_zoo_fit_with_ddp_on_two_cpu_processes_still_runs(tmp_path: Path) -> None:
    """End to end: Lightning's DDP launcher re-runs ``zoo fit ...`` for rank 1, which must join
    rank 0's run instead of finding the folder locked (gloo, two CPU processes, two steps)."""
    config = fit_config(tmp_path / "run", "pwcnet", tmp_path / "drawn.txt")
    result = run_cli("fit", "--config", config, "--trainer.devices", "2", "--trainer.strategy", "ddp",
                     "--trainer.max_steps", "2", timeout=240)
    assert result.rc == 0, result.stderr[-2000:]
    assert "Starting with 2 processes" in result.stderr + result.stdout
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
