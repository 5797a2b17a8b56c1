"""The temporal-loss recipe, worked: a per-frame video denoiser trained with and without
:class:`zoo.supervision.TemporalConsistencyLoss` through a Lightning ``Trainer``.

Data: clips rendered by our synthetic generator (layered scenes with natural textures,
:meth:`zoo.datamodules.flow.synthetic.layered.LayeredScene.render_clip`), with Gaussian noise
drawn afresh at every step. The model sees one frame at a time (a small residual CNN), so nothing
but the loss ties its outputs across frames. Both runs start from the same initialisation and
draw the same noise; the others add ``--weight`` x the temporal loss (one run per weight), whose flows and masks come
from the clean training clips through the bundled ``pwcnet.synth`` (computed once per clip:
``TemporalConsistencyLoss.flows``).

Printed for held-out clips: E_warp (as :class:`zoo.supervision.WarpingError` computes it, flows and occlusion
from the clean clip, as Lai et al. measure a processed video against its input) and the denoising
error (MSE against the clean frames, and PSNR in dB), for the noisy input, both models and the
clean clips.

    python -m benchmarks.temporal_denoiser [--steps 300] [--weight 0.1 [1.0 ...]] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from zoo.datamodules.flow.synthetic.layered import LayeredScene
from zoo.datamodules.flow.synthetic.textures import natural_texture
from zoo.supervision import (
    FlowSupervisor,
    TemporalConsistencyLoss,
    consecutive_pairs,
    flow_and_visibility,
    pair_warping_errors,
)

SIZE = (64, 96)
FRAMES = 4
NOISE_SD = 0.1


def render_clips(count: int, seed: int, size: tuple[int, int] = SIZE, frames: int = FRAMES) -> torch.Tensor:
    """(count, frames, 3, H, W) clean clips in [0, 1], clip i drawn from ``default_rng([seed, i])``."""
    scene = LayeredScene(size, texture=natural_texture)
    return torch.stack([scene.render_clip(scene.sample_layers(np.random.default_rng([seed, i])), frames)
                        for i in range(count)])


class Denoiser(nn.Module):
    """Per-frame residual CNN: (N, 3, H, W) noisy -> (N, 3, H, W) estimate of the clean frame."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                                  nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return frames + self.body(frames)


class _Clips(Dataset):
    """Clean clips with their temporal-loss flows and masks (one clip per item)."""

    def __init__(self, clips: torch.Tensor, flows: tuple[torch.Tensor, torch.Tensor]) -> None:
        pairs = clips.shape[1] - 1
        self.clips = clips
        self.to_previous, self.visible = (t.view(len(clips), pairs, *t.shape[1:]) for t in flows)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int):
        return self.clips[index], self.to_previous[index], self.visible[index]


class DenoiserModule(pl.LightningModule):
    """MSE to the clean frames, plus ``weight`` x the temporal loss when ``temporal`` is given."""

    def __init__(self, temporal: TemporalConsistencyLoss | None, weight: float, lr: float = 2e-3) -> None:
        super().__init__()
        self.model = Denoiser()
        self.temporal, self.weight, self.lr = temporal, weight, lr

    def denoise(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, T, 3, H, W), frame by frame."""
        return self.model(clips.flatten(0, 1)).view_as(clips)

    def training_step(self, batch, _):
        clean, to_previous, visible = batch
        noisy = clean + NOISE_SD * torch.randn_like(clean)
        outputs = self.denoise(noisy)
        loss = (outputs - clean).square().mean()
        if self.temporal is not None:
            loss = loss + self.weight * self.temporal(outputs, flows=(to_previous.flatten(0, 1), visible.flatten(0, 1)))
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)


def train(temporal: TemporalConsistencyLoss | None, weight: float, data: _Clips, steps: int) -> DenoiserModule:
    pl.seed_everything(0, verbose=False)
    module = DenoiserModule(temporal, weight)
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        trainer.fit(module, DataLoader(data, batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(0)))
    return module


def evaluate(outputs: torch.Tensor, clean: torch.Tensor, reference: tuple[torch.Tensor, torch.Tensor],
             ) -> tuple[float, float, float]:
    """(E_warp, MSE, PSNR dB) of output clips (B, T, 3, H, W) against the clean clips.

    E_warp is :class:`zoo.supervision.WarpingError`'s, with the flows and masks of the clean clips (``reference``:
    :func:`flow_and_visibility` of their pairs) computed once for every row.
    """
    errors = pair_warping_errors(*consecutive_pairs(outputs), *reference)
    e_warp = float(errors.view(len(outputs), -1).mean(1).mean())
    mse = float((outputs.clamp(0, 1) - clean).square().mean())
    return e_warp, mse, 10 * math.log10(1 / mse) if mse > 0 else math.inf


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps of each run (batches of 2 clips)")
    parser.add_argument("--weight", type=float, nargs="+", default=[0.1],
                        help="weight(s) of the temporal loss: one run per weight")
    parser.add_argument("--train-clips", type=int, default=8)
    parser.add_argument("--test-clips", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    supervisor = FlowSupervisor("pwcnet.synth", grad=False)
    temporal = TemporalConsistencyLoss(supervisor)
    train_clips = render_clips(args.train_clips, seed=1)
    data = _Clips(train_clips, temporal.flows(train_clips))
    test_clean = render_clips(args.test_clips, seed=2)
    test_noisy = test_clean + NOISE_SD * torch.randn(test_clean.shape, generator=torch.Generator().manual_seed(2))

    rows = {"noisy input": test_noisy.clamp(0, 1), "clean (target)": test_clean}
    for weight in [0.0, *args.weight]:
        module = train(temporal if weight else None, weight, data, args.steps)
        with torch.no_grad():
            rows[f"MSE + {weight:g} x temporal" if weight else "MSE only"] = module.denoise(test_noisy).clamp(0, 1)
    with torch.no_grad():
        reference = flow_and_visibility(supervisor, *consecutive_pairs(test_clean))
    print(f"{args.test_clips} held-out clips of {FRAMES} frames, {SIZE[0]}x{SIZE[1]}, noise sd {NOISE_SD}; "
          f"{args.steps} steps of 2 clips, {args.train_clips} training clips")
    print(f"{'':28}  {'E_warp x 1e3':>12}  {'MSE x 1e3':>9}  {'PSNR dB':>7}")
    for name, outputs in rows.items():
        e_warp, mse, psnr = evaluate(outputs, test_clean, reference)
        print(f"{name:28}  {1e3 * e_warp:12.3f}  {1e3 * mse:9.3f}  {psnr:7.2f}")


if __name__ == "__main__":
    main()
