"""Public archives of the flow datasets that have one (FlyingChairs, MPI Sintel), and their download.

:func:`prepare_dataset` fetches an archive into the verified cache and unpacks it atomically into
the dataset root the readers of :mod:`zoo.datamodules.flow.datasets` expect.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from zoo.datamodules.files.download import download, download_any

__all__ = ["SOURCES", "DataSource", "prepare_dataset"]

_PathLike = str | os.PathLike

@dataclass(frozen=True)
class DataSource:
    """A public archive of a dataset.

    ``urls``: mirrors tried in order; ``sha256``: the archive's hash, None where the publisher
    gives none (the cache then records the hash of the first download and verifies later copies
    against it); ``prefix``: the folder inside the archive that becomes the dataset root;
    ``extra``: further (url, sha256, file name) downloads placed in the root; ``present``: a path
    in the root whose existence means the data is already there (unpacked by hand, say).
    """

    urls: tuple[str, ...]
    sha256: str | None
    prefix: str = ""
    extra: tuple[tuple[str, str | None, str], ...] = ()
    present: str = ".complete"


SOURCES: dict[str, DataSource] = {
    "chairs": DataSource(
        urls=("https://lmb.informatik.uni-freiburg.de/data/FlyingChairs/FlyingChairs.zip",),
        sha256=None,
        prefix="FlyingChairs_release/",
        extra=((
            "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs/FlyingChairs_train_val.txt",
            None,
            "FlyingChairs_train_val.txt",
        ),),
        present="FlyingChairs_train_val.txt",
    ),
    "sintel": DataSource(
        urls=(
            "http://files.is.tue.mpg.de/sintel/MPI-Sintel-complete.zip",
            "http://sintel.cs.washington.edu/MPI-Sintel-complete.zip",
        ),
        sha256=None,
        present="training/flow",
    ),
}


def prepare_dataset(name: str, root: _PathLike, *, cache_dir: _PathLike | None = None, sources=SOURCES) -> Path:
    """Download (verified, through :mod:`zoo.datamodules.files.download`) and unpack dataset ``name`` into ``root``.

    Nothing happens when ``root`` already holds the data (the source's ``present`` path, or the
    ``.complete`` marker written after a successful unpack, exists). The archive is unpacked into a temporary folder beside
    ``root`` and moved into place, so an interrupted run leaves no half-unpacked root.
    """
    if name not in sources:
        raise ValueError(f"no public download for dataset {name!r}; downloadable: {sorted(sources)}")
    source = sources[name]
    root = Path(root)
    if (root / ".complete").exists() or (root / source.present).exists():
        return root
    archive = download_any(source.urls, source.sha256, cache_dir=cache_dir)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}.", suffix=".tmp"))
    try:
        _unpack(archive, source.prefix, staging)
        for url, sha256, file_name in source.extra:
            shutil.copyfile(download(url, sha256, cache_dir=cache_dir), staging / file_name)
        (staging / ".complete").write_text("")
        if root.exists():
            for entry in staging.iterdir():  # a partial root: complete it in place
                target = root / entry.name
                if target.is_dir():
                    shutil.rmtree(target)
                os.replace(entry, target)
        else:
            os.replace(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root


def _unpack(archive: Path, prefix: str, target: Path) -> None:
    """Extract the members of a zip under ``prefix`` into ``target``, refusing paths that escape it."""
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            if not member.filename.startswith(prefix) or member.is_dir():
                continue
            relative = Path(member.filename[len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                raise ValueError(f"{archive}: member {member.filename!r} would be written outside the dataset folder")
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst)
