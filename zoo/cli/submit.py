"""``zoo submit``: a model's flows for a benchmark's test split, in the files its server takes.

    zoo submit pwcnet.things --benchmark sintel --data-dir /data --out submissions
    zoo submit pwcnet.things --benchmark kitti-2015 --root /data/KITTI2015 --out submissions
    zoo submit pwcnet --weights run.ckpt --benchmark spring --data-dir /data --out submissions

Writes ``<out>/<benchmark>/`` (and ``<out>/kitti-<year>.zip``) as
:mod:`zoo.datamodules.flow.submission` describes, with a progress bar on a terminal; run it again
after an interruption and it keeps the files already written. Ends by checking that every file
the server expects is there and saying what to run or upload next.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]

BENCHMARK_NAMES = ("sintel", "kitti-2012", "kitti-2015", "spring")


def add_parser(subparsers: Any) -> None:
    """Register the ``submit`` subcommand."""
    p = subparsers.add_parser(
        "submit", help="write a model's flows for a benchmark's test split, as its server takes them",
        description="Predict every test pair of Sintel, KITTI 2012 / 2015 or Spring and write the files "
                    "the benchmark's server (or its bundling tool) takes; resumable, checked for completeness.")
    p.add_argument("name", help="registry name (pwcnet.things) or the architecture with --weights")
    p.add_argument("--weights", default=None, help="a weight file (official, safetensors or Lightning .ckpt)")
    p.add_argument("--benchmark", required=True, choices=BENCHMARK_NAMES)
    p.add_argument("--out", required=True, metavar="DIR", help="folder receiving <benchmark>/ (and KITTI's zip)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data-dir", default=None,
                       help="folder holding the dataset under its default folder (MPI-Sintel-complete/, KITTI2012/, "
                            "KITTI2015/, spring/; default $ZOO_DATA, or ZOO_DATA_<FAMILY>)")
    where.add_argument("--root", default=None, help="the dataset's own folder (holding its test split)")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16", "auto"),
                   help="arithmetic (default float32)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the arguments and the test split, load the weights, write and check the submission."""
    import zoo
    from zoo.catalog.registry import split_name
    from zoo.datamodules.flow.datamodule import FlowDataModule
    from zoo.datamodules.flow.submission import BENCHMARKS, submission_entries, write_submission
    from zoo.models.flow_inference import estimate_flow

    arch, _ = split_name(args.name)
    if arch != "pwcnet":
        raise ValueError(f"zoo submit writes optical flow; {args.name!r} is a {arch!r} model")
    benchmark = BENCHMARKS[args.benchmark]
    root = Path(args.root) if args.root else FlowDataModule(data_dir=args.data_dir, num_workers=0).root(benchmark.family)
    submission_entries(benchmark, root)  # a missing pair is named before the weights are loaded
    network = zoo.load(args.name, weights=args.weights, map_location=args.device)
    predict = functools.partial(estimate_flow, network, precision=args.precision)
    report = write_submission(benchmark, root, Path(args.out), predict)
    print(f"zoo submit {args.benchmark}: {len(report.files)} files in {report.folder} ({report.written} written, "
          f"{report.kept} kept from an earlier run); every file the server expects is there")
    if report.clipped:
        print(f"note: {report.clipped} pixels' flow lay outside KITTI's range [-512, 511.98] px and was clipped to it")
    print("next: " + benchmark.next_step.format(folder=report.folder))
    return 0
