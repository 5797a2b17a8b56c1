"""Train PWCNetModule with Lightning DDP: two CPU processes on gloo, a few steps on tiny crops.

Run as a script (``python -m tests.support.ddp_pwcnet OUT_DIR``), never inside pytest: Lightning's ``ddp``
strategy starts the other rank by re-running this command line. ``tests/models/pwcnet/test_ddp.py``
runs it in a subprocess and checks what it writes:

* ``OUT_DIR/rank{0,1}.pt``: each rank's network state dict after training, the per-rank
  losses of every step (each rank sees its own shard of the data) and the synchronised
  gradients of a few parameters at the first step;
* ``OUT_DIR/final.ckpt``: the checkpoint rank 0 saves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import DDPStrategy
from torch.utils.data import DataLoader

from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.models.pwcnet.module import PWCNetModule

KEYS = ("image1", "image2", "flow", "valid")
#: The run: SyntheticFlow pairs of this size/seed, this many steps, module built with this seed.
SIZE, LENGTH, DATA_SEED, STEPS, MODEL_SEED, LR = (64, 64), 4, 0, 2, 0, 1e-4


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([item[k] for item in items]) for k in KEYS}


def build_module() -> PWCNetModule:
    """The module every rank (and the single-process reference) starts from."""
    torch.manual_seed(MODEL_SEED)
    return PWCNetModule(lr=LR, log_images_every_n_steps=0)


def dataset() -> SyntheticFlow:
    return SyntheticFlow(size=SIZE, length=LENGTH, seed=DATA_SEED, recipe="v1")


#: Parameters whose gradients of the first step are recorded (first, middle and last layers).
GRADIENT_KEYS = ("features.levels.0.0.weight", "decoders.4.convs.2.weight", "context.6.weight")


class RecordLosses(pl.Callback):
    """Per-rank losses of every step, and the (all-reduced) gradients of the first step."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.gradients: dict[str, torch.Tensor] = {}

    def on_before_optimizer_step(self, trainer: pl.Trainer, module: pl.LightningModule, optimizer) -> None:
        if not self.gradients:
            parameters = dict(module.network.named_parameters())
            self.gradients = {k: parameters[k].grad.detach().clone() for k in GRADIENT_KEYS}

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


def main(out_dir: Path) -> None:
    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = build_module()
    record = RecordLosses()
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy=DDPStrategy(process_group_backend="gloo"),
        max_steps=STEPS, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[record], default_root_dir=out_dir)
    # batch 1 per rank; Lightning shards the data with a DistributedSampler (rank r gets r, r + 2, ...)
    trainer.fit(module, DataLoader(dataset(), batch_size=1, shuffle=False, collate_fn=collate))
    torch.save({"state_dict": module.network.state_dict(), "losses": record.losses, "gradients": record.gradients,
                "world_size": trainer.world_size, "global_step": trainer.global_step},
               out_dir / f"rank{trainer.global_rank}.pt")
    trainer.save_checkpoint(out_dir / "final.ckpt")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.support.ddp_pwcnet OUT_DIR")
    main(Path(sys.argv[1]))
