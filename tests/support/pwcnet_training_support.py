"""Test support for PWC-Net training runs driven through ``zoo fit`` (LightningCLI).

* :class:`KillAtStep`: a callback that crashes the run after a given number of steps, the way a
  killed job stops: nothing is saved on the way out.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

__all__ = ["KillAtStep", "Killed"]


class Killed(RuntimeError):
    """Raised by :class:`KillAtStep`."""


class KillAtStep(pl.Callback):
    """Crash the run when ``trainer.global_step`` reaches ``step`` (before any checkpoint of that step)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step:
            raise Killed(f"killed at step {trainer.global_step}")
