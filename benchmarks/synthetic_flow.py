"""SyntheticFlow throughput against PWC-Net training on the same core, and its motion statistics.

Run: ``python -m benchmarks.synthetic_flow [--pairs 40] [--steps 3]``

Prints pairs/s of the generator at 384x448 with one thread, the time of one PWC-Net training
step (forward_levels + multi-scale loss + backward + SGD step, batch 1, 384x448, one thread) in
the same process, their ratio (pairs rendered per pair trained), and the flow-magnitude histogram
of the generator at 384x512, the resolution FlyingChairs' statistics are quoted at.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from datamodules.synthetic_flow import SyntheticFlow

SIZE = (384, 448)
STATS_SIZE = (384, 512)
BINS = (0, 5, 10, 20, 30, 50, 100, 150, np.inf)


def generator_rate(pairs: int) -> float:
    """Pairs per second rendered at 384x448 (item dicts, as a DataLoader worker makes them)."""
    dataset = SyntheticFlow(size=SIZE, length=pairs, seed=0)
    dataset[0]  # warm-up: first calls of the torch kernels
    start = time.perf_counter()
    for index in range(pairs):
        dataset[index]
    return pairs / (time.perf_counter() - start)


def pwcnet_step_seconds(steps: int) -> float:
    """Seconds per PWC-Net training step on one 384x448 pair."""
    from models.pwcnet.loss import multiscale_loss
    from models.pwcnet.network import PWCNet

    network = PWCNet(channel_order="RGB")
    optimiser = torch.optim.SGD(network.parameters(), lr=1e-5)
    item = SyntheticFlow(size=SIZE, length=1, seed=1)[0]
    image1, image2, flow = (item[k][None] for k in ("image1", "image2", "flow"))

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


def motion_histogram(pairs: int) -> np.ndarray:
    """Flow magnitudes (px) of every 5th pixel of ``pairs`` pairs at 384x512."""
    dataset = SyntheticFlow(size=STATS_SIZE, length=pairs, seed=0, photometric=False)
    return np.concatenate([dataset.render(i).flow.norm(dim=0).flatten()[::5].numpy() for i in range(pairs)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="pairs timed for the generator")
    parser.add_argument("--steps", type=int, default=3, help="PWC-Net training steps timed")
    parser.add_argument("--stats-pairs", type=int, default=200, help="pairs for the motion histogram")
    args = parser.parse_args()
    torch.set_num_threads(1)

    rate = generator_rate(args.pairs)
    print(f"SyntheticFlow {SIZE[0]}x{SIZE[1]}, 1 thread: {rate:.1f} pairs/s ({1000 / rate:.1f} ms/pair)")
    step = pwcnet_step_seconds(args.steps)
    print(f"PWC-Net training step, batch 1, {SIZE[0]}x{SIZE[1]}, 1 thread: {step:.2f} s/pair")
    print(f"ratio: the generator renders {rate * step:.0f} pairs per pair PWC-Net trains on (required: >= 10)")

    magnitudes = motion_histogram(args.stats_pairs)
    print(f"\nflow magnitude at {STATS_SIZE[0]}x{STATS_SIZE[1]} over {args.stats_pairs} pairs (px):")
    print(f"  mean {magnitudes.mean():.1f}, median {np.median(magnitudes):.1f}, "
          f"p90 {np.percentile(magnitudes, 90):.1f}, p99 {np.percentile(magnitudes, 99):.1f}, max {magnitudes.max():.1f}")
    counts, _ = np.histogram(magnitudes, bins=BINS)
    for low, high, count in zip(BINS[:-1], BINS[1:], counts):
        print(f"  [{low:>3}, {high:>4}) px: {100 * count / len(magnitudes):6.2f} %")


if __name__ == "__main__":
    main()
