"""A callback that keeps the loss and the gradients of a run's first optimiser step, to compare
one training step across precisions."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class FirstStep(pl.Callback):
    """``loss`` (float) and ``grads`` (every parameter gradient, flattened, float64) of the first step.

    Parameters without a gradient in that step (none in PWC-Net; NVAE's unused ones) are left out.
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.grads: torch.Tensor | None = None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.loss is None:
            self.loss = float(outputs["loss"])

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        if self.grads is None:
            self.grads = torch.cat([p.grad.detach().double().flatten() for p in module.parameters()
                                    if p.grad is not None])
