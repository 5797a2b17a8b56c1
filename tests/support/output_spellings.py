"""Other names of one file, for tests that point an output at an input: the path itself, a ``..``
detour, the file through a symlinked folder, a symlink and a hard link to it."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SPELLINGS", "snapshot", "spell"]

SPELLINGS = ("itself", "dotdot", "folder-symlink", "symlink", "hardlink")


def spell(target: Path, how: str, suffix: str | None = None) -> Path:
    """``target`` (an existing file) named another way; links are made beside it, named with
    ``suffix`` (default: the target's own), so the output passes a suffix check."""
    target = Path(target)
    suffix = target.suffix if suffix is None else suffix
    if how == "itself":
        return target
    if how == "dotdot":
        detour = target.parent / "detour"
        detour.mkdir(exist_ok=True)
        return detour / ".." / target.name
    if how == "folder-symlink":
        alias = target.parent.parent / f"alias-of-{target.parent.name}"
        if not alias.exists():
            alias.symlink_to(target.parent, target_is_directory=True)
        return alias / target.name
    link = target.parent / f"{how}-to-{target.stem}{suffix}"
    if how == "symlink":
        link.symlink_to(target)
    elif how == "hardlink":
        os.link(target, link)
    else:
        raise ValueError(f"unknown spelling {how!r}; expected one of {SPELLINGS}")
    return link


def snapshot(*folders: Path) -> dict[Path, bytes | str]:
    """Every entry under ``folders``: file contents, or the target of a symlink."""
    entries: dict[Path, bytes | str] = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_symlink():
                entries[path] = f"-> {os.readlink(path)}"
            elif path.is_file():
                entries[path] = path.read_bytes()
    return entries
