"""Where the time of ``zoo sample nvae.mnist-cpu -n 16`` goes, with and without the batch-norm
re-estimation, in one process, on the machine as it is loaded now.

    python -m benchmarks.nvae_sample [--num-samples 16] [--repeats 3] [--threads 1 2]

Phases, each the median of ``--repeats`` runs: loading the bundled weights, re-estimating the batch
norms as ``zoo sample`` does by default (40 batches of 36 prior samples at temperature 0.7), and
drawing the samples, at each torch thread count of ``--threads`` (default: 1 and the CPU count,
torch's default). Printed: each phase's seconds and its ratio to the baseline, the whole command
without re-estimation (``--no-readjust-bn``: load + sample) at the first thread count, timed in the
same run; and the CPU count and load average before and after, without which the seconds mean
little (on a machine loaded past its cores, more threads can be many times slower).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

import zoo
from zoo.models.nvae.config import READJUST_BATCH_SIZE, READJUST_BATCHES

TEMPERATURE = 0.7


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1],
                        help="torch thread counts to time (default: 1 and the CPU count)")
    args = parser.parse_args(argv)
    print(f"CPUs {os.cpu_count()}, load average (1, 5, 15 min) before: " + _load())
    baseline = None
    for threads in args.threads:
        torch.set_num_threads(threads)
        phases = _phases(args.num_samples, args.repeats)
        load, readjust, draw = phases.values()
        phases["zoo sample (default: with re-estimation)"] = load + readjust + draw
        phases["zoo sample --no-readjust-bn"] = load + draw
        baseline = baseline or load + draw
        print(f"torch threads {threads}:")
        for name, seconds in phases.items():
            print(f"  {name:<42} {seconds:8.2f} s  {seconds / baseline:7.2f}x baseline")
    print("baseline: zoo sample --no-readjust-bn at the first thread count; load average after: " + _load())


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _phases(num_samples: int, repeats: int) -> dict[str, float]:
    """Median seconds of loading, re-estimating and sampling, at torch's current thread count."""
    generator = torch.Generator().manual_seed(0)
    network = zoo.load("nvae.mnist-cpu")
    with torch.no_grad():
        return {
            "load": _median_seconds(lambda: zoo.load("nvae.mnist-cpu"), repeats),
            f"re-estimate batch norms ({READJUST_BATCHES} x {READJUST_BATCH_SIZE})": _median_seconds(
                lambda: network.readjust_bn(READJUST_BATCHES, TEMPERATURE, generator=generator), repeats),
            f"sample {num_samples}": _median_seconds(
                lambda: network.sample(num_samples, TEMPERATURE, generator=generator), repeats),
        }


if __name__ == "__main__":
    main()
