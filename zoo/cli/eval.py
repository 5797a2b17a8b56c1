"""``zoo eval``: a weight set measured with each benchmark's protocol, beside the published figure.

    zoo eval pwcnet.things --data sintel-clean,sintel-final,kitti-2015,chairs --data-dir /data [--out results]
    zoo eval pwcnet.synth --data synthetic [--record]
    zoo eval nvae.mnist-cpu --data mnist --data-dir /data/mnist --num-samples 1000 [--limit 1000]
    zoo eval nvae.celebahq256 --data fid --fid-stats celeba_256.npz [--num-samples 50000] [--readjust-bn]
    zoo eval nvae.mnist-cpu --data fid --fid-dataset mnist --data-dir /data/mnist

Prints one table (dataset, metric, unit, ours, published, difference) and, with ``--out DIR``, writes it
as ``eval-<name>.md``, ``.csv`` and ``.json``. The protocols are those of :mod:`zoo.measure.evaluation`.
"""

from __future__ import annotations

import argparse
import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.catalog.records import IMAGE_GENERATION, OPTICAL_FLOW

if TYPE_CHECKING:
    from zoo.catalog.records import Architecture

__all__ = ["COLUMNS", "MAX_SYNTHETIC_PAIRS", "add_parser", "run"]

#: pairs of --data synthetic (rendered into a temporary Sintel-layout tree before the evaluation)
MAX_SYNTHETIC_PAIRS = 10_000

