"""``zoo demo``: the offline demonstration of the zoo."""

from __future__ import annotations

from pathlib import Path

from zoo.registry import all_architectures, list_weights, weights_info

__all__ = ["run_demo"]


def _print_registry() -> None:
    for arch in all_architectures():
        print(f"{arch.name}: {arch.description}")
        for name in list_weights(arch.name):
            info = weights_info(name)
            where = "bundled" if info.bundled else ("download" if info.urls else "manual download")
            print(f"  {name:<24} {info.layout:<16} {where}")


def run_demo(out: str | Path = "demo") -> int:
    """Print the registry (the model demos are added as their checkpoints ship)."""
    del out
    _print_registry()
    return 0
