"""``zoo demo``: the offline demonstration of the zoo, on the weights bundled with the package.

1. Optical flow: ``pwcnet.synth`` on a freshly rendered synthetic pair (``flow.flo``, ``flow.png``,
   end-point error against the exact ground truth).
2. NVAE: ``nvae.mnist-cpu`` samples at temperatures 0.6, 0.8, 1.0 (``nvae_samples.png``) and the
   importance-weighted negative log-likelihood of a few digits drawn by the demo itself.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_parser", "run_demo"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="run the offline demo (flow and samples into ./demo)")
    p.add_argument("--out", default="demo", help="output folder (default: ./demo)")
    p.set_defaults(func=lambda args: run_demo(args.out))


def run_demo(out: str | Path = "demo") -> int:
    """Run both halves, writing into ``out``; prints what it did and returns the exit status 0."""
    from zoo.cli.demo_flow import flow_demo
    from zoo.cli.demo_nvae import nvae_demo

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out}: is a file; the demo writes its files into a folder")
    start = time.perf_counter()
    flow_demo(out)
    result = nvae_demo(out)
    scores = ", ".join(f"{name} {nats:.1f}" for name, nats in result["nll_nats"].items())
    print(f"nvae: {result['weights']}: wrote {result['samples']} (one row per temperature "
          f"{', '.join(f'{t:g}' for t in result['temperatures'])}); importance-weighted NLL "
          f"(K={result['num_importance_samples']}) of the demo's drawn digits, nats: {scores}; "
          f"mean {result['mean_digit_nll_nats']:.1f}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s; outputs in {out}/")
    return 0
