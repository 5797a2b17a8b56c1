"""The optical-flow half of ``zoo demo``: PWC-Net (``pwcnet.synth``) on a freshly rendered pair.

Offline and quick on a CPU: one 384x512 pair from :class:`datamodules.SyntheticFlow` (recipe v2, a seed
the weights were not trained on), one forward pass, a ``.flo`` file, a PNG and the end-point error;
then the figures the bundled weights publish (``zoo info pwcnet.synth``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datamodules.files.atomic import write_png
from datamodules.flow.formats import write_flow
from datamodules.flow.synthetic import SyntheticFlow
from datamodules.flow.visualize import flow_to_color
from zoo.loader import load
from zoo.registry import weights_info

__all__ = ["DEMO_RECIPE", "DEMO_SEED", "DEMO_SIZE", "flow_demo", "published_figures"]

#: Size (H, W) of the rendered demo pair.
DEMO_SIZE = (384, 512)
#: Seed of the demo pair: neither the training (0) nor the validation (1) seed of ``pwcnet.synth``.
DEMO_SEED = 7
#: SyntheticFlow recipe of the demo pair: the one ``pwcnet.synth`` was trained on.
DEMO_RECIPE = "v2"


def flow_demo(out_dir: str | os.PathLike, *, weights: str | os.PathLike | None = None,
              index: int = 0) -> dict[str, Any]:
    """Estimate the flow of one synthetic pair and write ``flow.flo`` and ``flow.png`` to ``out_dir``.

    Args:
        out_dir: output folder (created if needed).
        weights: PWC-Net weights (tag or file); default the bundled ``pwcnet.synth``.
        index: which pair of the demo seed to render.

    Returns:
        ``{"epe": px, "zero_flow_epe": px, "max_true_flow": px, "flo": Path, "png": Path,
        "size": (H, W), "weights": str}``; also printed as one line.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    item = SyntheticFlow(size=DEMO_SIZE, length=index + 1, seed=DEMO_SEED, recipe=DEMO_RECIPE)[index]
    network = load("pwcnet.synth") if weights is None else load("pwcnet", weights=weights)
    with torch.inference_mode():
        pred = network(item["image1"][None], item["image2"][None])[0]
    truth = item["flow"]
    epe = float(torch.linalg.vector_norm(pred - truth, dim=0).mean())
    zero_epe = float(torch.linalg.vector_norm(truth, dim=0).mean())
    pred_hw2 = pred.permute(1, 2, 0).numpy()
    truth_hw2 = truth.permute(1, 2, 0).numpy()
    flo_path = out_dir / "flow.flo"
    write_flow(flo_path, pred_hw2)
    radius = float(np.linalg.norm(truth_hw2, axis=-1).max())
    frames = [(item[k].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for k in ("image1", "image2")]
    panel = np.concatenate([
        np.concatenate(frames, axis=1),
        np.concatenate([flow_to_color(pred_hw2, max_radius=radius), flow_to_color(truth_hw2, max_radius=radius)], axis=1),
    ], axis=0)
    png_path = out_dir / "flow.png"
    write_png(png_path, panel)
    result = {"epe": epe, "zero_flow_epe": zero_epe, "max_true_flow": radius, "flo": flo_path,
              "png": png_path, "size": DEMO_SIZE, "weights": str(weights or "pwcnet.synth")}
    print(f"flow: {result['weights']} on a {DEMO_SIZE[0]}x{DEMO_SIZE[1]} synthetic pair: EPE {epe:.2f} px "
          f"(zero flow: {zero_epe:.2f} px); wrote {flo_path} and {png_path} "
          f"(top: frame 1 | frame 2, bottom: predicted | true flow)")
    if weights is None:
        print("\n".join(published_figures("pwcnet.synth")))
    return result


def published_figures(name: str) -> list[str]:
    """Lines ``"  dataset: metric value, metric value, ..."`` of the figures ``zoo info name`` publishes."""
    info = weights_info(name)
    lines = [f"{name}: published figures, lower is better (zoo info {name} says how each was measured):"]
    for dataset, figures in info.metrics.items():
        lines.append(f"  {dataset}: " + ", ".join(f"{metric} {value:.3f}" for metric, value in figures.items()))
    return lines
