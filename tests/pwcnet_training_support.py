"""Test support for PWC-Net training runs driven through ``zoo fit`` (LightningCLI).

* :class:`ResumableSyntheticData`: SyntheticFlow batches in a seeded order per epoch, from a
  loader that Lightning saves and restores (``state_dict`` / ``load_state_dict``), so a run
  resumed mid-epoch sees exactly the batches the uninterrupted run sees.
* :class:`KillAtStep`: a callback that crashes the run after a given number of steps, the way a
  killed job stops: nothing is saved on the way out.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytorch_lightning as pl
import torch

from datamodules.synthetic_flow import SyntheticFlow

__all__ = ["ResumableSyntheticData", "KillAtStep", "Killed"]

_KEYS = ("image1", "image2", "flow", "valid")


class _EpochBatches:
    """Batches of ``dataset`` in the order ``randperm(seed + epoch)``; resumable mid-epoch.

    Lightning does not fetch ahead from a loader whose length it knows, so ``drawn`` is the
    number of batches of the current epoch that have been trained on when a checkpoint is written.
    """

    def __init__(self, dataset: SyntheticFlow, batch_size: int, seed: int) -> None:
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.epoch, self.drawn, self._resuming = -1, 0, False

    def __len__(self) -> int:
        return len(self.dataset) // self.batch_size

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        # Lightning stops after len(self) batches without exhausting the generator, so the epoch
        # advances here, when a new pass starts, not after the last batch.
        if not self._resuming:
            self.epoch, self.drawn = self.epoch + 1, 0
        self._resuming = False
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(self.seed + self.epoch))
        for batch in range(self.drawn, len(self)):
            items = [self.dataset[int(i)] for i in order[batch * self.batch_size:(batch + 1) * self.batch_size]]
            self.drawn = batch + 1
            yield {k: torch.stack([item[k] for item in items]) for k in _KEYS}

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "drawn": self.drawn}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.drawn, self._resuming = state["epoch"], state["drawn"], True


class ResumableSyntheticData(pl.LightningDataModule):
    """Unaugmented SyntheticFlow pairs of ``size`` (seed 0 for training, 1 for validation)."""

    def __init__(self, size: tuple[int, int] = (64, 64), length: int = 8, batch_size: int = 1,
                 val_length: int = 2) -> None:
        super().__init__()
        self.train_loader = _EpochBatches(SyntheticFlow(tuple(size), length, seed=0), batch_size, seed=0)
        self.val_set = SyntheticFlow(tuple(size), val_length, seed=1)

    def train_dataloader(self) -> _EpochBatches:
        return self.train_loader

    def val_dataloader(self) -> Any:
        return torch.utils.data.DataLoader(self.val_set, batch_size=1, collate_fn=lambda items: {
            k: torch.stack([item[k] for item in items]) for k in _KEYS})


class Killed(RuntimeError):
    """Raised by :class:`KillAtStep`."""


class KillAtStep(pl.Callback):
    """Crash the run when ``trainer.global_step`` reaches ``step`` (before any checkpoint of that step)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step >= self.step:
            raise Killed(f"killed at step {trainer.global_step}")
