"""``HoldTraining``: a callback (``zoo fit`` config ``class_path``) that keeps a run in training
until the test lets it go, so that a second run can be started against it."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl

__all__ = ["HoldTraining"]


class HoldTraining(pl.Callback):
    """At the first training batch, create ``started`` and wait (at most ``timeout`` s) until
    ``release`` exists."""

    def __init__(self, started: str, release: str, timeout: float = 300.0) -> None:
        self.started, self.release, self.timeout = Path(started), Path(release), timeout

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if self.started.exists():
            return
        self.started.write_text("training\n")
        deadline = time.monotonic() + self.timeout
        while not self.release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
