"""``NVAEModule``: NVAE training with Lightning, with the paper's objective and schedules.

One training step: a posterior pass, the reconstruction term plus the warmed-up, balanced KL
(:mod:`zoo.models.nvae.objective`), plus ``lambda`` times the spectral and batch-norm regularisers.
Adamax (eps 1e-3, weight decay on every parameter but the weight-norm scales), learning rate
warm-up per step and a per-epoch cosine decay. Mixed precision is the Trainer's business
(``precision: 16-mixed`` on GPU uses a gradient scaler, ``bf16-mixed`` on CPU).

Validation logs the ELBO (no warm-up, no balancing) in nats per image and bits per dimension;
testing logs the importance-weighted NLL with ``test_num_samples`` samples per image.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.images.grid import image_grid
from zoo.datamodules.resumable_loader import apply_restored_state
from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.latents import NVAEOutput
from zoo.models.nvae.network import NVAE
from zoo.models.nvae.objective import kl_balancer, kl_balancer_coeff, kl_coeff, learning_rate, regularizer_coeff

__all__ = ["NVAEModule"]


#: checkpoint entry of the spectral regulariser's power-iteration state
POWER_ITERATION_KEY = "nvae_power_iteration"


class NVAEModule(pl.LightningModule):
    """LightningModule training an :class:`~zoo.models.nvae.network.NVAE`.

    Args:
        config: keyword arguments of the network builder (:class:`NVAEConfig` fields); None
            gives the defaults.
        weights: weights to fine-tune from (a registry tag, an official ``checkpoint.pt``, our
            safetensors or a Lightning ``.ckpt``); only recorded here, the zoo loads them.
        learning_rate: peak learning rate after warm-up.
        learning_rate_min: learning rate at the end of the cosine decay.
        weight_decay: Adamax L2 weight decay.
        decay_weight_norm: also decay the weight-norm log-scales (the official code decays every
            parameter; by default they are excluded, so the decay acts on directions only).
        eps: Adamax epsilon.
        warmup_epochs: epochs of linear learning-rate warm-up.
        kl_anneal_portion: fraction of all iterations over which the KL coefficient rises to 1.
        kl_const_portion: fraction of all iterations the KL coefficient stays at its minimum.
        kl_const_coeff: the minimum KL coefficient.
        kl_balance: balance the KL terms across groups while the coefficient is below 1.
        kl_balance_function: per-scale prior weights (``square`` as the official code).
        weight_decay_norm: lambda, the weight of the spectral and batch-norm regularisers.
        weight_decay_norm_init: start value of lambda when annealing.
        weight_decay_norm_anneal: anneal lambda log-linearly from ``weight_decay_norm_init``.
        sample_every_n_steps: write a grid of samples every this many steps (0: never).
        sample_temperatures: temperatures of the sample grids.
        val_num_samples: importance samples of the validation NLL (0: ELBO only).
        test_num_samples: importance samples K of the test NLL (1000 for reported figures).
        nonfinite_patience: consecutive non-finite losses skipped (with a warning naming the
            term) before training stops with ``FloatingPointError``; multi-process runs stop at
            the first one.
    """

    def __init__(self, config: Mapping[str, Any] | None = None, weights: str | None = None,
                 learning_rate: float = 1e-2, learning_rate_min: float = 1e-4,
                 weight_decay: float = 3e-4, decay_weight_norm: bool = False, eps: float = 1e-3,
                 warmup_epochs: int = 5, kl_anneal_portion: float = 0.3,
                 kl_const_portion: float = 1e-4, kl_const_coeff: float = 1e-4,
                 kl_balance: bool = True, kl_balance_function: str = "square",
                 weight_decay_norm: float = 0.0, weight_decay_norm_init: float = 10.0,
                 weight_decay_norm_anneal: bool = False, sample_every_n_steps: int = 1000,
                 sample_temperatures: tuple[float, ...] = (0.6, 0.8, 1.0),
                 val_num_samples: int = 0, test_num_samples: int = 1000,
                 nonfinite_patience: int = 20) -> None:
        super().__init__()
        network_config = NVAEConfig(**dict(config or {}))
        self.network_config = network_config.to_dict()
        # Plain values in the hyper-parameters: the complete network config, a list of floats.
        # (Under LightningCLI the CLI's own arguments are recorded instead, with the class path
        # it needs to resume from a checkpoint.)
        config = self.network_config
        weights = None if weights is None else str(weights)
        sample_temperatures = [float(t) for t in sample_temperatures]
        self.save_hyperparameters()
        self.network = NVAE(network_config)
        self.register_buffer("kl_alpha", kl_balancer_coeff(network_config.groups_per_scale,
                                                           kl_balance_function), persistent=False)
        self._nonfinite_streak = 0

    # ------------------------------------------------------------------ schedules
    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps per training epoch (known once the Trainer has its loader)."""
        total = int(self.trainer.estimated_stepping_batches)  # makes the Trainer load its data
        batches = self.trainer.num_training_batches
        if not math.isfinite(batches):
            return max(1, total // max(self.trainer.max_epochs or 1, 1))
        return max(1, int(batches) // self.trainer.accumulate_grad_batches)

    @property
    def total_steps(self) -> int:
        return int(self.trainer.estimated_stepping_batches)

    def regularizer_weight(self, beta: float) -> float:
        hp = self.hparams
        return regularizer_coeff(beta, hp.weight_decay_norm,
                                 hp.weight_decay_norm_init if hp.weight_decay_norm_anneal else None)

    def on_train_start(self) -> None:
        # a resumed run continues its epoch at the checkpoint's batch, however early the loader was built
        apply_restored_state(self.trainer)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        decayed, not_decayed = [], []
        for name, parameter in self.network.named_parameters():
            norm_scale = name.endswith("log_weight_norm") and not hp.decay_weight_norm
            (not_decayed if norm_scale else decayed).append(parameter)
        optimizer = torch.optim.Adamax(
            [{"params": decayed, "weight_decay": hp.weight_decay},
             {"params": not_decayed, "weight_decay": 0.0}],
            lr=hp.learning_rate, eps=hp.eps)
        epochs = self.trainer.max_epochs or 1
        steps_per_epoch = self.steps_per_epoch

        def factor(step: int) -> float:
            return learning_rate(step, steps_per_epoch, epochs, hp.warmup_epochs,
                                 hp.learning_rate, hp.learning_rate_min) / hp.learning_rate

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1}}

    # ------------------------------------------------------------------ objective
    def forward(self, x: torch.Tensor, temperature: float = 1.0) -> NVAEOutput:
        return self.network(x, temperature)

    def _images(self, batch: Any) -> torch.Tensor:
        """The batch's images, quantised to ``num_x_bits`` as the official ``pre_process``."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.network.quantize(x)

    def compute_loss(self, x: torch.Tensor, step: int, total_steps: int,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The training loss of images ``x (B, C, S, S)`` at optimiser step ``step`` of
        ``total_steps``, and its terms: ``reconstruction`` and ``kl_group_g`` ``(B,)`` nats,
        ``kl_coeffs`` ``(G,)``, ``spectral_norm``, ``batchnorm``, ``kl_coeff`` and
        ``weight_decay_norm`` scalars. ``generator`` draws the posterior samples' noise."""
        hp = self.hparams
        out = self.network(x, generator=generator)
        recon = -self.network.reconstruction_log_likelihood(out.logits, x)
        beta = kl_coeff(step, hp.kl_anneal_portion * total_steps,
                        hp.kl_const_portion * total_steps, hp.kl_const_coeff)
        kl_all = out.kl_all
        balanced_kl, kl_coeffs, _ = kl_balancer(kl_all, beta, self.kl_alpha, hp.kl_balance)
        spectral = self.network.spectral_norm_loss()
        batchnorm = self.network.batchnorm_loss()
        lam = self.regularizer_weight(beta)
        loss = (recon + balanced_kl).mean() + lam * (spectral + batchnorm)
        terms = {"reconstruction": recon, "spectral_norm": spectral, "batchnorm": batchnorm,
                 **{f"kl_group_{g}": kl for g, kl in enumerate(kl_all)},
                 "kl_coeffs": kl_coeffs, "kl_coeff": torch.tensor(beta),
                 "weight_decay_norm": torch.tensor(lam)}
        return loss, terms

    def check_finite(self, loss: torch.Tensor, terms: Mapping[str, torch.Tensor]) -> bool:
        """True when the loss is finite. Otherwise warn naming the terms that are not (the
        caller skips the batch), or raise ``FloatingPointError`` after ``nonfinite_patience``
        bad batches in a row, or at once in a multi-process run."""
        if bool(torch.isfinite(loss)):
            self._nonfinite_streak = 0
            return True
        self._nonfinite_streak += 1
        bad = [name for name, value in terms.items() if not bool(torch.isfinite(value).all())]
        message = (f"non-finite training loss at step {self.global_step}; non-finite terms: "
                   + (", ".join(bad) if bad else "none (the sum overflowed)"))
        world_size = self.trainer.world_size if self._trainer is not None else 1
        if world_size > 1 or self._nonfinite_streak > self.hparams.nonfinite_patience:
            raise FloatingPointError(
                f"{message} ({self._nonfinite_streak} in a row); lower the learning rate, raise "
                "weight_decay_norm or train in float32")
        warnings.warn(message + "; the batch is skipped", RuntimeWarning, stacklevel=2)
        return False

    def step_generator(self, device: torch.device) -> torch.Generator:
        """The generator of one training step's noise: a function of the run's seed (torch's
        initial seed, which ``seed_everything`` sets), the step and the rank, so that a run resumed
        from a checkpoint draws the noise the uninterrupted run drew, whatever the global RNG did."""
        seed = hash((torch.initial_seed(), self.global_step, self.global_rank)) % (1 << 63)
        return torch.Generator(device=device).manual_seed(seed)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        x = self._images(batch)
        loss, terms = self.compute_loss(x, self.global_step, self.total_steps, generator=self.step_generator(x.device))
        if not self.check_finite(loss, terms):
            return None
        recon = terms["reconstruction"].detach().float()
        kl_vals = torch.stack([terms[f"kl_group_{g}"].detach().float().mean()
                               for g in range(self.network.num_groups)])
        nelbo = recon.mean() + kl_vals.sum()
        batch_size = x.shape[0]
        self.log_dict({
            "train/loss": loss.detach().float(), "train/nelbo": nelbo,
            "train/bpd": self.network.bits_per_dim(nelbo), "train/reconstruction": recon.mean(),
            "train/kl": kl_vals.sum(), "train/kl_coeff": terms["kl_coeff"],
            "train/weight_decay_norm": terms["weight_decay_norm"],
            "train/spectral_norm": terms["spectral_norm"].detach().float(),
            "train/batchnorm": terms["batchnorm"].detach().float(),
        }, on_step=True, on_epoch=False, batch_size=batch_size)
        self.log_dict({f"train_kl/group_{g:02d}": v for g, v in enumerate(kl_vals)},
                      on_step=True, on_epoch=False, batch_size=batch_size)
        self.log("nelbo", nelbo, prog_bar=True, on_step=True, on_epoch=False, logger=False,
                 batch_size=batch_size)
        every = self.hparams.sample_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self.write_samples()
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x = self._images(batch)
        out = self.network(x)
        recon = -self.network.reconstruction_log_likelihood(out.logits, x)
        kl = out.kl_all.float()
        nelbo = (recon.float() + kl.sum(0)).mean()
        metrics = {"val/nelbo": nelbo, "val/bpd": self.network.bits_per_dim(nelbo),
                   "val/reconstruction": recon.float().mean(), "val/kl": kl.sum(0).mean()}
        metrics.update({f"val_kl/group_{g:02d}": v.mean() for g, v in enumerate(kl)})
        if self.hparams.val_num_samples > 0:
            nll = -self.network.log_likelihood(x, self.hparams.val_num_samples).float().mean()
            metrics["val/nll"] = nll
        self.log_dict(metrics, on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        self.log("val_nelbo", nelbo, prog_bar=True, on_epoch=True, sync_dist=True,
                 batch_size=x.shape[0], logger=False)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        x = self._images(batch)
        nll = -self.network.log_likelihood(x, self.hparams.test_num_samples).float()
        self.log_dict({"test/nll": nll.mean(), "test/bpd": self.network.bits_per_dim(nll.mean())},
                      on_epoch=True, sync_dist=True, batch_size=x.shape[0], prog_bar=True)

    # ------------------------------------------------------------------ samples and checkpoints
    @torch.no_grad()
    def sample_grid(self, num_per_row: int = 8, generator: torch.Generator | None = None) -> np.ndarray:
        """One row of ``num_per_row`` samples per temperature in ``sample_temperatures``, as a
        uint8 ``(H', W', C)`` grid (the network's train/eval mode is restored)."""
        was_training = self.network.training
        self.network.eval()
        try:
            rows = [self.network.sample(num_per_row, t, generator=generator)
                    for t in self.hparams.sample_temperatures]
        finally:
            self.network.train(was_training)
        return image_grid(torch.cat(rows).float(), columns=num_per_row)

    def write_samples(self) -> Path | None:
        """Write the sample grid to ``<log_dir>/samples/step_XXXXXXX.png`` (rank 0 only)."""
        if self.trainer.global_rank != 0:
            return None
        log_dir = self.trainer.log_dir or self.trainer.default_root_dir
        path = Path(log_dir) / "samples" / f"step_{self.global_step + 1:07d}.png"
        write_png(path, self.sample_grid())
        return path

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["zoo"] = {"arch": "nvae", "config": dict(self.network_config)}
        # the power iteration's vectors are no weights (not in state_dict, as in the official
        # code), but a resumed run must continue them to compute the regulariser it would have
        checkpoint[POWER_ITERATION_KEY] = {name: buffer.clone() for name, buffer
                                           in self.network.spectral_regularizer.named_buffers()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        for name, buffer in self.network.spectral_regularizer.named_buffers():
            saved = checkpoint.get(POWER_ITERATION_KEY, {}).get(name)
            if saved is not None and saved.shape == buffer.shape:
                buffer.copy_(saved)
