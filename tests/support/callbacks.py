"""Lightning callbacks the tests add to ``zoo fit`` runs (importable by the CLI as
``tests.support.callbacks.NAME``; kept apart from ``_support`` so that module stays light)."""

from __future__ import annotations

import pytorch_lightning as pl

__all__ = ["RecordStartStep"]


class RecordStartStep(pl.Callback):
    """Appends ``trainer.global_step`` at the start of training to the file ``path``: 0 for a
    fresh run, the checkpoint's step for a resumed one."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        with open(self.path, "a") as f:
            f.write(f"{trainer.global_step}\n")
