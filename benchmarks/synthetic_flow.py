"""SyntheticFlow throughput (v1 and v2 recipes, one thread) and motion statistics beside published ones.

Run: ``python -m benchmarks.synthetic_flow [--pairs 12] [--steps 2] [--stats] [--stats-pairs 60]``

Prints, on one thread (OMP_NUM_THREADS=1 is set by ``main`` through torch.set_num_threads(1)):

- pairs/s of each recipe at 384x512 and 375x1242 (item dicts with photometric effects, as a
  DataLoader worker makes them), and their ratio to v1 at the same size, measured in this run;
- the time of one PWC-Net training step (batch 4, 256x320 crops) in the same process and the share
  of it that rendering its 4 pairs at 384x512 takes (``--steps 0`` skips it);
- with ``--stats``: the flow-magnitude histogram of each recipe at both sizes (all valid pixels,
  photometric effects off: they do not change the flow) beside the published reference figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from zoo.datamodules.flow.synthetic import RECIPES, SyntheticFlow

SIZES = ((384, 512), (375, 1242))
CROP, BATCH = (256, 320), 4
#: Fraction buckets (px): under 1, 1-10, 10-40, 40-100, 100 and more.
BUCKETS = (0, 1, 10, 40, 100, np.inf)

#: What the benchmarks publish about their motion, with sources. The fractions of pixels per
#: magnitude bucket were not found in the sources searched; they are printed as such, never guessed.
PUBLISHED = (
    ("MPI Sintel", ("speed buckets s0-10 / s10-40 / s40+ (EPE over pixels moving 0-10, 10-40, 40+ px per frame) "
     "are the benchmark's own (Butler et al., ECCV 2012, sintel.is.tue.mpg.de; e.g. printed by GMFlow's "
     "scripts/evaluate.sh); the share of pixels in each bucket: not found in the sources searched")),
    ("KITTI 2015", ("flow-magnitude distribution: not found in the sources searched (Menze & Geiger, CVPR 2015; "
     "the benchmark's Fl outlier is > 3 px and > 5 % of the true flow). Issue 14 (this project, not a published "
     "figure): motion up to ~250 px at 1242x375")),
)


def generator_rate(recipe: str, size: tuple[int, int], pairs: int) -> float:
    """Pairs per second rendered as item dicts with photometric effects."""
    dataset = SyntheticFlow(size=size, length=pairs + 1, seed=0, recipe=recipe)
    dataset[pairs]  # warm-up: first calls of the torch kernels
    start = time.perf_counter()
    for index in range(pairs):
        dataset[index]
    return pairs / (time.perf_counter() - start)


def pwcnet_step_seconds(steps: int) -> float:
    """Seconds per PWC-Net training step on a batch of 4 crops of 256x320."""
    from zoo.models.pwcnet.loss import multiscale_loss
    from zoo.models.pwcnet.network import PWCNet

    network = PWCNet(channel_order="RGB")
    optimiser = torch.optim.SGD(network.parameters(), lr=1e-5)
    items = [SyntheticFlow(size=CROP, length=BATCH, seed=1, recipe="v1")[i] for i in range(BATCH)]
    image1, image2, flow = (torch.stack([item[k] for item in items]) for k in ("image1", "image2", "flow"))

    def step() -> None:
        optimiser.zero_grad()
        loss, _ = multiscale_loss(network.forward_levels(image1, image2), flow)
        loss.backward()
        optimiser.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def flow_magnitudes(recipe: str, size: tuple[int, int], pairs: int) -> np.ndarray:
    """Magnitudes (px) of the valid flow of ``pairs`` pairs of seed 0."""
    dataset = SyntheticFlow(size=size, length=pairs, seed=0, photometric=False, recipe=recipe)
    magnitudes = []
    for index in range(pairs):
        pair = dataset.render(index)
        magnitude = torch.linalg.vector_norm(pair.flow, dim=0)
        magnitudes.append((magnitude if pair.valid is None else magnitude[pair.valid]).flatten().numpy())
    return np.concatenate(magnitudes)


def describe(magnitudes: np.ndarray) -> str:
    """One line: mean, percentiles, bucket fractions and max of flow magnitudes (px)."""
    p50, p90, p99 = np.percentile(magnitudes, [50, 90, 99])
    counts, _ = np.histogram(magnitudes, bins=BUCKETS)
    shares = " / ".join(f"{100 * c / len(magnitudes):5.1f}" for c in counts)
    sintel = np.histogram(magnitudes, bins=(0, 10, 40, np.inf))[0] / len(magnitudes)
    return (f"mean {magnitudes.mean():6.2f}  p50 {p50:6.2f}  p90 {p90:6.1f}  p99 {p99:6.1f}  max {magnitudes.max():6.1f}"
            f" | % <1 / 1-10 / 10-40 / 40-100 / >100: {shares}"
            f" | Sintel buckets s0-10 / s10-40 / s40+: {' / '.join(f'{100 * s:.1f}' for s in sintel)} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=12, help="pairs timed per recipe and size")
    parser.add_argument("--steps", type=int, default=2, help="PWC-Net training steps timed (0: skip)")
    parser.add_argument("--stats", action="store_true", help="print the motion histograms")
    parser.add_argument("--stats-pairs", type=int, default=60, help="pairs per recipe and size for the histograms")
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("SyntheticFlow throughput, 1 thread (pairs/s, photometric effects on):")
    rates = {}
    for size in SIZES:
        for recipe in RECIPES:
            rates[recipe, size] = rate = generator_rate(recipe, size, args.pairs)
            print(f"  {recipe} {size[0]}x{size[1]}: {rate:6.2f} pairs/s ({1000 / rate:6.1f} ms/pair), "
                  f"{rate / rates['v1', size]:.2f}x v1")
    if args.steps > 0:
        step = pwcnet_step_seconds(args.steps)
        print(f"PWC-Net training step, batch {BATCH}, {CROP[0]}x{CROP[1]} crops, 1 thread: {step:.2f} s")
        for recipe in RECIPES:
            share = BATCH / rates[recipe, SIZES[0]] / step
            print(f"  rendering its {BATCH} pairs with {recipe} at 384x512: {100 * share:.0f} % of the step")

    if args.stats:
        print(f"\nflow magnitude (px) over all valid pixels of {args.stats_pairs} pairs of seed 0:")
        for size in SIZES:
            for recipe in RECIPES:
                print(f"  {recipe} {size[0]}x{size[1]}: {describe(flow_magnitudes(recipe, size, args.stats_pairs))}")
        print("published figures:")
        for name, text in PUBLISHED:
            print(f"  {name}: {text}")


if __name__ == "__main__":
    main()
