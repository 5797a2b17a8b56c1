"""The download of the flow datasets that declare a public archive (FlyingChairs, MPI Sintel).

:func:`prepare_dataset` fetches an archive into the verified cache and unpacks it atomically into
the dataset root the readers of :mod:`zoo.datamodules.flow.datasets` expect.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from zoo.datamodules.files.download import download, download_any
from zoo.datamodules.flow.datasets.declaration import FAMILIES, DataSource

__all__ = ["DataSource", "prepare_dataset", "public_sources"]

_PathLike = str | os.PathLike


def public_sources() -> dict[str, DataSource]:
    """family -> public archive, for every declared family that has one."""
    return {name: family.source for name, family in FAMILIES.items() if family.source is not None}


def prepare_dataset(name: str, root: _PathLike, *, cache_dir: _PathLike | None = None,
                    sources: dict[str, DataSource] | None = None) -> Path:
    """Download (verified, through :mod:`zoo.datamodules.files.download`) and unpack dataset ``name`` into ``root``.

    ``sources``: family -> archive (default: :func:`public_sources`, what the dataset modules declare).

    Nothing happens when ``root`` already holds the data (the source's ``present`` path, or the
    ``.complete`` marker written after a successful unpack, exists). The archive is unpacked into a temporary folder beside
    ``root`` and moved into place, so an interrupted run leaves no half-unpacked root.
    """
    sources = public_sources() if sources is None else sources
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
