"""EPE of PWC-Net weights on held-out synthetic pairs and on the real FlyingChairs crop, and the
warping error on a real Sintel pair without ground truth, each beside the same number for zero flow
(the baseline every number should beat).

    python -m benchmarks.pwcnet_synth_eval WEIGHTS [--pairs 32] [--seed 1] [--size 384 512] [--threads 2]

``WEIGHTS`` is anything ``zoo.load("pwcnet", weights=...)`` reads (a tag, .safetensors, .ckpt).
The synthetic pairs are SyntheticFlow pairs of ``--seed`` and ``--size`` (pwcnet.synth trains on
seed 0 and validates on seed 1; seed 2 is held out). Motion scales with the frame size: 384x512
is the generator's reference, 192x256 (pwcnet.synth's training size) has half the motion. The
chairs crop is ``../shared/data/flow_samples/chairs_crop`` (50x50, evaluation only). The Sintel pair is ``frame_0010`` / ``frame_0011`` (436x1024) stored in the
PWC-Net fixture ``../shared/fixtures/pwcnet/fixture_b_full436x1024.npz``; it has no ground truth, so
the number is the photometric error of frame 2 warped back onto frame 1 by the flow (mean absolute
RGB difference in [0, 255] over the pixels that flow and zero flow both map inside the frame).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from datamodules.flow.formats import read_flow, read_image
from datamodules.synthetic_flow import SyntheticFlow
from zoo.loader import load

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CHAIRS_CROP = SHARED / "data" / "flow_samples" / "chairs_crop"
SINTEL_PAIR = SHARED / "fixtures" / "pwcnet" / "fixture_b_full436x1024.npz"


def _epe(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(pred.double() - truth.double(), dim=0).mean())


def warping_error(image1: torch.Tensor, image2: torch.Tensor, flow: torch.Tensor) -> tuple[float, float]:
    """Mean |image1 - image2 warped by flow| and the same for zero flow, in [0, 255] units.

    Args:
        image1, image2: (3, H, W) float in [0, 1].
        flow: (2, H, W) pixels from image1 to image2.

    Only pixels whose target ``x + flow`` lies inside the frame count (for both numbers).
    """
    height, width = flow.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    x, y = xs + flow[0].double(), ys + flow[1].double()
    inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
    grid = torch.stack([2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1], dim=-1)[None]
    warped = torch.nn.functional.grid_sample(image2[None].double(), grid, mode="bilinear", align_corners=True)[0]
    error = (warped - image1.double()).abs().mean(dim=0)[inside]
    zero = (image2.double() - image1.double()).abs().mean(dim=0)[inside]
    return 255 * float(error.mean()), 255 * float(zero.mean())


def synthetic_name(size: tuple[int, int], seed: int, pairs: int) -> str:
    """The prefix of the figures of one synthetic subset, e.g. ``synthetic_192x256_seed2_64pairs``."""
    return f"synthetic_{size[0]}x{size[1]}_seed{seed}_{pairs}pairs"


_SYNTHETIC_NAME = re.compile(r"synthetic_(\d+)x(\d+)_seed(\d+)_(\d+)pairs_")


def synthetic_subsets(figures: Iterable[str]) -> list[tuple[tuple[int, int], int, int]]:
    """The ``(size, seed, pairs)`` of every synthetic subset named in ``figures`` (keys as
    :func:`evaluate` writes them), cheapest (fewest rendered pixels) first."""
    subsets = set()
    for key in figures:
        match = _SYNTHETIC_NAME.match(key)
        if match:
            height, width, seed, pairs = (int(g) for g in match.groups())
            subsets.add(((height, width), seed, pairs))
    return sorted(subsets, key=lambda s: (s[0][0] * s[0][1] * s[2], s))


def synthetic_figures(network: torch.nn.Module, pairs: int, seed: int,
                      size: tuple[int, int] = (384, 512)) -> dict[str, float]:
    """Mean EPE of ``network`` and of zero flow over ``pairs`` SyntheticFlow pairs of ``seed``."""
    data = SyntheticFlow(size=size, length=pairs, seed=seed)
    epe, zero = [], []
    with torch.inference_mode():
        for item in data:
            pred = network(item["image1"][None], item["image2"][None])[0]
            epe.append(_epe(pred, item["flow"]))
            zero.append(_epe(torch.zeros_like(item["flow"]), item["flow"]))
    name = synthetic_name(size, seed, pairs)
    return {f"{name}_epe": float(np.mean(epe)), f"{name}_zero_flow_epe": float(np.mean(zero))}


def chairs_crop_figures(network: torch.nn.Module) -> dict[str, float]:
    """EPE of ``network`` and of zero flow over the valid pixels of the real FlyingChairs crop."""
    image1, image2 = (torch.from_numpy(read_image(CHAIRS_CROP / f"00001_img{i}.ppm")).permute(2, 0, 1)[None]
                      for i in (1, 2))
    flow, valid = read_flow(CHAIRS_CROP / "00001_flow.flo")
    truth = torch.from_numpy(flow).permute(2, 0, 1)
    with torch.inference_mode():
        pred = network(image1, image2)[0]
    mask = torch.from_numpy(valid)
    return {"chairs_crop_epe": float(torch.linalg.vector_norm(pred.double() - truth.double(), dim=0)[mask].mean()),
            "chairs_crop_zero_flow_epe": float(torch.linalg.vector_norm(truth.double(), dim=0)[mask].mean())}


def sintel_pair_figures(network: torch.nn.Module) -> dict[str, float]:
    """Warping error (0-255) of ``network``'s flow and of zero flow on the real Sintel pair."""
    frames = torch.from_numpy(np.load(SINTEL_PAIR)["frames_rgb_u8"]).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        pred = network(frames[:1], frames[1:])[0]
    error, zero = warping_error(frames[0], frames[1], pred)
    return {"sintel_pair_warping_error": error, "sintel_pair_zero_flow_warping_error": zero}


def evaluate(weights: str, pairs: int, seed: int, size: tuple[int, int] = (384, 512)) -> dict[str, float]:
    """Every figure: the synthetic subset of ``seed``, ``pairs`` and ``size``, and the real pairs
    of ``../shared`` where it is present."""
    network = load("pwcnet", weights=weights)
    result = synthetic_figures(network, pairs, seed, size)
    if CHAIRS_CROP.is_dir():
        result.update(chairs_crop_figures(network))
    if SINTEL_PAIR.is_file():
        result.update(sintel_pair_figures(network))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(evaluate(args.weights, args.pairs, args.seed, tuple(args.size)), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
