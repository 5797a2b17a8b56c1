"""``zoo export``: a training checkpoint (or any weight file) as a shippable weight file.

    zoo export runs/synth/checkpoints/best.ckpt -o pwcnet-synth.safetensors [--info JSON] [--fp32]
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    import torch

    from zoo.export import export_weights

    try:
        info = json.loads(args.info)
    except json.JSONDecodeError as error:
        raise ValueError(f"--info must be a JSON object: {error}") from None
    if not isinstance(info, dict):
        raise ValueError(f"--info must be a JSON object, got {type(info).__name__}")
    path = export_weights(args.source, args.output, info, arch=args.arch,
                          dtype=None if args.fp32 else torch.float16)
    print(path)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export", help="write a checkpoint's network weights as safetensors with our metadata",
        description="Export the network weights of a Lightning .ckpt of our modules (or any weight "
                    "file zoo.load reads) as safetensors, with the architecture, config and provenance.")
    p.add_argument("source", help="Lightning .ckpt (or any weight file zoo.load reads)")
    p.add_argument("-o", "--output", required=True, help="destination .safetensors")
    p.add_argument("--format", default="safetensors", choices=("safetensors",), help="output format")
    p.add_argument("--info", default="{}", help="JSON object stored as the file's provenance")
    p.add_argument("--arch", default=None, help="architecture, if the file does not record it")
    p.add_argument("--fp32", action="store_true", help="keep float32 (default: float16)")
    p.set_defaults(func=_run)
