"""``RecordDrawnSamples``: a callback (``zoo fit`` config ``class_path``) that appends the dataset
index of every training sample the run loads to a file, one per line, so two runs can be compared
sample for sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl

__all__ = ["RecordDrawnSamples", "drawn_samples"]


class _Recording:
    """``dataset`` whose ``__getitem__`` first appends the index to ``path``."""

    def __init__(self, dataset: Any, path: str) -> None:
        self.dataset, self.path = dataset, path

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with open(self.path, "a") as f:
            f.write(f"{index}\n")
        return self.dataset[index]


class RecordDrawnSamples(pl.Callback):
    """Wraps the training loader's dataset at ``on_train_start`` (with ``num_workers: 0`` every item
    is loaded in this process; the loader's items are ``(index, key)`` pairs of a ``SeededItems``)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        items = trainer.train_dataloader.dataset  # SeededItems
        items.dataset = _Recording(items.dataset, self.path)


def drawn_samples(path: str | Path) -> list[int]:
    """The indices a :class:`RecordDrawnSamples` wrote, in order."""
    return [int(line) for line in Path(path).read_text().split()]
