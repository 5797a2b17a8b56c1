"""EPE of PWC-Net weights on held-out synthetic pairs and on the real FlyingChairs crop, with the
EPE of predicting zero flow beside each (the baseline every number should beat).

    python benchmarks/pwcnet_synth_eval.py WEIGHTS [--pairs 32] [--seed 1] [--threads 2]

``WEIGHTS`` is anything ``zoo.load("pwcnet", weights=...)`` reads (a tag, .safetensors, .ckpt).
The synthetic pairs are 384x512 SyntheticFlow pairs of ``--seed`` (pwcnet.synth trains on seed 0
and validates on seed 1). The chairs crop is ``../shared/data/flow_samples/chairs_crop`` (50x50,
evaluation only). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from datamodules.flow_io import read_flow, read_image
from datamodules.synthetic_flow import SyntheticFlow
from zoo.loader import load

CHAIRS_CROP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flow_samples" / "chairs_crop"


def _epe(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(pred.double() - truth.double(), dim=0).mean())


def evaluate(weights: str, pairs: int, seed: int, size: tuple[int, int] = (384, 512)) -> dict[str, float]:
    network = load("pwcnet", weights=weights)
    data = SyntheticFlow(size=size, length=pairs, seed=seed)
    epe, zero = [], []
    with torch.inference_mode():
        for item in data:
            pred = network(item["image1"][None], item["image2"][None])[0]
            epe.append(_epe(pred, item["flow"]))
            zero.append(_epe(torch.zeros_like(item["flow"]), item["flow"]))
    result = {f"synthetic_seed{seed}_{pairs}pairs_epe": float(np.mean(epe)),
              f"synthetic_seed{seed}_{pairs}pairs_zero_flow_epe": float(np.mean(zero))}
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
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(evaluate(args.weights, args.pairs, args.seed), indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
