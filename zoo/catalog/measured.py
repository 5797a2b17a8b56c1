"""Figures that ``zoo eval`` measured for the bundled weights, kept in ``measured.json`` here.

``zoo eval NAME --data ... --record`` writes them (:func:`record`), so the catalog never holds a
hand-copied number: after the weights change, the same command measures them again. The file
maps each weight name to the SHA-256 of the file that was measured, and per dataset the
figures and how they were obtained::

    {"pwcnet.synth": {"sha256": "1092...",
                      "figures": {"synthetic-seed2-192x256": {"epe": 2.05}},
                      "sources": {"synthetic-seed2-192x256": "zoo eval pwcnet.synth --data synthetic ..."}}}

A test compares each recorded hash with the bundled file, so replaced weights fail loudly until
they are measured again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["MEASURED_FILE", "measured_fields", "read_measured", "record"]

MEASURED_FILE = Path(__file__).with_name("measured.json")


def read_measured(path: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """The whole store, ``path`` or :data:`MEASURED_FILE` (empty when the file does not exist)."""
    path = Path(path or MEASURED_FILE)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from error


def measured_fields(name: str, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """``measured`` and ``measured_source`` keyword arguments of :class:`~zoo.catalog.records.WeightsInfo`
    for the weights ``name`` (empty figures when nothing was recorded)."""
    entry = read_measured(path).get(name, {})
    sources = entry.get("sources", {})
    return {"measured": entry.get("figures", {}),
            "measured_source": "; ".join(f"{dataset}: {text}" for dataset, text in sources.items())}


def record(name: str, sha256: str, figures: Mapping[str, Mapping[str, float]], sources: Mapping[str, str],
           path: str | os.PathLike | None = None) -> Path:
    """Store ``figures`` (``{dataset: {metric: value}}``) and their ``sources`` for ``name`` in
    ``path`` (default :data:`MEASURED_FILE`), atomically.

    Datasets measured before on the same file (same ``sha256``) are kept; a different hash means
    new weights, and every older figure of ``name`` is dropped.
    """
    from zoo.datamodules.files.atomic import write_atomic

    store = read_measured(path)
    entry = store.get(name, {})
    if entry.get("sha256") != sha256:
        entry = {"sha256": sha256, "figures": {}, "sources": {}}
    entry["figures"].update({dataset: dict(values) for dataset, values in figures.items()})
    entry["sources"].update(sources)
    store[name] = entry
    path = Path(path or MEASURED_FILE)
    write_atomic(path, (json.dumps(store, indent=1, sort_keys=True) + "\n").encode())
    return path
