"""Result tables of ``zoo eval`` and ``zoo benchmark``: aligned text for the terminal, and the
same rows as Markdown, CSV and JSON files.

A table is a list of row dicts and the columns to show, ``(key, heading)`` pairs. Missing values
(``None``) show as ``-``; the files keep full-precision numbers (JSON ``null`` / an empty CSV
cell for a missing one), the text and Markdown round floats to 4 significant digits.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.datamodules.files.atomic import write_atomic
from zoo.datamodules.files.outputs import check_outputs, local_files

__all__ = ["Columns", "format_value", "markdown_table", "present_columns", "text_table", "write_tables"]

Columns = Sequence[tuple[str, str]]


def present_columns(columns: Columns, rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The ``columns`` that hold a value in at least one row."""
    return [(key, heading) for key, heading in columns if any(row.get(key) is not None for row in rows)]


def format_value(value: Any) -> str:
    """A cell as text: ``-`` for None, thousands separators for ints, 4 significant digits for floats."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


def _cells(columns: Columns, rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    return [[format_value(row.get(key)) for key, _ in columns] for row in rows]


def text_table(columns: Columns, rows: Sequence[Mapping[str, Any]]) -> str:
    """Aligned columns with a header line and a rule, numbers right-aligned."""
    cells = _cells(columns, rows)
    header = [heading for _, heading in columns]
    widths = [max(len(text) for text in column) for column in zip(header, *cells)]
    numeric = [all(isinstance(row.get(key), (int, float)) or row.get(key) is None for row in rows)
               for key, _ in columns]

    def line(texts: list[str]) -> str:
        return "  ".join(t.rjust(w) if n else t.ljust(w) for t, w, n in zip(texts, widths, numeric)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, cells)])


def markdown_table(columns: Columns, rows: Sequence[Mapping[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""
    def line(texts: list[str]) -> str:
        return "| " + " | ".join(t.replace("|", "\\|") for t in texts) + " |"

    return "\n".join([line([heading for _, heading in columns]), line(["---"] * len(columns)),
                      *map(line, _cells(columns, rows))])


def write_tables(out_dir: str | os.PathLike, stem: str, title: str, columns: Columns,
                 rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any], *,
                 inputs: Mapping[str, Any] | None = None) -> list[Path]:
    """Write ``<stem>.md``, ``<stem>.csv`` and ``<stem>.json`` under ``out_dir``, each atomically.

    The Markdown holds ``title``, one line per ``meta`` entry and the table of ``columns``; the
    CSV holds every key of ``columns`` as it is; the JSON is ``{"meta": meta, "rows": rows}``
    with all of each row's keys. Returns the three paths. ``inputs`` (``{label: path or name}``,
    folders standing for their files): what the command read, none of which may be replaced
    (ValueError before anything is written).
    """
    out = Path(out_dir)
    paths = [out / f"{stem}.{ext}" for ext in ("md", "csv", "json")]
    check_outputs([("--out", path) for path in paths], local_files(dict(inputs or {})))
    notes = "".join(f"- {key}: {value}\n" for key, value in meta.items())
    write_atomic(paths[0], f"# {title}\n\n{notes}\n{markdown_table(columns, rows)}\n".encode())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([key for key, _ in columns])
    writer.writerows([["" if row.get(key) is None else row.get(key) for key, _ in columns] for row in rows])
    write_atomic(paths[1], buffer.getvalue().encode())
    write_atomic(paths[2], (json.dumps({"meta": dict(meta), "rows": list(rows)}, indent=1) + "\n").encode())
    return paths