#: (row key, heading) of the table; columns without any value are left out.
COLUMNS = (("dataset", "dataset"), ("sequence", "sequence"), ("metric", "metric"), ("unit", "unit"), ("ours", "ours"),
           ("stderr", "s.e."), ("num_samples", "K"), ("published", "published"), ("diff", "diff"),
           ("count", "n"), ("published_as", "published as"))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``eval`` subcommand."""
    p = subparsers.add_parser(
        "eval", help="measure a weight set with the benchmarks' protocols, beside the published figures",
        description="PWC-Net: EPE (Sintel: also over occluded and non-occluded pixels), WAUC, KITTI "
                    "Fl-all and Spring's 1px and Fl with each benchmark's protocol; NVAE: the "
                    "importance-weighted negative log-likelihood, as the official evaluation.")
    p.add_argument("name", help="registry name (pwcnet.things, nvae.mnist-cpu) or the architecture with --weights")
    p.add_argument("--weights", default=None, help="a weight file (official, safetensors or Lightning .ckpt) "
                   "instead of the registered one; no published figure is shown then")
    p.add_argument("--data", required=True,
                   help="comma-separated evaluation sets, e.g. sintel-clean,sintel-final,kitti-2015,spring,chairs or "
                        "synthetic (PWC-Net), mnist, cifar10, celeba64, celebahq256, ffhq256 or fid (NVAE); an unknown "
                        "name lists the known ones")
    p.add_argument("--data-dir", default=None,
                   help="PWC-Net: folder holding each set under its default folder (MPI-Sintel-complete/, KITTI2015/, "
                        "FlyingChairs2/, ...: README's dataset table; default $ZOO_DATA, or ZOO_DATA_<FAMILY> per "
                        "set); NVAE: the dataset's own folder (MNIST: the IDX files)")
    p.add_argument("--out", default=None, metavar="DIR", help="also write the table as Markdown, CSV and JSON here")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N pairs / images of each set")
    p.add_argument("--per-sequence", action="store_true", help="PWC-Net: add one row per sequence (scene)")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16", "auto"),
                   help="PWC-Net arithmetic (default float32, as the published evaluations)")
    p.add_argument("--synthetic-size", type=int, nargs=2, default=(192, 256), metavar=("H", "W"),
                   help="frame size of --data synthetic (default 192 256, pwcnet.synth's training size)")
    p.add_argument("--synthetic-pairs", type=int, default=64, help="pairs of --data synthetic (default 64)")
    p.add_argument("--synthetic-recipe", default="v1", choices=("v1", "v2"),
                   help="generator recipe of --data synthetic (default v1, the first recorded figures' set)")
    p.add_argument("-k", "--num-samples", type=int, default=None,
                   help="NVAE: importance samples per image (default 1000, as the paper); with --data fid: samples "
                        "drawn (default 50,000, as the official evaluation)")
    p.add_argument("--batch-size", type=int, default=100, help="NVAE: images per batch (default 100)")
    p.add_argument("--seed", type=int, default=0, help="NVAE: seed of the binarisation and the samples (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    from zoo.cli.fid_eval import add_fid_arguments

    add_fid_arguments(p)
    p.add_argument("--record", action="store_true",
                   help="keep the figures as the 'measured by zoo eval' metadata of bundled weights")
    p.set_defaults(func=run)


def _check_synthetic(args: argparse.Namespace, min_side: int) -> None:
    """``--synthetic-size``: each side at least ``min_side`` (the architecture's size multiple,
    PWC-Net's 64 px), the frame within the pixels one ``zoo flow`` forward takes by default;
    ``--synthetic-pairs`` at most :data:`MAX_SYNTHETIC_PAIRS`."""
    from zoo.cli.flow import DEFAULT_MAX_PIXELS, MEGABYTES_PER_MEGAPIXEL

    height, width = args.synthetic_size
    if min(height, width) < min_side or height * width > DEFAULT_MAX_PIXELS:
        raise ValueError(f"--synthetic-size {height} {width}: H and W must be >= {min_side} px and H x W at most "
                         f"{DEFAULT_MAX_PIXELS:,} px (a forward takes about {MEGABYTES_PER_MEGAPIXEL} MB per "
                         f"megapixel), got {height * width:,} px")
    if args.synthetic_pairs > MAX_SYNTHETIC_PAIRS:
        raise ValueError(f"--synthetic-pairs must be at most {MAX_SYNTHETIC_PAIRS:,} (they are written to disk "
                         f"first), got {args.synthetic_pairs:,}")


def _image_sets() -> dict[str, Any]:
    """The sets of ``zoo eval`` for image generation: the likelihood protocols, and ``fid`` (the
    FID of samples, :mod:`zoo.cli.fid_eval`)."""
    from zoo.measure.evaluation import image_protocols

    return {**image_protocols(), "fid": None}


def _protocols(task: str | None) -> Mapping[str, Any] | None:
    """The evaluation sets of a task (:data:`zoo.catalog.records.TASKS`), by name; None for other tasks."""
    from zoo.measure.evaluation import flow_protocols

    protocols_of = {OPTICAL_FLOW: flow_protocols, IMAGE_GENERATION: _image_sets}
    return protocols_of[task]() if task in protocols_of else None


def _check_args(args: argparse.Namespace, arch: Architecture) -> list[str]:
    """The dataset names, after checking every argument (before anything is loaded)."""
    known = _protocols(arch.task)
    if known is None:
        raise ValueError(f"zoo eval measures {OPTICAL_FLOW} and {IMAGE_GENERATION} models; {args.name!r} is "
                         + (f"an {arch.task} model" if arch.task else "a model without a task"))
    names = [name.strip() for name in args.data.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        raise ValueError(f"--data: unknown set(s) {', '.join(unknown) or '(none given)'} for {arch.name}; "
                         f"known: {', '.join(known)}")
    for option, value in (("--limit", args.limit), ("--num-samples", args.num_samples),
                          ("--batch-size", args.batch_size), ("--synthetic-pairs", args.synthetic_pairs)):
        if value is not None and value < 1:
            raise ValueError(f"{option} must be >= 1, got {value}")
    _check_synthetic(args, arch.size_multiple)
    if arch.task == IMAGE_GENERATION and not args.data_dir and names != ["fid"]:
        raise ValueError(f"--data-dir is needed: the folder of the {names[0]} files")
    if "fid" in names:
        from zoo.cli.fid_eval import check_fid_arguments

        check_fid_arguments(args)
    return names


def run(args: argparse.Namespace) -> int:
    """Load the weights, evaluate every set, print the table and write / record it as asked."""
    from zoo.catalog.registry import architecture, split_name, weights_info
    from zoo.measure.evaluation import with_published
    from zoo.weights.loader import load_trained

    arch, tag = architecture(args.name), split_name(args.name)[1]
    names = _check_args(args, arch)
    info = weights_info(args.name) if tag and args.weights is None else None
    if args.record and not (info and info.bundled):
        raise ValueError(f"--record keeps figures of bundled weights only; {args.name} "
                         f"{'with --weights' if args.weights else 'is not bundled'}")
    network = load_trained(args.name, weights=args.weights, map_location=args.device)
    rows = (_flow_rows if arch.task == OPTICAL_FLOW else _nll_rows)(args, network, names)
    rows = with_published(rows, info.metrics if info else {})
    _report(args, info, rows, arch.task)
    return 0


def _flow_rows(args: argparse.Namespace, network: Any, names: list[str]) -> list:
    from zoo.measure.evaluation import evaluate_flow, flow_protocol, open_flow_dataset
    from zoo.models.flow_inference import estimate_flow

    predict = functools.partial(estimate_flow, network, precision=args.precision)
    size = tuple(args.synthetic_size)
    rows = []
    for name in names:
        with open_flow_dataset(name, args.data_dir, synthetic_size=size, synthetic_pairs=args.synthetic_pairs,
                               synthetic_recipe=args.synthetic_recipe) as dataset:
            rows += evaluate_flow(predict, dataset, flow_protocol(name, size, args.synthetic_recipe), limit=args.limit,
                                  per_sequence=args.per_sequence, progress=True)
    return rows


def _nll_rows(args: argparse.Namespace, network: Any, names: list[str]) -> list:
    import torch

    from zoo.measure.evaluation import evaluate_nll, image_batches

    torch.manual_seed(args.seed)  # the dynamic binarisation of MNIST draws from the global generator
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    rows = []
    for name in names:
        if name == "fid":
            from zoo.cli.fid_eval import fid_rows

            rows += fid_rows(args, network)
            continue
        protocol, batches, count, full = image_batches(name, args.data_dir, batch_size=args.batch_size,
                                                       limit=args.limit)
        rows += evaluate_nll(network, batches, protocol, num_samples=args.num_samples or 1000, count=count,
                             full_count=full, generator=generator, progress=True)
    return rows


def _command(args: argparse.Namespace, task: str | None) -> str:
    """The command line that reproduces the figures (machine-specific paths left out)."""
    parts = ["zoo eval", args.name, "--data", args.data]
    if args.data_dir:
        parts.append("--data-dir DIR")
    if task == IMAGE_GENERATION:
        from zoo.cli.fid_eval import fid_command_parts

        sets = {name.strip() for name in args.data.split(",")}
        if args.num_samples or len(sets) == 1 or "fid" not in sets:  # else each set took its own default
            parts += ["--num-samples", str(args.num_samples or (50_000 if sets == {"fid"} else 1000))]
        parts += ["--seed", str(args.seed)] + (fid_command_parts(args) if "fid" in sets else [])
    else:
        parts += ["--precision", args.precision]
        if "synthetic" in args.data:
            parts += ["--synthetic-size", *map(str, args.synthetic_size), "--synthetic-pairs", str(args.synthetic_pairs),
                      "--synthetic-recipe", args.synthetic_recipe]
    if args.limit:
        parts += ["--limit", str(args.limit)]
    return " ".join(parts)


def _report(args: argparse.Namespace, info: Any, rows: list, task: str | None) -> None:
    from zoo.measure.evaluation import record_measured
    from zoo.measure.tables import present_columns, text_table, write_tables

    table = [row.as_dict() for row in rows]
    columns = present_columns(COLUMNS, table)
    meta = {"weights": args.name + (f" ({args.weights})" if args.weights else ""), "command": _command(args, task),
            "published source": (info.metrics_source if info else "") or "-"}
    print(f"zoo eval {meta['weights']}")
    print(text_table(columns, table))
    print(f"published: {meta['published source']}")
    if args.out:
        stem = "eval-" + re.sub(r"[^A-Za-z0-9._-]", "_", args.name + (f"-{Path(args.weights).stem}" if args.weights else ""))
        paths = write_tables(args.out, stem, f"zoo eval {meta['weights']}", columns, table, meta,
                             inputs={"NAME": args.name, "--weights": args.weights, "--data-dir": args.data_dir})
        print("wrote " + ", ".join(map(str, paths)))
    if args.record:
        from zoo.weights.cache import weights_file

        print(f"recorded in {record_measured(info.name, weights_file(info), rows, meta['command'])}")
