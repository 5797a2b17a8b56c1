"""``zoo eval NVAE --data fid``: the options and rows of the FID protocol (:mod:`zoo.measure.fid_evaluation`).

    zoo eval nvae.celebahq256 --data fid --fid-stats celeba_256.npz
    zoo eval nvae.mnist-cpu --data fid --fid-dataset mnist --data-dir /data/mnist --num-samples 10000
    torchrun --nproc_per_node 8 -m zoo.cli eval nvae.ffhq256 --data fid --fid-stats ffhq.npz --device cuda

Under ``torchrun`` (``WORLD_SIZE`` > 1) every process draws its share of the samples (``--device cuda``
becomes ``cuda:LOCAL_RANK``) and the features are pooled; only rank 0 prints, writes and records.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_fid_arguments", "check_fid_arguments", "fid_command_parts", "fid_rows"]


def add_fid_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--data fid`` options of ``zoo eval``."""
    group = parser.add_argument_group("FID (NVAE, --data fid)")
    group.add_argument("--fid-stats", default=None, metavar="FILE",
                       help="statistics .npz (mu, sigma) of the real images, as NVAE's precompute_fid_statistics.py "
                            "or pytorch-fid --save-stats write them")
    group.add_argument("--fid-dataset", default=None, metavar="NAME",
                       help="or compute (once, cached) the statistics of this image set's training images "
                            "(mnist, cifar10, celeba64, celebahq256, ffhq256) in --data-dir")
    group.add_argument("--readjust-bn", action=argparse.BooleanOptionalAction, default=False,
                       help="re-estimate batch-norm statistics from samples at temperature 1 first "
                            "(the official --readjust_bn; off by default, as there)")
    group.add_argument("--inception-weights", default=None, metavar="FILE",
                       help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: downloaded once)")


def check_fid_arguments(args: argparse.Namespace) -> None:
    """Check the FID options; under ``torchrun`` also join the process group (before the model is loaded)."""
    if (args.fid_stats is None) == (args.fid_dataset is None):
        raise ValueError("--data fid needs the real images' statistics: --fid-stats FILE, or --fid-dataset NAME "
                         "with --data-dir")
    if args.fid_stats is not None and not Path(args.fid_stats).is_file():
        raise FileNotFoundError(f"--fid-stats {args.fid_stats}: no such file")
    if args.fid_dataset is not None and not args.data_dir:
        raise ValueError(f"--fid-dataset {args.fid_dataset} needs --data-dir, the folder of its files")
    if (args.num_samples or 2) < 2:
        raise ValueError(f"--num-samples must be >= 2 for FID, got {args.num_samples}")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _join_process_group(args)


def _join_process_group(args: argparse.Namespace) -> None:
    import torch

    if args.device.startswith("cuda") and ":" not in args.device:
        args.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(args.device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if args.device.startswith("cuda") else "gloo")
    if torch.distributed.get_rank() > 0:  # rank 0 alone reports
        args.out, args.record = None, False
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of this process


def fid_command_parts(args: argparse.Namespace) -> list[str]:
    """The FID options of the command line that reproduces a figure."""
    parts = ["--fid-stats", Path(args.fid_stats).name] if args.fid_stats else ["--fid-dataset", args.fid_dataset]
    return parts + (["--readjust-bn"] if args.readjust_bn else [])


def _set_name(args: argparse.Namespace) -> str:
    """The image set the figure is about: --fid-dataset, else the weights' tag where it (or its part before a
    '-': mnist-cpu) names one, else the statistics file's name."""
    from zoo.catalog.registry import split_name
    from zoo.measure.evaluation import image_protocols

    if args.fid_dataset:
        return args.fid_dataset
    tag = split_name(args.name)[1] or ""
    return next((name for name in (tag, tag.split("-")[0]) if name in image_protocols()), Path(args.fid_stats).stem)


def fid_rows(args: argparse.Namespace, network: Any) -> list:
    """The FID row of ``network`` (an NVAE on ``args.device``)."""
    import torch

    from zoo.measure.fid import FIDStatistics, load_inception
    from zoo.measure.fid_evaluation import FID_SAMPLES, evaluate_fid, rank_share, training_statistics

    inception = load_inception(args.inception_weights, args.device)
    if args.fid_stats:
        reference = FIDStatistics.load(args.fid_stats)
    else:
        reference, _ = training_statistics(args.fid_dataset, args.data_dir, inception, batch_size=args.batch_size,
                                           progress=True)
    rank, _ = rank_share(1)
    generator = torch.Generator(device=args.device).manual_seed(args.seed * 1_000_003 + rank)
    return evaluate_fid(network, reference, inception, reference_name=f"{_set_name(args)}-fid",
                        num_samples=args.num_samples or FID_SAMPLES, batch_size=args.batch_size, generator=generator,
                        readjust_bn=args.readjust_bn, readjust_seed=args.seed, progress=True)
