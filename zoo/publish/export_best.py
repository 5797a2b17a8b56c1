"""``ExportBest``: the training callback that ends a ``zoo fit`` by writing the run's best
checkpoint as a shippable safetensors file (:func:`zoo.publish.safetensors_export.export_weights`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from zoo.datamodules.files.outputs import check_suffix
from zoo.publish.safetensors_export import export_weights

__all__ = ["ExportBest"]


class ExportBest(pl.Callback):
    """At the end of ``fit``, export the best checkpoint of the run's ``ModelCheckpoint`` (the one
    with a ``monitor``) with :func:`export_weights`, so that one ``zoo fit`` trains and writes the
    shippable file.

    Args:
        path: destination ``.safetensors``; relative paths are taken under ``default_root_dir``.
        info: provenance stored in the file (the monitored value and the best step are added).
        dtype: as :func:`export_weights` (``"float16"``, ``"float32"``).
    """

    def __init__(self, path: str, info: dict[str, Any] | None = None, dtype: str = "float16") -> None:
        check_suffix("ExportBest path", path, (".safetensors",))  # now, not when the run ends
        self.path, self.info, self.dtype = path, dict(info or {}), getattr(torch, dtype)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        monitored = [c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None) and c.best_model_path]
        if not monitored:
            raise RuntimeError("ExportBest needs a ModelCheckpoint with a monitor that saved a best checkpoint")
        best = monitored[0]
        out = Path(self.path) if Path(self.path).is_absolute() else Path(trainer.default_root_dir) / self.path
        info = {**self.info, best.monitor: float(best.best_model_score), "best_checkpoint": Path(best.best_model_path).name}
        export_weights(best.best_model_path, out, info, dtype=self.dtype)
