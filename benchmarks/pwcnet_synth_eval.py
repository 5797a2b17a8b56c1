"""EPE of PWC-Net weights on held-out synthetic pairs and on the real FlyingChairs crop, and the
warping error on a real Sintel pair without ground truth, each beside the same number for zero flow
(the baseline every number should beat).

    python benchmarks/pwcnet_synth_eval.py WEIGHTS [--pairs 32] [--seed 1] [--size 384 512] [--threads 2] [--recipe v1]

``WEIGHTS`` is anything ``zoo.load("pwcnet", weights=...)`` reads (a tag, .safetensors, .ckpt).
The synthetic pairs are SyntheticFlow pairs of ``--recipe`` (default v1, the generator the published
numbers were measured on; other recipes add ``_<recipe>`` to the keys), ``--seed`` and ``--size``
(pwcnet.synth trains on seed 0 and validates on seed 1; seed 2 is held out). Motion scales with
the frame size: 384x512 is the generator's reference, 192x256 (pwcnet.synth's training size) has
half the motion. The
chairs crop is ``../shared/data/flow_samples/chairs_crop`` (50x50, evaluation only). The Sintel pair is ``frame_0010`` / ``frame_0011`` (436x1024) stored in the
PWC-Net fixture ``../shared/fixtures/pwcnet/fixture_b_full436x1024.npz``; it has no ground truth, so
the number is the photometric error of frame 2 warped back onto frame 1 by the flow (mean absolute
RGB difference in [0, 255] over the pixels that flow and zero flow both map inside the frame).
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from datamodules.flow.formats import read_flow, read_image
from datamodules.flow.synthetic import SyntheticFlow
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


def evaluate(weights: str, pairs: int, seed: int, size: tuple[int, int] = (384, 512), recipe: str = "v1") -> dict[str, float]:
    network = load("pwcnet", weights=weights)
    data = SyntheticFlow(size=size, length=pairs, seed=seed, recipe=recipe)
    epe, zero = [], []
    with torch.inference_mode():
        for item in data:
            pred = network(item["image1"][None], item["image2"][None])[0]
            epe.append(_epe(pred, item["flow"]))
            zero.append(_epe(torch.zeros_like(item["flow"]), item["flow"]))
    name = f"synthetic_{size[0]}x{size[1]}_seed{seed}_{pairs}pairs" + ("" if recipe == "v1" else f"_{recipe}")
    result = {f"{name}_epe": float(np.mean(epe)), f"{name}_zero_flow_epe": float(np.mean(zero))}
    if CHAIRS_CROP.is_dir():
        image1, image2 = (torch.from_numpy(read_image(CHAIRS_CROP / f"00001_img{i}.ppm")).permute(2, 0, 1)[None]
                          for i in (1, 2))
        flow, valid = read_flow(CHAIRS_CROP / "00001_flow.flo")
        truth = torch.from_numpy(flow).permute(2, 0, 1)
        with torch.inference_mode():
            pred = network(image1, image2)[0]
        mask = torch.from_numpy(valid)
        result["chairs_crop_epe"] = float(torch.linalg.vector_norm(pred.double() - truth.double(), dim=0)[mask].mean())
        result["chairs_crop_zero_flow_epe"] = float(torch.linalg.vector_norm(truth.double(), dim=0)[mask].mean())
    if SINTEL_PAIR.is_file():
        frames = torch.from_numpy(np.load(SINTEL_PAIR)["frames_rgb_u8"]).permute(0, 3, 1, 2).float() / 255
        with torch.inference_mode():
            pred = network(frames[:1], frames[1:])[0]
        error, zero = warping_error(frames[0], frames[1], pred)
        result["sintel_pair_warping_error"], result["sintel_pair_zero_flow_warping_error"] = error, zero
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--recipe", default="v1", help="SyntheticFlow recipe of the synthetic pairs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(evaluate(args.weights, args.pairs, args.seed, tuple(args.size), args.recipe), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
