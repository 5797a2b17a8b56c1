"""Progress of ``zoo fit`` when stderr is not a terminal (a log file, CI, ``nohup``): one line at a
steady interval, where a terminal gets Lightning's bar.

    step 120/800  loss 97.31  2.04 steps/s  ETA 5m33s

``loss`` is the mean training loss of the steps since the previous line; ``steps/s`` the rate over
those steps; ``ETA`` the time the remaining steps take at that rate (left out when the run has no
step limit). The first line comes after the first step, so a log shows at once that training runs.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import pytorch_lightning as pl
import torch

__all__ = ["ProgressLines", "format_duration"]


def format_duration(seconds: float) -> str:
    """``5m33s``, ``2h05m``, ``41s``: whole seconds under an hour, minutes above."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressLines(pl.Callback):
    """Print ``step S/T  loss L  R steps/s  ETA E`` to ``stream`` every ``every_s`` seconds (rank 0).

    Args:
        every_s: seconds between lines (0: every step).
        stream: where to write (default ``sys.stderr``, read at each line).
    """

    def __init__(self, every_s: float = 30.0, stream: TextIO | None = None) -> None:
        if every_s < 0:
            raise ValueError(f"progress interval must be >= 0 seconds, got {every_s}")
        self.every_s = every_s
        self.stream = stream
        self._losses: list[float] = []
        self._last_time = 0.0
        self._last_step = 0
        self._printed = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_time, self._last_step, self._printed = time.perf_counter(), trainer.global_step, False

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            self._losses.append(float(loss.detach()))
        now = time.perf_counter()
        if self._printed and now - self._last_time < self.every_s:
            return
        steps = trainer.global_step - self._last_step
        if steps <= 0 or not trainer.is_global_zero:
            return
        rate = steps / max(now - self._last_time, 1e-9)
        print(self.line(trainer.global_step, trainer.estimated_stepping_batches, self._losses, rate),
              file=self.stream or sys.stderr, flush=True)
        self._losses, self._last_time, self._last_step, self._printed = [], now, trainer.global_step, True

    @staticmethod
    def line(step: int, total: float, losses: list[float], rate: float) -> str:
        """One progress line; ``total`` may be ``inf`` (no step limit), ``losses`` empty."""
        parts = [f"step {step}/{int(total)}" if math.isfinite(total) else f"step {step}"]
        if losses:
            parts.append(f"loss {sum(losses) / len(losses):.4g}")
        parts.append(f"{rate:.3g} steps/s")
        if math.isfinite(total):
            parts.append(f"ETA {format_duration((total - step) / rate)}")
        return "  ".join(parts)
