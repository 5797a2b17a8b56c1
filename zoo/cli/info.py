"""``zoo list | info``: what the catalog holds, and what one weight set or architecture is.

    zoo list 'pwcnet.*' [--pretrained]
    zoo info pwcnet.things
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def _list(args: argparse.Namespace) -> int:
    from zoo.catalog.registry import list_models

    names = list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        raise ValueError(f"no model matches {args.pattern!r}; 'zoo list' shows every name")
    print("\n".join(names))
    return 0


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        lines = [line for part in str(value).splitlines() or [""]
                 for line in (textwrap.wrap(part, 100) or [""])]
        print(f"{key:<{width}}  {lines[0]}")
        for line in lines[1:]:
            print(f"{'':<{width}}  {line}")


def _info(args: argparse.Namespace) -> int:
    from zoo.catalog.records import HUB_PREFIX
    from zoo.catalog.registry import architecture, list_weights, local_model, split_name, weights_info

    local = local_model(args.name)
    if local is not None or args.name.startswith(HUB_PREFIX):
        arch_name, info = _local_or_hub_record(args.name, local)
        _print_rows([("architecture", arch_name), *info.as_rows()])
        return 0
    arch_name, tag = split_name(args.name)
    arch = architecture(arch_name)
    if tag is None:
        _print_rows([
            ("architecture", arch.name),
            ("description", arch.description or "-"),
            ("task", arch.task or "-"),
            ("onnx graphs", ", ".join(arch.onnx_graphs) or "-"),
            ("default weights", arch.default_weights or "none"),
            ("weights", "\n".join(list_weights(arch_name)) or "none registered"),
        ])
        return 0
    _print_rows(weights_info(args.name).as_rows())
    return 0


def _local_or_hub_record(name: str, local: Path | None) -> tuple[str, Any]:
    """(architecture, record) of a save_pretrained folder, one of our safetensors files (``zoo export``'s)
    or an ``hf-hub:`` name."""
    from zoo.catalog.records import WeightsInfo
    from zoo.weights.checkpoint import read_zoo_metadata
    from zoo.weights.hf_hub import folder_weights, hub_weights  # read safetensors through torch: only here

    if local is None:
        arch_name, _, info = hub_weights(name)
        return arch_name, info
    if local.is_dir():
        arch_name, _, info = folder_weights(local)
        return arch_name, info
    metadata = read_zoo_metadata(local)
    if metadata is None:
        raise ValueError(f"{local}: a safetensors file without zoo metadata; zoo info describes files written by "
                         f"zoo export or zoo.save_pretrained, and registry names")
    record = metadata["info"].get("record") or {}
    return metadata["arch"], WeightsInfo.from_description(str(local), {**record, "config": metadata["config"]})


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``list`` and ``info``."""
    p = subparsers.add_parser("list", help="list models and weight sets")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'pwcnet.*'")
    p.add_argument("--pretrained", action="store_true", help="only names that carry weights")
    p.set_defaults(func=_list)

    p = subparsers.add_parser("info", help="metadata of a weight set or an architecture")
    p.add_argument("name", help="arch or arch.tag, e.g. pwcnet.things, or a zoo.save_pretrained folder")
    p.set_defaults(func=_info)
