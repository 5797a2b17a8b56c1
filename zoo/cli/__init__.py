"""The ``zoo`` command line: one module per command, each with ``add_parser(subparsers)``.

``zoo list | info`` (:mod:`.info`), ``download | import`` (:mod:`.download`), ``demo``, ``flow``, ``sample``,
``reconstruct | interpolate`` (:mod:`.latent`), ``export``, ``eval``, ``fid``, ``submit``, ``benchmark``, ``push``,
``card`` (:mod:`.push`) and ``warp-error`` (:mod:`.warp_error`) are plain commands;
``zoo fit | validate | test | predict`` hand the rest of
the command line to LightningCLI (:mod:`.train`).

Errors print one line on stderr, ``zoo: error: MESSAGE`` for the errors a command expects (bad
input: ``KeyError``, ``ValueError``, ``OSError``, ``NotImplementedError``, ``ImportError`` of an
optional extra) and ``zoo: error:
TYPE: MESSAGE`` for any other exception, and exit with status 1 (2 for usage errors);
``ZOO_DEBUG=1`` lets the exception through with its traceback instead. ``KeyboardInterrupt`` is
never caught. When the reader of the output goes away (``zoo info NAME | head -1``), the
command stops quietly with status 141 = 128 + SIGPIPE, what the shell reports for ``cat``,
``grep`` or ``git`` in the same place: ``set -o pipefail`` scripts see zoo like any other tool,
and the status says that not all of the output was read (0 would claim it was).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

_EXPECTED_ERRORS = (KeyError, ValueError, OSError, NotImplementedError, ImportError)
_STATUS_SIGPIPE = 128 + 13  # the status of a process that SIGPIPE (13) ended
_LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
_COMMAND_MODULES = ("zoo.cli.info", "zoo.cli.download", "zoo.cli.demo", "zoo.cli.flow", "zoo.cli.sample", "zoo.cli.latent",
                    "zoo.cli.export", "zoo.cli.eval", "zoo.cli.fid", "zoo.cli.submit", "zoo.cli.benchmark",
                    "zoo.cli.push", "zoo.cli.warp_error")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo", description="PWC-Net and NVAE: pretrained weights, inference and training.",
        epilog="Training: zoo fit|validate|test|predict --config CONFIG.yaml (LightningCLI; "
               "see 'zoo fit --help').")
    parser.add_argument("--version", action="version", version=f"zoo {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def _version() -> str:
    """The installed distribution's version (``importlib.metadata``), else ``zoo.__version__``
    (a source tree on ``sys.path`` that was never installed)."""
    from importlib import metadata

    try:
        return metadata.version("zoo")
    except metadata.PackageNotFoundError:
        import zoo

        return zoo.__version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``zoo`` command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    try:
        status = _dispatch(None if argv is None else list(argv))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # Python's documented recipe (signal module, "Note on SIGPIPE"): point stdout at devnull so
        # that the flush at exit does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _STATUS_SIGPIPE
    except Exception as error:  # every error of a command ends as one line
        if os.environ.get("ZOO_DEBUG") == "1":
            raise
        print(f"zoo: error: {_one_line(error)}", file=sys.stderr)
        return 1


def _dispatch(argv: list[str] | None) -> int:
    """Run one command; ``argv`` None is the process's own command line (``sys.argv[1:]``)."""
    words = sys.argv[1:] if argv is None else argv
    if words and words[0] in _LIGHTNING_COMMANDS:
        from zoo.cli.train import run_lightning_cli

        run_lightning_cli(argv)  # None: LightningCLI reads sys.argv itself, without its warning
        return 0
    args = _build_parser().parse_args(words)
    return args.func(args)


def _one_line(error: Exception) -> str:
    """The error's message on one line (a KeyError's message unquoted), prefixed by its type
    unless it is one of the errors commands expect."""
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    text = ""
    for line in filter(None, (line.strip() for line in message.splitlines())):
        text += ("" if not text else " " if text.endswith(":") else "; ") + line
    text = text or "(no message)"
    return text if isinstance(error, _EXPECTED_ERRORS) else f"{type(error).__name__}: {text}"
