"""Where the time of ``zoo eval nvae.mnist-cpu --data fid`` goes: drawing the samples against the
Inception features, per 1,000 samples, in one process.

    python -m benchmarks.fid [--samples 300] [--batch-size 100] [--inception-weights FILE] [--device cpu]

Without ``--inception-weights`` the FID Inception runs with PyTorch's default initialisation: the same
arithmetic as pytorch-fid's weights, so the same time (no figure is computed). Printed: seconds per
1,000 samples for sampling (prior at temperature 1, the decoder's mean, as the official test_vae_fid),
for the Inception features (resize to 299 included) and for the Frechet distance of 2048-d statistics
(once per evaluation), each one's share of the total, the Inception-to-sampling ratio, and the
extrapolated time of the default 50,000 samples.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch

import zoo
from zoo.measure.fid import FIDStatistics, frechet_distance, load_inception, statistics_of_batches
from zoo.measure.fid_evaluation import FID_SAMPLES, nvae_fid_samples
from zoo.measure.inception import FIDInceptionV3

T = TypeVar("T")


def _timed(function: Callable[[], T]) -> tuple[T, float]:
    """``function()`` and the seconds it took."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--inception-weights", default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    network = zoo.load("nvae.mnist-cpu", map_location=args.device).eval()
    inception = (load_inception(args.inception_weights, args.device) if args.inception_weights
                 else FIDInceptionV3().eval().requires_grad_(False).to(args.device))
    generator = torch.Generator(device=args.device).manual_seed(0)
    next(nvae_fid_samples(network, 2, 2, generator))  # warm-up of both networks
    statistics_of_batches(inception, [torch.rand(2, 1, 32, 32, device=args.device)])

    images, sampling = _timed(lambda: list(nvae_fid_samples(network, args.samples, args.batch_size, generator)))
    moments, features = _timed(lambda: statistics_of_batches(inception, images, dims=2048))
    statistics = moments.statistics()
    rng = np.random.default_rng(0)
    factor = rng.standard_normal((2048, 2048)) / 64
    reference = FIDStatistics(rng.uniform(0, 1, 2048), factor @ factor.T)
    _, distance = _timed(lambda: frechet_distance(statistics, reference))

    per_thousand = 1000 / args.samples
    total = (sampling + features) * per_thousand + distance
    print(f"nvae.mnist-cpu FID on {args.device}, {torch.get_num_threads()} thread(s), {args.samples} samples "
          f"in batches of {args.batch_size} (times per 1,000 samples)")
    print(f"  sampling            {sampling * per_thousand:8.1f} s  {sampling * per_thousand / total:6.1%}")
    print(f"  Inception features  {features * per_thousand:8.1f} s  {features * per_thousand / total:6.1%}")
    print(f"  Frechet distance    {distance:8.1f} s  {distance / total:6.1%}  (once per evaluation, 2048-d)")
    print(f"  Inception / sampling: {features / sampling:.1f}x")
    print(f"  {FID_SAMPLES:,} samples (the default): about {(total - distance) * FID_SAMPLES / 1000 / 3600 + distance / 3600:.1f} h")


if __name__ == "__main__":
    main()
