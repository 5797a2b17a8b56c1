"""``PWCNetModule``: PWC-Net training with PyTorch Lightning (the paper's recipes).

The plain network (:class:`zoo.models.pwcnet.network.PWCNet`) lives in ``self.network`` and knows
nothing of Lightning. This module adds:

* the multi-scale loss (pre-training) or the robust loss (fine-tuning), :mod:`zoo.models.pwcnet.loss`,
  optionally with our auxiliary feature-matching term for training from scratch (off by default);
* Adam with the paper's weight decay (gamma = 4e-4 on weights, none on biases, as the Caffe
  ``decay_mult: 0``) and the named step schedules ``long`` (S_long) and ``fine`` (S_fine);
* validation on any number of datasets at once (one dataloader each), logging EPE and Fl-all per
  dataset with the full-resolution ``PWCNet.forward`` (the official evaluation pipeline);
* flow colour images (prediction, ground truth, end-point error) to the logger every N steps.

Batches are dicts ``{"image1", "image2": (B, 3, H, W) RGB in [0, 1], "flow": (B, 2, H, W) px,
"valid": (B, H, W) bool}``; training crops must have sides that are multiples of 64.

The module's ``weights`` argument is only recorded: whoever builds the module (``zoo.load_module``,
``zoo fit --model.weights``) loads those weights into ``self.network``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from torch import Tensor

from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.flow.metrics import EndPointError, FlAll
from zoo.datamodules.flow.visualize import flow_to_color
from zoo.datamodules.resumable_loader import apply_restored_state
from zoo.models.pwcnet.loss import LEVEL_WEIGHTS, ROBUST_EPSILON, ROBUST_Q, feature_matching_loss, multiscale_loss
from zoo.models.pwcnet.network import FLOW_SCALE, STRIDE, PWCNet

__all__ = ["SCHEDULES", "PWCNetModule", "flow_panel", "msra_init_", "upsampled_flow2"]

#: Named learning-rate schedules of the paper: (initial rate, iterations at which it is halved).
SCHEDULES: dict[str, tuple[float, tuple[int, ...]]] = {
    "long": (1e-4, (400_000, 600_000, 800_000, 1_000_000, 1_200_000)),
    "fine": (1e-5, (200_000, 300_000, 400_000, 500_000, 600_000)),
}
_ARCH = "pwcnet"


class PWCNetModule(pl.LightningModule):
    """PWC-Net with its training recipe.

    Args:
        config: keyword arguments of :class:`PWCNet` (JSON values), e.g. ``{"channel_order": "RGB"}``.
        weights: where the network's initial weights come from (registry tag, file); recorded only.
        schedule: ``"long"`` (S_long) or ``"fine"`` (S_fine); sets the rate and milestones below
            unless they are given.
        lr: initial learning rate (default: the schedule's).
        milestones: iterations at which the rate is multiplied by ``lr_decay`` (default: the schedule's).
        lr_decay: the factor at each milestone (0.5 in the paper).
        weight_decay: gamma of the paper, on convolution weights only.
        robust: the fine-tuning loss (|e|_1 + epsilon) ** q instead of the L2 norm.
        level_weights: alpha of levels 2..6.
        robust_epsilon, robust_q: epsilon and q of the robust loss.
        val_names: names of the validation dataloaders, in order (default: the datamodule's
            ``val_names`` attribute, else ``val0``, ``val1``, ...).
        log_images_every_n_steps: training steps between flow images sent to the logger (0: never).
        matching_weight: weight of :func:`zoo.models.pwcnet.loss.feature_matching_loss` added to the
            training loss (0: the paper's loss only). Not in the paper: it gets training from scratch
            off the zero-flow plateau (see the function).
        matching_temperature: its softmax temperature.
    """

    def __init__(self, config: dict[str, Any] | None = None, weights: str | None = None, *,
                 schedule: str = "long", lr: float | None = None,
                 milestones: Sequence[int] | None = None, lr_decay: float = 0.5,
                 weight_decay: float = 4e-4, robust: bool = False,
                 level_weights: Sequence[float] = LEVEL_WEIGHTS,
                 robust_epsilon: float = ROBUST_EPSILON, robust_q: float = ROBUST_Q,
                 val_names: Sequence[str] | None = None,
                 log_images_every_n_steps: int = 1000, matching_weight: float = 0.0,
                 matching_temperature: float = 0.07) -> None:
        super().__init__()
        if schedule not in SCHEDULES:
            raise ValueError(f"PWCNetModule: schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
        if len(level_weights) != 5:
            raise ValueError(f"PWCNetModule: level_weights needs 5 values (levels 2..6), got {list(level_weights)}")
        base_lr, base_milestones = SCHEDULES[schedule]
        # Normalised to plain values before they are saved (frame-based save_hyperparameters reads
        # these locals). Under LightningCLI the CLI's own config and class path are saved instead,
        # which `zoo fit --ckpt_path` needs, so the code reads the resolved values below, never hparams.
        config = dict(config or {})
        weights = None if weights is None else str(weights)
        lr = float(base_lr if lr is None else lr)
        milestones = [int(m) for m in (base_milestones if milestones is None else milestones)]
        level_weights = [float(w) for w in level_weights]
        val_names = None if val_names is None else [str(n) for n in val_names]
        self.save_hyperparameters()
        self.network_config = config
        self.lr, self.milestones, self.lr_decay, self.weight_decay = lr, milestones, float(lr_decay), float(weight_decay)
        self.robust, self.robust_epsilon, self.robust_q = bool(robust), float(robust_epsilon), float(robust_q)
        self.level_weights, self.val_names = level_weights, val_names
        self.log_images_every_n_steps = int(log_images_every_n_steps)
        self.matching_weight, self.matching_temperature = float(matching_weight), float(matching_temperature)
        self.network = PWCNet(**config)
        msra_init_(self.network)  # the official training's initialisation; loaded weights replace it
        self.val_metrics = torch.nn.ModuleDict()

    # --- training -------------------------------------------------------------------------
    def forward(self, image1: Tensor, image2: Tensor) -> Tensor:
        """Flow in pixels at full resolution, (B, 2, H, W) (see ``PWCNet.forward``)."""
        return self.network(image1, image2)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        image1, image2, flow, valid = batch["image1"], batch["image2"], batch["flow"], batch.get("valid")
        height, width = image1.shape[-2:]
        if height % STRIDE or width % STRIDE:
            raise ValueError(f"PWCNetModule: training crops must have sides that are multiples of {STRIDE}, "
                             f"got {height}x{width}; set the datamodule's crop size accordingly")
        pyramid1, pyramid2 = self.network.pyramid(image1), self.network.pyramid(image2)
        flows = self.network.estimate_levels(pyramid1, pyramid2)
        total, per_level = multiscale_loss(
            flows, flow, valid, weights=self.level_weights, flow_scale=FLOW_SCALE,
            robust=self.robust, epsilon=self.robust_epsilon, q=self.robust_q)
        batch_size = image1.shape[0]
        if self.matching_weight:
            matching = feature_matching_loss(pyramid1, pyramid2, flow, valid, radius=self.network.max_displacement,
                                             temperature=self.matching_temperature)
            self.log("train/matching_loss", matching, batch_size=batch_size)
            total = total + self.matching_weight * matching
        self.log("train/loss", total, prog_bar=True, batch_size=batch_size)
        for level, loss in zip(range(2, 7), per_level):
            self.log(f"train/loss_level{level}", loss, batch_size=batch_size)
        with torch.no_grad():
            full = upsampled_flow2(flows[0], (height, width))
            epe = torch.linalg.vector_norm(full - flow.float(), dim=1)
            epe = epe[valid].mean() if valid is not None else epe.mean()
        self.log("train/epe", epe, prog_bar=True, batch_size=batch_size)
        every = self.log_images_every_n_steps
        if every and self.global_step % every == 0:
            self._log_flow_images("train", image1[0], full[0], flow[0], valid[0] if valid is not None else None)
        return total

    def on_train_start(self) -> None:
        # a resumed run continues its epoch at the checkpoint's batch, however early the loader was built
        apply_restored_state(self.trainer)

    def configure_optimizers(self) -> dict[str, Any]:
        decayed = [p for p in self.network.parameters() if p.requires_grad and p.dim() > 1]
        plain = [p for p in self.network.parameters() if p.requires_grad and p.dim() <= 1]
        optimizer = torch.optim.Adam(
            [{"params": decayed, "weight_decay": self.weight_decay},
             {"params": plain, "weight_decay": 0.0}],
            lr=self.lr, betas=(0.9, 0.999), eps=1e-8)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(self.milestones), gamma=self.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- validation -----------------------------------------------------------------------
    def _val_name(self, dataloader_idx: int) -> str:
        names = self.val_names
        if names is None:
            datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
            names = getattr(datamodule, "val_names", None)
        if names is not None and dataloader_idx < len(names):
            return str(names[dataloader_idx])
        return f"val{dataloader_idx}"

    def _metrics(self, name: str) -> torch.nn.ModuleDict:
        if name not in self.val_metrics:
            self.val_metrics[name] = torch.nn.ModuleDict(
                {"epe": EndPointError(), "fl_all": FlAll()}).to(self.device)
        return self.val_metrics[name]

    def validation_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate("val", batch, batch_idx, dataloader_idx)

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate("test", batch, batch_idx, dataloader_idx)

    def _evaluate(self, stage: str, batch: dict[str, Any], batch_idx: int, dataloader_idx: int) -> None:
        name = self._val_name(dataloader_idx)
        pred = self.network(batch["image1"], batch["image2"]).float()
        target, valid = batch["flow"].float(), batch.get("valid")
        group = f"{stage}_{name}"
        batch_size = target.shape[0]
        for key, metric in self._metrics(group).items():
            metric.update(pred, target, valid)
            # metrics are created per dataset on first use, so Lightning is told where each lives
            self.log(f"{stage}/{name}/{key}", metric, batch_size=batch_size, add_dataloader_idx=False,
                     prog_bar=key == "epe", metric_attribute=f"val_metrics.{group}.{key}")
        if batch_idx == 0 and stage == "val" and not self.trainer.sanity_checking:
            self._log_flow_images(f"{stage}/{name}", batch["image1"][0], pred[0], target[0],
                                  valid[0] if valid is not None else None)

    # --- images ---------------------------------------------------------------------------
    def _log_flow_images(self, tag: str, image1: Tensor, pred: Tensor, target: Tensor,
                         valid: Tensor | None) -> None:
        """Send frame 1 | predicted flow | true flow | EPE map (uint8 (H, 4W, 3)) to the logger.

        TensorBoard-like loggers get ``add_image``, loggers with ``log_image`` (W&B) get that;
        any other logger with a ``log_dir`` gets a PNG in ``<log_dir>/images/``.
        """
        if self.logger is None or not self.trainer.is_global_zero:
            return
        panel = flow_panel(image1, pred, target, valid)
        name = f"{tag}/flow"
        experiment = getattr(self.logger, "experiment", None)
        if hasattr(experiment, "add_image"):
            experiment.add_image(name, panel, self.global_step, dataformats="HWC")
        elif hasattr(self.logger, "log_image"):
            self.logger.log_image(key=name, images=[panel], step=self.global_step)
        elif getattr(self.logger, "log_dir", None):
            folder = Path(self.logger.log_dir) / "images"
            write_png(folder / f"{name.replace('/', '_')}_step{self.global_step:08d}.png", panel)

    # --- checkpoints ----------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["zoo"] = {"arch": _ARCH, "config": dict(self.network_config)}


def msra_init_(network: torch.nn.Module) -> None:
    """The official training's initialisation (Caffe ``msra`` filler, biases 0): every weight
    ~ N(0, 2 / fan_in), fan_in = input channels x kernel area. (For the transposed convolutions
    Caffe counts output channels instead; we use the true fan-in there too.) PyTorch's default
    init is ~2.4x smaller per layer, which keeps the deep estimators' outputs near zero for
    hundreds of iterations when training from scratch."""
    for layer in network.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            kernel_area = layer.weight[0, 0].numel()
            fan_in = (layer.in_channels // layer.groups) * kernel_area
            torch.nn.init.normal_(layer.weight, 0.0, (2.0 / fan_in) ** 0.5)
            if layer.bias is not None:
                torch.nn.init.zeros_(layer.bias)


def upsampled_flow2(flow2: Tensor, size: tuple[int, int]) -> Tensor:
    """Level-2 prediction (B, 2, H/4, W/4) in network units -> (B, 2, H, W) float32 flow in pixels
    (bilinear), as the training EPE is measured."""
    return torch.nn.functional.interpolate(flow2.float() * FLOW_SCALE, size=size, mode="bilinear",
                                           align_corners=False)


def flow_panel(image1: Tensor, pred: Tensor, target: Tensor, valid: Tensor | None = None) -> np.ndarray:
    """Frame 1, predicted flow, true flow (colour-coded with one radius) and the EPE map side by side.

    Args:
        image1: (3, H, W) RGB in [0, 1].
        pred, target: (2, H, W) flow in pixels.
        valid: (H, W) bool mask of the ground truth, or None.

    Returns:
        uint8 (H, 4 W, 3) image; the EPE map is grey, white = the largest error (or 1 px).
    """
    pred_np = pred.detach().float().permute(1, 2, 0).cpu().numpy()
    target_np = target.detach().float().permute(1, 2, 0).cpu().numpy()
    mask = np.ones(target_np.shape[:2], bool) if valid is None else valid.detach().cpu().numpy().astype(bool)
    target_np = np.where(mask[..., None], target_np, 0)
    radius = float(max(np.linalg.norm(target_np, axis=-1).max(), 1e-6))
    epe = np.where(mask, np.linalg.norm(pred_np - target_np, axis=-1), 0)
    epe_img = np.repeat((255 * epe / max(epe.max(), 1.0)).astype(np.uint8)[..., None], 3, axis=-1)
    frame = (image1.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return np.concatenate([frame, flow_to_color(pred_np, max_radius=radius),
                           flow_to_color(target_np, max_radius=radius), epe_img], axis=1)
