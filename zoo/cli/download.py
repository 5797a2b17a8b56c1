"""``zoo download | import``: a published weight set into the verified cache, by download or
from a file fetched by hand.

    zoo download pwcnet.things
    zoo import nvae.cifar10 ~/Downloads/checkpoint.pt
"""

from __future__ import annotations

import argparse

__all__ = ["add_parser"]


def _download(args: argparse.Namespace) -> int:
    from zoo.catalog.registry import bundled_weights, split_name, weights_info
    from zoo.weights.cache import weights_file

    info = weights_info(args.name)
    print(weights_file(info, bundled_alternatives=bundled_weights(split_name(args.name)[0]), progress=True))
    return 0


def _import(args: argparse.Namespace) -> int:
    from zoo.weights.loader import import_weights

    print(import_weights(args.name, args.path))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``download`` and ``import``."""
    p = subparsers.add_parser("download", help="download and verify a weight set into the cache")
    p.add_argument("name", help="arch.tag")
    p.set_defaults(func=_download)

    p = subparsers.add_parser("import", help="check a weight file fetched by hand and copy it into the cache")
    p.add_argument("name", help="arch.tag the file belongs to")
    p.add_argument("path", help="the downloaded file")
    p.set_defaults(func=_import)
