"""The optical-flow half of ``zoo demo``: PWC-Net (``pwcnet.synth``) on a freshly rendered pair.

Offline and quick on a CPU: one 384x512 pair from :class:`zoo.datamodules.SyntheticFlow` (recipe v2's
driving scenes: a camera moving along a street, the motion of real footage; a seed the weights
were not trained on), written as ``frame1.png`` / ``frame2.png``; one forward pass, a ``.flo``
file, a labelled picture and the end-point error beside zero flow's and OpenCV's DIS on the same
pair; then the figures the bundled weights publish (``zoo info pwcnet.synth``) and where DIS,
the classical baseline, beats them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.catalog.registry import weights_info
from zoo.datamodules.files.atomic import write_png
from zoo.datamodules.files.outputs import check_outputs, local_files
from zoo.datamodules.flow.formats import write_flow
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.datamodules.flow.visualize import color_wheel_legend, flow_to_color
from zoo.measure.classical_flow import dis_medium
from zoo.weights.loader import load

__all__ = ["DEMO_RECIPE", "DEMO_SCENES", "DEMO_SEED", "DEMO_SIZE", "EPE_CLIP", "baseline_wins", "flow_demo", "flow_picture",
           "published_figures"]

#: Size (H, W) of the rendered demo pair.
DEMO_SIZE = (384, 512)
#: Seed of the demo pair: neither the training (0) nor the validation (1) seed of ``pwcnet.synth``; the first
#: seed from 7 on whose driving pair moves as real footage does (mean motion 8.9 px, up to 30 px; seed 7: 1.3 px).
DEMO_SEED = 8
#: SyntheticFlow recipe of the demo pair: the one ``pwcnet.synth`` was trained on.
DEMO_RECIPE = "v2"
#: Scene kinds of the demo pair: v2's driving scenes only.
DEMO_SCENES = {"driving": 1.0}
#: End-point error (px) drawn white in the demo's error panel: KITTI's outlier threshold.
EPE_CLIP = 3.0
#: The metric prefix of the classical baseline in the weight records' figures (OpenCV's DIS, medium preset).
BASELINE = "dis-medium"


def flow_demo(out_dir: str | os.PathLike, *, weights: str | os.PathLike | None = None,
              index: int = 0) -> dict[str, Any]:
    """Estimate the flow of one synthetic pair and write ``flow.flo`` and ``flow.png`` to ``out_dir``.

    Args:
        out_dir: output folder (created if needed).
        weights: PWC-Net weights (tag or file); default the bundled ``pwcnet.synth``.
        index: which pair of the demo seed to render.

    Returns:
        ``{"epe": px, "zero_flow_epe": px, "dis_epe": px (OpenCV's DIS, medium preset), "max_true_flow": px, "flo": Path, "png": Path,
        "size": (H, W), "weights": str}``; also printed as one line.
    """
    out_dir = Path(out_dir)
    check_outputs([("out_dir", out_dir / name) for name in ("flow.flo", "frame1.png", "frame2.png", "flow.png")],
                  local_files({"weights": weights}))
    out_dir.mkdir(parents=True, exist_ok=True)
    item = SyntheticFlow(size=DEMO_SIZE, length=index + 1, seed=DEMO_SEED, recipe=DEMO_RECIPE, scenes=DEMO_SCENES)[index]
    network = load("pwcnet.synth") if weights is None else load("pwcnet", weights=weights)
    with torch.inference_mode():
        pred = network(item["image1"][None], item["image2"][None])[0]
    truth = item["flow"]
    epe = float(torch.linalg.vector_norm(pred - truth, dim=0).mean())
    zero_epe = float(torch.linalg.vector_norm(truth, dim=0).mean())
    dis_epe = float(torch.linalg.vector_norm(dis_medium(item["image1"], item["image2"]) - truth, dim=0).mean())
    pred_hw2 = pred.permute(1, 2, 0).numpy()
    truth_hw2 = truth.permute(1, 2, 0).numpy()
    flo_path = out_dir / "flow.flo"
    write_flow(flo_path, pred_hw2)
    radius = float(np.linalg.norm(truth_hw2, axis=-1).max())
    frames = [(item[k].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for k in ("image1", "image2")]
    for number, frame in enumerate(frames, start=1):
        write_png(out_dir / f"frame{number}.png", frame)
    name = str(weights or "pwcnet.synth")
    png_path = out_dir / "flow.png"
    write_png(png_path, flow_picture(frames, pred_hw2, truth_hw2, f"predicted ({name}): EPE {epe:.2f} px"))
    result = {"epe": epe, "zero_flow_epe": zero_epe, "dis_epe": dis_epe, "max_true_flow": radius, "flo": flo_path,
              "png": png_path, "size": DEMO_SIZE, "weights": name}
    print(f"flow: {name} on a {DEMO_SIZE[0]}x{DEMO_SIZE[1]} synthetic driving pair (H x W, motion up to "
          f"{radius:.0f} px): EPE {epe:.2f} px (zero flow: {zero_epe:.2f} px, OpenCV's DIS: {dis_epe:.2f} px); wrote {out_dir / 'frame1.png'}, {out_dir / 'frame2.png'}, {flo_path} "
          f"and {png_path} (frames; predicted | true flow on one colour scale; error map | colour legend)")
    if weights is None:
        print("\n".join(published_figures("pwcnet.synth")))
        wins = baseline_wins("pwcnet.synth")
        print(f"OpenCV's DIS ({BASELINE}) beats pwcnet.synth on " + ("; ".join(wins) if wins else "none of these")
              + (" (theirs vs ours); pwcnet.synth wins the others" if wins else ""))
    return result


def flow_picture(frames: list[np.ndarray], pred: np.ndarray, truth: np.ndarray, pred_label: str) -> np.ndarray:
    """The demo's labelled picture, uint8 (3H, 2W, 3): frame 1 | frame 2; predicted | true flow,
    both coloured with the true flow's largest magnitude as full saturation; the end-point error
    (black 0 px, white :data:`EPE_CLIP` px or more) | the colour wheel at that scale.

    Args:
        frames: the two uint8 (H, W, 3) frames. pred, truth: (H, W, 2) flows in pixels.
    """
    from PIL import Image, ImageDraw

    height, width = truth.shape[:2]
    radius = float(np.linalg.norm(truth, axis=-1).max())
    error = np.linalg.norm(pred - truth, axis=-1)
    error_image = np.repeat((np.clip(error / EPE_CLIP, 0, 1) * 255).round().astype(np.uint8)[..., None], 3, axis=2)
    legend = np.full((height, width, 3), 255, np.uint8)
    wheel = color_wheel_legend(min(height, width) - 40 | 1)
    top, left = (height - wheel.shape[0]) // 2 + 10, (width - wheel.shape[1]) // 2
    legend[top:top + wheel.shape[0], left:left + wheel.shape[1]] = wheel
    panels = [(frames[0], "frame 1"), (frames[1], "frame 2"),
              (flow_to_color(pred, max_radius=radius), pred_label),
              (flow_to_color(truth, max_radius=radius), "ground truth (same colour scale)"),
              (error_image, f"end-point error: black 0 px, white {EPE_CLIP:g} px or more"),
              (legend, f"hue: direction, saturation: speed; rim = {radius:.1f} px")]
    picture = Image.new("RGB", (2 * width, 3 * height))
    draw = ImageDraw.Draw(picture)
    for number, (panel, label) in enumerate(panels):
        x, y = number % 2 * width, number // 2 * height
        picture.paste(Image.fromarray(panel), (x, y))
        box = draw.textbbox((x + 6, y + 4), label)
        draw.rectangle((box[0] - 3, box[1] - 2, box[2] + 3, box[3] + 2), fill=(0, 0, 0))
        draw.text((x + 6, y + 4), label, fill=(255, 255, 255))
    return np.asarray(picture)


def baseline_wins(name: str, baseline: str = BASELINE) -> list[str]:
    """Each published figure of ``name`` that the ``baseline`` beats, as ``"dataset metric theirs vs ours"``
    (the records hold both: ``"epe"`` beside ``"dis-medium epe"``; lower is better)."""
    wins = []
    for dataset, figures in weights_info(name).metrics.items():
        for metric, ours in figures.items():
            theirs = figures.get(f"{baseline} {metric}")
            if theirs is not None and theirs < ours:
                wins.append(f"{dataset} {metric} {theirs:.3f} vs {ours:.3f}")
    return wins


def published_figures(name: str) -> list[str]:
    """Lines ``"  dataset: metric value, metric value, ..."`` of the figures ``zoo info name`` publishes."""
    info = weights_info(name)
    lines = [f"{name}: published figures, lower is better (zoo info {name} says how each was measured):"]
    for dataset, figures in info.metrics.items():
        lines.append(f"  {dataset}: " + ", ".join(f"{metric} {value:.3f}" for metric, value in figures.items()))
    return lines
