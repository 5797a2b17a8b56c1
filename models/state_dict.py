"""State dicts of any container, and the report of how one fails to fit a network.

Used by both architectures' official-weight converters and by ``zoo.weights.checkpoint``: a foreign file
holds its tensors bare or under ``state_dict`` (Lightning, NVlabs trainers), sometimes with the
``module.`` prefix of ``nn.DataParallel``; when it does not fit, the error lists every missing,
unexpected and mis-shaped key, at most :data:`LISTED` of each, with a count of the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["LISTED", "check_fits", "mismatch_report", "state_dict_of", "strip_prefix"]

LISTED = 20


def state_dict_of(checkpoint: Mapping[str, Any]) -> Mapping[str, Any]:
    """The state dict inside a checkpoint: ``checkpoint["state_dict"]`` when that is a mapping,
    else the checkpoint itself (a bare state dict)."""
    inner = checkpoint.get("state_dict")
    return inner if isinstance(inner, Mapping) else checkpoint


def strip_prefix(state: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """``state`` without ``prefix`` when every key carries it (``nn.DataParallel`` files)."""
    if state and all(isinstance(k, str) and k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def _listed(title: str, items: list[str]) -> str:
    more = f", ... ({len(items) - LISTED} more)" if len(items) > LISTED else ""
    return f"{title} ({len(items)}): " + ", ".join(items[:LISTED]) + more


def mismatch_report(expected: Mapping[str, tuple[int, ...] | torch.Size | None], found: Mapping[str, Any], *,
                    strict: bool = True, describe: Callable[[str], str] | None = None) -> list[str]:
    """One line per kind of mismatch between the keys (and shapes) ``expected`` and a state dict.

    Args:
        expected: key -> shape the network needs (``None`` where only the name matters).
        found: the state dict offered (values with a ``shape`` are shape-checked).
        strict: also report missing and unexpected keys (shapes are always checked).
        describe: turns a missing key into a longer description (e.g. where it lives in the network).

    Returns:
        ``["missing keys (n): ...", "unexpected keys (n): ...", "shape mismatches (n): ..."]``,
        only the kinds that occur; empty when ``found`` fits.
    """
    lines = []
    if strict:
        missing = sorted(k for k in expected if k not in found)
        unexpected = sorted(str(k) for k in found if k not in expected)
        if missing:
            lines.append(_listed("missing keys", [describe(k) if describe else k for k in missing]))
        if unexpected:
            lines.append(_listed("unexpected keys", unexpected))
    wrong_shape = sorted(
        f"{k}: file {tuple(found[k].shape)} vs network {tuple(shape)}"
        for k, shape in expected.items()
        if shape is not None and k in found and hasattr(found[k], "shape") and tuple(found[k].shape) != tuple(shape))
    if wrong_shape:
        lines.append(_listed("shape mismatches", wrong_shape))
    return lines


def check_fits(expected: Mapping[str, tuple[int, ...] | torch.Size | None], found: Mapping[str, Any], *,
               what: str, strict: bool = True, describe: Callable[[str], str] | None = None) -> None:
    """Raise ``ValueError("<what>:\\n  <report>")`` unless ``found`` fits ``expected``, and unless
    every expected entry present is a tensor."""
    lines = mismatch_report(expected, found, strict=strict, describe=describe)
    not_tensors = sorted(k for k in expected if k in found and not isinstance(found[k], torch.Tensor))
    if not_tensors:
        lines.append(_listed("not tensors", not_tensors))
    if lines:
        raise ValueError(f"{what}:\n  " + "\n  ".join(lines))
