"""EPE of PWC-Net weights on held-out synthetic pairs and on the real FlyingChairs crop, and the
warping error on a real Sintel pair without ground truth, each beside zero flow (the baseline every
number should beat) and, with ``--baselines``, two classical methods from OpenCV measured in the
same run: Farneback (2003) and DIS at its medium preset (2016).

    python -m benchmarks.pwcnet_synth_eval WEIGHTS [--pairs 32] [--seed 2] [--size 384 512] [--recipe v1]
        [--baselines] [--threads 2]

``WEIGHTS`` is anything ``zoo.load("pwcnet", weights=...)`` reads (a tag, .safetensors, .ckpt).
The synthetic pairs are SyntheticFlow pairs of ``--recipe``, ``--seed`` and ``--size``
(pwcnet.synth trains on seed 0 and validates on seed 1; seed 2 is held out). Motion scales with
the frame size. The chairs crop is ``../shared/data/flow_samples/chairs_crop`` (50x50, evaluation
only). The Sintel pair is ``frame_0010`` / ``frame_0011`` (436x1024) stored in the PWC-Net
fixture ``../shared/fixtures/pwcnet/fixture_b_full436x1024.npz``; it has no ground truth, so the
number is the photometric error of frame 2 warped back onto frame 1 by the flow (mean absolute
RGB difference in [0, 255] over the pixels the network's flow maps inside the frame).
Prints one JSON object; its keys are the ones the bundled weights' metadata records.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from zoo.datamodules.flow.formats import read_flow, read_image
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.measure.classical_flow import dis_medium, farneback
from zoo.weights.loader import load

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CHAIRS_CROP = SHARED / "data" / "flow_samples" / "chairs_crop"
SINTEL_PAIR = SHARED / "fixtures" / "pwcnet" / "fixture_b_full436x1024.npz"

#: A flow method: (image1, image2) (3, H, W) RGB in [0, 1] -> (2, H, W) flow in pixels.
Method = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def network_method(network: torch.nn.Module) -> Method:
    def estimate(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return network(image1[None], image2[None])[0]

    return estimate


def zero_flow(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    return torch.zeros(2, *image1.shape[-2:])


BASELINES: dict[str, Method] = {"farneback": farneback, "dis": dis_medium}


def _methods(network: torch.nn.Module, baselines: bool) -> dict[str, Method]:
    """Figure name prefix ("" for the network) -> method."""
    return {"": network_method(network), "zero_flow_": zero_flow, **({f"{k}_": v for k, v in BASELINES.items()}
                                                                       if baselines else {})}


def _epe(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    error = torch.linalg.vector_norm(pred.double() - truth.double(), dim=0)
    return float((error[mask] if mask is not None else error).mean())


def warping_error(image1: torch.Tensor, image2: torch.Tensor, flow: torch.Tensor) -> tuple[float, float]:
    """Mean |image1 - image2 warped by flow| and the same for zero flow, in [0, 255] units.

    Args:
        image1, image2: (3, H, W) float in [0, 1].
        flow: (2, H, W) pixels from image1 to image2.

    Only pixels whose target ``x + flow`` lies inside the frame count (for both numbers).
    """
    inside = _inside(flow)
    return _warped_error(image1, image2, flow, inside), _warped_error(image1, image2, torch.zeros_like(flow), inside)


def _inside(flow: torch.Tensor) -> torch.Tensor:
    """(H, W) bool: pixels whose ``x + flow`` lies inside the frame."""
    height, width = flow.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    x, y = xs + flow[0].double(), ys + flow[1].double()
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)


def _warped_error(image1: torch.Tensor, image2: torch.Tensor, flow: torch.Tensor, mask: torch.Tensor) -> float:
    height, width = flow.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64),
                            indexing="ij")
    x, y = xs + flow[0].double(), ys + flow[1].double()
    grid = torch.stack([2 * x / (width - 1) - 1, 2 * y / (height - 1) - 1], dim=-1)[None]
    warped = torch.nn.functional.grid_sample(image2[None].double(), grid, mode="bilinear", align_corners=True)[0]
    return 255 * float((warped - image1.double()).abs().mean(dim=0)[mask].mean())


def synthetic_name(size: tuple[int, int], seed: int, pairs: int, recipe: str = "v1") -> str:
    """The prefix of the figures of one synthetic subset, e.g. ``synthetic_192x256_seed2_64pairs``
    (recipe v1, the first figures' set) or ``synthetic_384x512_seed2_32pairs_v2``."""
    return f"synthetic_{size[0]}x{size[1]}_seed{seed}_{pairs}pairs" + ("" if recipe == "v1" else f"_{recipe}")


_SYNTHETIC_NAME = re.compile(r"synthetic_(\d+)x(\d+)_seed(\d+)_(\d+)pairs(?:_(v\d+))?_")


def synthetic_subsets(figures: Iterable[str]) -> list[tuple[tuple[int, int], int, int, str]]:
    """The ``(size, seed, pairs, recipe)`` of every synthetic subset named in ``figures`` (keys as
    :func:`evaluate` writes them), cheapest (fewest rendered pixels) first."""
    subsets = set()
    for key in figures:
        match = _SYNTHETIC_NAME.match(key)
        if match:
            height, width, seed, pairs = (int(g) for g in match.groups()[:4])
            subsets.add(((height, width), seed, pairs, match.group(5) or "v1"))
    return sorted(subsets, key=lambda s: (s[0][0] * s[0][1] * s[2], s))


def synthetic_figures(network: torch.nn.Module, pairs: int, seed: int, size: tuple[int, int] = (384, 512),
                      recipe: str = "v1", baselines: bool = False,
                      scenes: dict[str, float] | None = None) -> dict[str, float]:
    """Mean EPE of ``network``, zero flow (and the classical baselines) over ``pairs`` SyntheticFlow
    pairs of ``seed`` and ``recipe`` (``scenes``: the recipe's scene mix, reweighted)."""
    data = SyntheticFlow(size=size, length=pairs, seed=seed, recipe=recipe, scenes=scenes)
    methods = _methods(network, baselines)
    epe: dict[str, list[float]] = {prefix: [] for prefix in methods}
    for item in data:
        for prefix, method in methods.items():
            epe[prefix].append(_epe(method(item["image1"], item["image2"]), item["flow"]))
    name = synthetic_name(size, seed, pairs, recipe)
    return {f"{name}_{prefix}epe": float(np.mean(values)) for prefix, values in epe.items()}


def chairs_crop_figures(network: torch.nn.Module, baselines: bool = False) -> dict[str, float]:
    """EPE of ``network``, zero flow (and the baselines) over the valid pixels of the real FlyingChairs crop."""
    image1, image2 = (torch.from_numpy(read_image(CHAIRS_CROP / f"00001_img{i}.ppm")).permute(2, 0, 1) for i in (1, 2))
    flow, valid = read_flow(CHAIRS_CROP / "00001_flow.flo")
    truth, mask = torch.from_numpy(flow).permute(2, 0, 1), torch.from_numpy(valid)
    return {f"chairs_crop_{prefix}epe": _epe(method(image1, image2), truth, mask)
            for prefix, method in _methods(network, baselines).items()}


def sintel_pair_figures(network: torch.nn.Module, baselines: bool = False) -> dict[str, float]:
    """Warping error (0-255) of ``network``'s flow and of zero flow on the real Sintel pair over
    the pixels the network's flow maps inside the frame; each baseline's over those of them that
    its own flow maps inside too."""
    frames = torch.from_numpy(np.load(SINTEL_PAIR)["frames_rgb_u8"]).permute(0, 3, 1, 2).float() / 255
    flows = {prefix: method(frames[0], frames[1]) for prefix, method in _methods(network, baselines).items()}
    inside = _inside(flows[""])
    return {f"sintel_pair_{prefix}warping_error": _warped_error(frames[0], frames[1], flow,
                                                                inside if prefix in ("", "zero_flow_") else inside & _inside(flow))
            for prefix, flow in flows.items()}


def evaluate(weights: str, pairs: int, seed: int, size: tuple[int, int] = (384, 512), recipe: str = "v1",
             baselines: bool = False) -> dict[str, float]:
    """Every figure: the synthetic subset of ``seed``, ``pairs``, ``size`` and ``recipe``, and the
    real pairs of ``../shared`` where it is present."""
    network = load("pwcnet", weights=weights)
    result = synthetic_figures(network, pairs, seed, size, recipe, baselines)
    if CHAIRS_CROP.is_dir():
        result.update(chairs_crop_figures(network, baselines))
    if SINTEL_PAIR.is_file():
        result.update(sintel_pair_figures(network, baselines))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights")
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--size", type=int, nargs=2, default=(384, 512), metavar=("H", "W"))
    parser.add_argument("--recipe", default="v1", choices=("v1", "v2"))
    parser.add_argument("--baselines", action="store_true", help="also OpenCV Farneback and DIS (medium)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures = evaluate(args.weights, args.pairs, args.seed, tuple(args.size), args.recipe, args.baselines)
    print(json.dumps(figures, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
