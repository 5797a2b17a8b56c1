"""``zoo benchmark``: parameters, FLOPs, latency, throughput and peak memory of a network, per
task and precision, beside this machine's float32 matmul rate measured in the same run.

    zoo benchmark pwcnet.synth --size 436 1024 --precision float32 bf16
    zoo benchmark nvae.mnist-cpu --batch 16 --out results

How each figure is measured: :mod:`zoo.measure.benchmarking`.
"""

from __future__ import annotations

import argparse
import re

__all__ = ["COLUMNS", "add_parser", "run"]

#: (row key, heading) of the table.
COLUMNS = (("task", "task"), ("precision", "precision"), ("batch", "batch"), ("size", "size"),
           ("params", "params"), ("gflop", "GFLOP/call"), ("latency_ms", "latency ms (median)"),
           ("throughput", "items/s"), ("gflops", "GFLOP/s"), ("matmul_pct", "% of fp32 matmul"),
           ("peak_mib", "peak MiB"))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``benchmark`` subcommand."""
    p = subparsers.add_parser(
        "benchmark", help="parameters, FLOPs, latency, throughput and peak memory per precision",
        description="Measure a PWC-Net (flow) or NVAE (ELBO pass, sampling) on random inputs: FLOPs "
                    "counted by torch's FlopCounterMode, median latency after warm-up, peak memory "
                    "(CUDA: max allocated; CPU: resident-set growth of a first call in a fresh process), "
                    "beside a float32 matmul rate measured in the same run.")
    p.add_argument("name", help="registry name (pwcnet.synth, nvae.mnist-cpu) or the architecture with --weights")
    p.add_argument("--weights", default=None, help="a weight file instead of the registered one")
    p.add_argument("--size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="PWC-Net frame size (default 436 1024, Sintel); NVAE: its image size only")
    p.add_argument("--precision", nargs="+", default=["float32", "bfloat16"], metavar="P",
                   help="float32, bfloat16 (bf16), float16 (fp16, CUDA) or auto (default: float32 bfloat16)")
    p.add_argument("--batch", type=int, default=1, help="pairs / images per call (default 1)")
    p.add_argument("--repeats", type=int, default=10, help="timed calls per row (default 10)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before them (default 2)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement (on CPU it starts a fresh process per row)")
    p.add_argument("--out", default=None, metavar="DIR", help="also write the table as Markdown, CSV and JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Measure, print the table and write it with ``--out``."""
    import torch

    from zoo.measure.benchmarking import Setup, benchmark
    from zoo.measure.tables import present_columns, text_table, write_tables

    setup = Setup(args.name, args.weights, tuple(args.size) if args.size else None, args.batch, args.device,
                  torch.get_num_threads())
    rows, facts = benchmark(setup, args.precision, repeats=args.repeats, warmup=args.warmup,
                            memory=not args.no_memory)
    columns = present_columns(COLUMNS, rows)
    meta = {"weights": args.name + (f" ({args.weights})" if args.weights else ""), **facts,
            "latency": f"median of {args.repeats} calls after {args.warmup} warm-up calls"}
    print(f"zoo benchmark {meta['weights']}: " + ", ".join(f"{key} {value}" for key, value in facts.items()))
    print(text_table(columns, rows))
    if args.out:
        stem = "benchmark-" + re.sub(r"[^A-Za-z0-9._-]", "_", args.name)
        paths = write_tables(args.out, stem, f"zoo benchmark {meta['weights']}", columns, rows, meta,
                             inputs={"NAME": args.name, "--weights": args.weights})
        print("wrote " + ", ".join(map(str, paths)))
    return 0
