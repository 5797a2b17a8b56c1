"""Batch-norm re-estimation of the bundled ``nvae.mnist-cpu`` before sampling: the official
procedure against ours, time and precision, in one process.

    python -m benchmarks.nvae_readjust [--temperature 0.7] [--repeats 2]

The official evaluation (``--readjust_bn``) runs 500 batches of 36 prior samples through the
batch norms' moving average (momentum 0.05, stored statistics as the start). Ours
(``NVAE.readjust_bn``) resets the statistics and averages 40 batches of 36 with equal weights.
Printed: each procedure's time and its ratio to the official one, and, over the batch-norm
layers that sampling runs, the median relative difference of the running means and variances between two official
runs with different seeds (the procedure's own noise), between ours and an official run, and
between the stored training statistics and an official run (what re-estimation changes).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import zoo
from zoo.models.nvae.network import NVAE

OFFICIAL_BATCHES, OFFICIAL_BATCH_SIZE, OFFICIAL_MOMENTUM = 500, 36, 0.05


def official_readjust(network: NVAE, temperature: float, seed: int) -> None:
    """The official loop: training mode, 500 sampling passes, the moving average as it stands."""
    generator = torch.Generator().manual_seed(seed)
    for bn in network._batch_norms:
        bn.momentum = OFFICIAL_MOMENTUM
    network.train()
    for _ in range(OFFICIAL_BATCHES):
        network.sample_logits(OFFICIAL_BATCH_SIZE, temperature, generator=generator)
    network.eval()


def statistics_of(network: NVAE) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(bn.running_mean.clone(), bn.running_var.clone()) for bn in network._batch_norms]


def median_relative_difference(a: list, b: list) -> tuple[float, float]:
    """Median over layers of ||a - b|| / ||b|| for the running means and for the variances."""
    means = [float((x[0] - y[0]).norm() / y[0].norm().clamp_min(1e-12)) for x, y in zip(a, b, strict=True)]
    variances = [float((x[1] - y[1]).norm() / y[1].norm()) for x, y in zip(a, b, strict=True)]
    return statistics.median(means), statistics.median(variances)


def timed(fn) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--temperature", type=float, default=0.7)
    args = parser.parse_args()
    network = zoo.load("nvae.mnist-cpu")
    stored = statistics_of(network)
    t = args.temperature
    official_time = timed(lambda: official_readjust(network, t, seed=1))
    official_1 = statistics_of(network)
    timed(lambda: official_readjust(network, t, seed=2))
    official_2 = statistics_of(network)
    ours_time = timed(lambda: network.readjust_bn(temperature=t, generator=torch.Generator().manual_seed(3)))
    ours = statistics_of(network)
    sampled = [i for i, (a, b) in enumerate(zip(stored, official_1, strict=True)) if not torch.equal(a[0], b[0])]
    pick = lambda stats: [stats[i] for i in sampled]
    noise = median_relative_difference(pick(official_2), pick(official_1))
    ours_vs = median_relative_difference(pick(ours), pick(official_1))
    stored_vs = median_relative_difference(pick(stored), pick(official_1))
    print(f"nvae.mnist-cpu, temperature {t:g}, {torch.get_num_threads()} thread(s), "
          f"{len(sampled)} of {len(stored)} batch-norm layers run by sampling (the others are the encoder's)")
    print(f"  official (500 x 36, moving average): {official_time:6.2f} s  1.00x")
    print(f"  ours     (40 x 36, equal weights):   {ours_time:6.2f} s  {ours_time / official_time:.3f}x")
    print("  median relative difference over layers   running mean   running var")
    print(f"    official seed 2 vs official seed 1      {noise[0]:12.2e}   {noise[1]:11.2e}")
    print(f"    ours vs official seed 1                 {ours_vs[0]:12.2e}   {ours_vs[1]:11.2e}")
    print(f"    stored (training) vs official seed 1    {stored_vs[0]:12.2e}   {stored_vs[1]:11.2e}")


if __name__ == "__main__":
    main()
