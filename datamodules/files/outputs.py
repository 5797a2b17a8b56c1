"""The one rule every writer of the project follows before it writes: an output never lands on one
of its inputs (or on another output), and a file whose format is fixed has that format's suffix.

Two paths name "the same file" when they resolve to one path (``..``, symlinks) or, where both
exist, when ``os.stat`` gives the same ``(st_dev, st_ino)`` (hard links, bind mounts, another
spelling on a case-insensitive disk). The check runs before any work, so a refused command has written nothing.

>>> check_outputs({"-o": "out.flo"}, inputs={"IMG1": "a.png", "IMG2": "b.png"})
>>> check_suffix("-o", "model.txt", (".safetensors",))
Traceback (most recent call last):
ValueError: -o model.txt: expected a file name ending in .safetensors, got '.txt'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["FileIdentity", "check_output_file", "check_outputs", "check_suffix", "local_files"]

PathLike = str | os.PathLike


class FileIdentity:
    """What identifies a path's file: its resolved path and, when it exists, ``(st_dev, st_ino)``."""

    def __init__(self, path: PathLike) -> None:
        path = Path(path).expanduser()
        self.resolved = path.resolve()
        try:
            stat = os.stat(path)
        except OSError:
            self.inode: tuple[int, int] | None = None
        else:
            self.inode = (stat.st_dev, stat.st_ino)

    def same_as(self, other: FileIdentity) -> bool:
        """True where both name one file (see the module docstring)."""
        return self.resolved == other.resolved or (self.inode is not None and self.inode == other.inode)


def check_outputs(outputs: Mapping[str, PathLike] | Iterable[tuple[str, PathLike]],
                  inputs: Mapping[str, PathLike] | Iterable[tuple[str, PathLike]] = ()) -> None:
    """Refuse outputs that name the same file as an input or as another output.

    Args:
        outputs: ``{label: path}`` of every file about to be written (``label`` is the option or
            role shown in the error, e.g. ``"-o"`` or ``"--png"``); pairs are accepted where
            labels repeat (the files of an output folder).
        inputs: ``{label: path}`` of every file the writer reads.

    Raises:
        ValueError: ``LABEL PATH: the same file as LABEL PATH (input); writing it would destroy
            that file`` for the first clash.
    """
    by_path: dict[Path, tuple[str, PathLike, str]] = {}
    by_inode: dict[tuple[int, int], tuple[str, PathLike, str]] = {}

    def note(label: str, path: PathLike, identity: FileIdentity, role: str) -> None:
        by_path.setdefault(identity.resolved, (label, path, role))
        if identity.inode is not None:
            by_inode.setdefault(identity.inode, (label, path, role))

    for label, path in _pairs(inputs):
        note(label, path, FileIdentity(path), "input")
    for label, path in _pairs(outputs):  # dictionaries: thousands of frames cost thousands of lookups
        identity = FileIdentity(path)
        clash = by_path.get(identity.resolved) or (by_inode.get(identity.inode) if identity.inode else None)
        if clash is not None:
            other_label, other_path, role = clash
            raise ValueError(f"{label} {path}: the same file as {other_label} {other_path} ({role}); "
                             f"writing it would destroy that {role}; choose another output path")
        note(label, path, identity, "output")


def check_suffix(label: str, path: PathLike, suffixes: Iterable[str]) -> None:
    """Refuse an output whose format is fixed but whose name does not end in one of ``suffixes``
    (compared case-insensitively, e.g. ``(".png",)``), or that names an existing folder."""
    path, suffixes = Path(path), tuple(suffixes)
    expected = " or ".join(suffixes)
    if path.is_dir():
        raise IsADirectoryError(f"{label} {path}: is a folder; give a file name ending in {expected}")
    if path.suffix.lower() not in suffixes:
        raise ValueError(f"{label} {path}: expected a file name ending in {expected}, got {path.suffix or 'none'!r}")


def check_output_file(label: str, path: PathLike, suffixes: Iterable[str],
                      inputs: Mapping[str, PathLike] | Iterable[tuple[str, PathLike]] = ()) -> None:
    """:func:`check_suffix` and :func:`check_outputs` of one output file."""
    check_suffix(label, path, suffixes)
    check_outputs({label: path}, inputs)


def local_files(candidates: Mapping[str, object]) -> list[tuple[str, Path]]:
    """``(label, path)`` of each entry of ``candidates`` that names an existing local file, and of
    each file directly inside one that names a folder (a ``save_pretrained`` folder, a data folder).

    Entries that name nothing on disk are left out: a ``--weights`` argument may also be a
    registry or Hub name, which is no file of the user's.
    """
    found = []
    for label, value in candidates.items():
        if not isinstance(value, str | os.PathLike) or not os.path.exists(Path(value).expanduser()):
            continue  # None, a network object, or a name
        path = Path(value).expanduser()
        found += [(label, entry) for entry in sorted(path.iterdir())] if path.is_dir() else [(label, path)]
    return found


def _pairs(entries: Mapping[str, PathLike] | Iterable[tuple[str, PathLike]]) -> list[tuple[str, PathLike]]:
    return list(entries.items()) if isinstance(entries, Mapping) else list(entries)
