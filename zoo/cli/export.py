"""``zoo export``: a network as a shippable weight file (safetensors) or an ONNX graph.

    zoo export runs/synth/checkpoints/best.ckpt -o pwcnet-synth.safetensors [--info JSON] [--fp32]
    zoo export pwcnet.synth --format onnx -o pwcnet.onnx [--size 384 512] [--dynamic]
    zoo export nvae.mnist-cpu --format onnx --part posterior -o nvae-posterior.onnx

SOURCE is a registry or ``hf-hub:`` name, or a weight file (a Lightning ``.ckpt`` of our modules or
any file ``zoo.load`` reads).
"""

from __future__ import annotations

import argparse
import json

__all__ = ["add_parser"]

_ONNX_ONLY = ("size", "dynamic", "part", "batch_size", "opset")


def _safetensors(args: argparse.Namespace) -> int:
    import torch

    from zoo.publish.safetensors_export import export_weights

    try:
        info = json.loads(args.info)
    except json.JSONDecodeError as error:
        raise ValueError(f"--info must be a JSON object: {error}") from None
    if not isinstance(info, dict):
        raise ValueError(f"--info must be a JSON object, got {type(info).__name__}")
    path = export_weights(args.source, args.output, info, arch=args.arch,
                          dtype=None if args.fp32 else torch.float16)
    print(f"{path}: float32 weights" if args.fp32 else f"{path}: float16 weights (--fp32 keeps float32)")
    return 0


def _onnx(args: argparse.Namespace) -> int:
    from zoo.publish.onnx_export import OPSET, export_onnx

    if args.info != "{}" or args.fp32:
        raise ValueError("--info, --fp32: only with --format safetensors")
    opset = args.opset or OPSET
    path = export_onnx(args.source, args.output, part=args.part, size=tuple(args.size) if args.size else None,
                       batch_size=args.batch_size or 1, dynamic=args.dynamic, opset=opset, arch=args.arch)
    print(f"{path}: ONNX opset {opset}" + (", dynamic shapes" if args.dynamic else ", fixed shapes"))
    return 0


def _run(args: argparse.Namespace) -> int:
    from zoo.datamodules.files.outputs import check_output_file, local_files

    check_output_file("-o", args.output, (f".{args.format}",), local_files({"SOURCE": args.source}))
    if args.format == "onnx":
        return _onnx(args)
    given = [f"--{name.replace('_', '-')}" for name in _ONNX_ONLY if getattr(args, name) not in (None, False)]
    if given:
        raise ValueError(f"{', '.join(given)}: only with --format onnx")
    return _safetensors(args)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export", help="write a network as safetensors with our metadata, or as an ONNX graph",
        description="Export a network: its weights as safetensors with the architecture, config and provenance "
                    "(default), or its inference graph as ONNX (PWC-Net: flow of two images; NVAE: the sampling "
                    "path or the posterior pass, latent noise as inputs).")
    p.add_argument("source", metavar="NAME|FILE",
                   help="registry or hf-hub: name, Lightning .ckpt, or any weight file zoo.load reads")
    p.add_argument("-o", "--output", required=True, help="destination .safetensors or .onnx")
    p.add_argument("--format", default="safetensors", choices=("safetensors", "onnx"), help="output format")
    p.add_argument("--info", default="{}", help="safetensors: JSON object stored as the file's provenance")
    p.add_argument("--arch", default=None, help="architecture, if the file does not record it")
    p.add_argument("--fp32", action="store_true", help="safetensors: keep float32 (default: float16)")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="onnx, PWC-Net: input height and width in pixels (default 384 512)")
    p.add_argument("--dynamic", action="store_true",
                   help="onnx: free batch size; PWC-Net also any height and width that are multiples of 64")
    p.add_argument("--part", default=None,
                   help="onnx graph: pwcnet 'flow'; nvae 'sample' (default: noise -> logits) or 'posterior'")
    p.add_argument("--batch-size", type=int, default=None, help="onnx: batch of the fixed shapes (default 1)")
    p.add_argument("--opset", type=int, default=None, help="onnx: opset (default 18)")
    p.set_defaults(func=_run)
