"""``zoo fid``: the Frechet Inception Distance between two image sets, as pytorch-fid computes it.

    zoo fid samples/ real/                        # two folders of images
    zoo fid samples/ cifar10_train.npz            # a folder against saved statistics (mu, sigma)
    zoo fid --save-stats real/ real.npz           # the statistics of a folder, for later
    zoo fid a/ b/ --inception-weights pt_inception-2015-12-05-6726825d.pth --device cuda

A folder's images are the files ending in .bmp .jpg .jpeg .pgm .png .ppm .tif .tiff .webp in the
folder itself (pytorch-fid's choice); a ``.npz`` holds ``mu`` and ``sigma`` as pytorch-fid, TTUR and
NVAE's ``precompute_fid_statistics.py`` write them. The Inception weights are pytorch-fid's published
file, downloaded once into the zoo cache, or ``--inception-weights FILE`` on a machine without network.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``fid`` subcommand."""
    p = subparsers.add_parser(
        "fid", help="Frechet Inception Distance between two folders of images or saved statistics",
        description="FID between PATH1 and PATH2 (each a folder of images or a .npz with mu and sigma), with "
                    "pytorch-fid's Inception network, weights and formula; prints 'FID: VALUE'.")
    p.add_argument("paths", nargs=2, metavar="PATH", help="a folder of images or a statistics .npz (mu, sigma)")
    p.add_argument("--save-stats", action="store_true",
                   help="write the statistics of the first PATH (a folder) to the second PATH (a new .npz) "
                        "instead, as pytorch-fid --save-stats")
    p.add_argument("--batch-size", type=int, default=50, help="images per Inception batch (default 50)")
    p.add_argument("--dims", type=int, default=2048, choices=(64, 192, 768, 2048),
                   help="Inception features: 2048 (pool3, the standard FID; default), 768, 192 or 64")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (default: downloaded once into the "
                        "zoo cache)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> tuple[Path, Path]:
    from zoo.cli.device import torch_device

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    torch_device(args.device)
    first, second = map(Path, args.paths)
    if args.save_stats:
        if not first.is_dir():
            raise ValueError(f"--save-stats: the first PATH must be a folder of images, got {first}")
        if second.suffix != ".npz":
            raise ValueError(f"--save-stats: the second PATH is the statistics file to write and must end in .npz, "
                             f"got {second}")
        if second.exists():
            raise ValueError(f"--save-stats: {second} exists; remove it or name another file (inputs are never "
                             "overwritten)")
        return first, second
    for path in (first, second):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such folder or statistics file")
        if not path.is_dir() and path.suffix != ".npz":
            raise ValueError(f"{path}: expected a folder of images or a statistics .npz (mu, sigma)")
    return first, second


def run(args: argparse.Namespace) -> int:
    """Compute (or save) the statistics of both paths and print the FID."""
    from zoo.measure.fid import FIDStatistics, frechet_distance, load_inception, statistics_of_folder

    first, second = _check_args(args)
    network = None

    def statistics(path: Path) -> FIDStatistics:
        nonlocal network
        if not path.is_dir():
            return FIDStatistics.load(path)
        if network is None:
            network = load_inception(args.inception_weights, args.device)
        return statistics_of_folder(network, path, batch_size=args.batch_size, dims=args.dims, progress=True)

    if args.save_stats:
        stats = statistics(first)
        stats.save(second)
        print(f"wrote the statistics of {stats.count:,} images ({stats.dims}-d features) of {first} to {second}")
        return 0
    stats = [statistics(path) for path in (first, second)]
    for path, found in zip((first, second), stats):
        if found.dims != args.dims:
            raise ValueError(f"{path}: statistics of {found.dims}-d features, but --dims is {args.dims}")
    print(f"FID: {frechet_distance(*stats):.6f}")
    counts = ", ".join(f"{path}: {s.count:,} images" if s.count else f"{path}: saved statistics" for path, s in
                       zip((first, second), stats))
    print(f"({args.dims}-d Inception features; {counts})", file=sys.stderr)
    return 0
