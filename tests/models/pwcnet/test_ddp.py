"""PWC-Net training with Lightning DDP (two CPU processes, gloo): replicas stay identical and the
synchronised gradients equal single-process gradients of the union of the ranks' batches."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.support import ddp_pwcnet

ROOT = Path(__file__).resolve().parents[3]


def test_two_process_ddp_matches_one_process_on_the_union_of_batches(tmp_path: Path) -> None:
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(29500 + os.getpid() % 1000),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "tests.support.ddp_pwcnet", str(tmp_path)], check=False, cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["global_step"] for r in ranks] == [ddp_pwcnet.STEPS] * 2
    for key, value in ranks[0]["state_dict"].items():  # DDP keeps the replicas identical
        assert torch.equal(value, ranks[1]["state_dict"][key]), key

    # Reference: one process, batch 2 = both ranks' samples of the first step (rank r gets r, r + 2, ...).
    # DDP averages the ranks' gradients; the batch loss is the mean of the per-sample losses, so the
    # synchronised gradients equal the single-process gradients of the union batch.
    reference = ddp_pwcnet.build_module()
    reference.log = lambda *args, **kwargs: None
    batch = ddp_pwcnet.collate([ddp_pwcnet.dataset()[i] for i in (0, 1)])
    loss = reference.training_step(batch, 0)
    loss.backward()
    parameters = dict(reference.network.named_parameters())
    for key in ddp_pwcnet.GRADIENT_KEYS:
        expected = parameters[key].grad
        for rank in ranks:
            torch.testing.assert_close(rank["gradients"][key], expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())
    # Each rank trained on its own shard: the per-rank losses differ and average to the batch loss.
    rank_losses = [r["losses"][0] for r in ranks]
    assert rank_losses[0] != rank_losses[1]
    assert sum(rank_losses) / 2 == pytest.approx(loss.item(), rel=1e-5)

    ckpt = torch.load(tmp_path / "final.ckpt", weights_only=True)
    assert ckpt["zoo"]["arch"] == "pwcnet" and ckpt["global_step"] == ddp_pwcnet.STEPS
