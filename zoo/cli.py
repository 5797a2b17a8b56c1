"""The ``zoo`` command line.

``zoo list | info | download | import | demo | flow | sample`` are plain commands;
``zoo fit | validate | test | predict`` hand the rest of the command line to LightningCLI.
Errors print one line starting with ``zoo: error:`` and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from typing import Sequence

__all__ = ["main"]

_LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
_COMMAND_MODULES = ("zoo.flow_command", "zoo.sample_command")


def _cmd_list(args: argparse.Namespace) -> int:
    from zoo.registry import list_models

    names = list_models(args.pattern, pretrained=args.pretrained)
    if not names:
        print(f"no model matches {args.pattern!r}", file=sys.stderr)
        return 1
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


def _cmd_info(args: argparse.Namespace) -> int:
    from zoo.registry import architecture, list_weights, split_name, weights_info

    arch_name, tag = split_name(args.name)
    arch = architecture(arch_name)
    if tag is None:
        _print_rows([
            ("architecture", arch.name),
            ("description", arch.description or "-"),
            ("default weights", arch.default_weights or "none"),
            ("weights", "\n".join(list_weights(arch_name)) or "none registered"),
        ])
        return 0
    _print_rows(weights_info(args.name).as_rows())
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from zoo.loader import weights_file
    from zoo.registry import weights_info

    print(weights_file(weights_info(args.name), progress=True))
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from zoo.loader import import_weights

    print(import_weights(args.name, args.path))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from zoo.demo import run_demo

    return run_demo(args.out)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="PWC-Net and NVAE: pretrained weights, inference and training.",
        epilog="Training: zoo fit|validate|test|predict --config CONFIG.yaml (LightningCLI; "
               "see 'zoo fit --help').")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list models and weight sets")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'pwcnet.*'")
    p.add_argument("--pretrained", action="store_true", help="only names that carry weights")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("info", help="metadata of a weight set or an architecture")
    p.add_argument("name", help="arch or arch.tag, e.g. pwcnet.things")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("download", help="download and verify a weight set into the cache")
    p.add_argument("name", help="arch.tag")
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("import", help="check a weight file fetched by hand and copy it into the cache")
    p.add_argument("name", help="arch.tag the file belongs to")
    p.add_argument("path", help="the downloaded file")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("demo", help="run the offline demo (flow and samples into ./demo)")
    p.add_argument("--out", default="demo", help="output folder (default: ./demo)")
    p.set_defaults(func=_cmd_demo)

    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def _run_lightning(argv: Sequence[str]) -> int:
    from zoo.training_cli import run_lightning_cli

    run_lightning_cli(list(argv))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _LIGHTNING_COMMANDS:
        return _run_lightning(argv)
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, OSError, NotImplementedError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"zoo: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
