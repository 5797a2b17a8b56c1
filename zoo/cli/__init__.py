"""The ``zoo`` command line: one module per command, each with ``add_parser(subparsers)``.

``zoo list | info | download | import`` (:mod:`.catalog`), ``demo``, ``flow``, ``sample``,
``export``, ``push`` and ``card`` (:mod:`.hub`) are plain commands; ``zoo fit | validate |
test | predict`` hand the rest of the command line to LightningCLI (:mod:`.train`). Errors print one line starting with
``zoo: error:`` and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["main"]

_LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
_COMMAND_MODULES = ("zoo.cli.catalog", "zoo.cli.demo", "zoo.cli.flow", "zoo.cli.sample", "zoo.cli.export",
                    "zoo.cli.hub")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="PWC-Net and NVAE: pretrained weights, inference and training.",
        epilog="Training: zoo fit|validate|test|predict --config CONFIG.yaml (LightningCLI; "
               "see 'zoo fit --help').")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _LIGHTNING_COMMANDS:
        from zoo.cli.train import run_lightning_cli

        run_lightning_cli(argv)
        return 0
    args = _build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, OSError, NotImplementedError, ImportError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"zoo: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
