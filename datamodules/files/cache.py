"""The verified file cache: where downloads live, their digests, and the record of what was checked.

The cache lives in ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``; each URL
maps to one file, ``<cache>/files/<url hash>/<file name>``. Its ``manifest.json`` records every
file that was verified, ``{path: {sha256, size, mtime_ns, tofu, ...}}``:

* where no hash is published, the SHA-256 seen on first use is the reference later loads are
  checked against (trust on first use), so the manifest is the only memory of that trust;
* verified files are remembered by (size, mtime), so checking them again costs nothing.

A manifest that cannot be read is an error (:class:`ManifestError`) that names it and says how to
recover, never a silent reset, which would re-trust a tampered file. It is rewritten atomically
and durably (temporary file, fsync, rename, fsync of the folder). A cache on a read-only file
system works for everything already verified: reading needs no lock and no write.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from filelock import FileLock

from zoo.datamodules.files.atomic import atomic_output

__all__ = [
    "ChecksumError",
    "Manifest",
    "ManifestError",
    "cache_root",
    "cached_file",
    "check_digests",
    "git_blob_sha1",
    "is_read_only_error",
    "remove_stale_parts",
    "sha256_file",
    "verify_file",
]

CHUNK_BYTES = 1 << 20
_ENTRY_FIELDS = {"sha256": str, "size": int, "mtime_ns": int}


class ChecksumError(ValueError):
    """A file's size, SHA-256 or git blob id does not match what was expected."""


class ManifestError(ValueError):
    """The cache's manifest cannot be read; the message names it and says how to recover."""


def cache_root() -> Path:
    """The cache folder: ``$ZOO_HOME``, ``$XDG_CACHE_HOME/zoo`` or ``~/.cache/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "zoo"


def cached_file(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``url`` is (or would be) cached: ``<cache>/files/<url hash>/<file name>``."""
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "download"
    return root / "files" / hashlib.sha256(url.encode()).hexdigest()[:16] / name


def sha256_file(path: str | os.PathLike) -> str:
    """Full hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def git_blob_sha1(path: str | os.PathLike) -> str:
    """The file's git blob id, SHA-1 of ``b"blob <size>\\0" + content``: the content hash GitHub
    publishes for every file of a repository."""
    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_digests(path: Path, what: str, *, sha256: str, expected_sha256: str | None = None,
                  git_sha1: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``sha256`` (the file's) starts with ``expected_sha256``
    and the file's git blob id equals ``git_sha1`` (each check only when given)."""
    if expected_sha256 is not None and not sha256.lower().startswith(expected_sha256.lower()):
        raise ChecksumError(
            f"{what}: SHA-256 mismatch for {path}: expected {expected_sha256}"
            f"{' (prefix)' if len(expected_sha256) < 64 else ''}, got {sha256}")
    if git_sha1 is not None:
        actual = git_blob_sha1(path)
        if actual != git_sha1.lower():
            raise ChecksumError(f"{what}: git blob id mismatch for {path}: expected {git_sha1}, got {actual}")


def is_read_only_error(error: OSError) -> bool:
    """Whether ``error`` says the cache cannot be written (read-only file system or no permission)."""
    return error.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


class Manifest:
    """The cache's record of verified files (see the module doc).

    Reading takes no lock (the file is only ever replaced whole); :meth:`put` holds the manifest's
    own lock while it reads, updates and rewrites it.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "manifest.json"
        self._lock_path = root / "manifest.json.lock"

    def _error(self, problem: str) -> ManifestError:
        return ManifestError(
            f"{self.path}: {problem}. The manifest is the cache's record of verified files and of "
            "hashes trusted on first use, so it is not reset silently. To recover, delete it (every "
            "cached file is then checked again: against its published hash, or trusted anew on "
            "first use), or delete the whole cache folder")

    def read(self) -> dict[str, dict]:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise self._error(f"damaged, not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise self._error(f"damaged: expected a JSON object, found {type(data).__name__}")
        for key, entry in data.items():
            if not isinstance(entry, dict) or any(
                    not isinstance(entry.get(f), t) or isinstance(entry.get(f), bool) for f, t in _ENTRY_FIELDS.items()):
                raise self._error(f"damaged: the record of {key!r} lacks sha256 / size / mtime_ns")
        return data

    def get(self, file: Path) -> dict | None:
        return self.read().get(str(file))

    def put(self, file: Path, entry: Mapping) -> None:
        with FileLock(str(self._lock_path)):
            data = self.read()
            data[str(file)] = dict(entry)
            with atomic_output(self.path, durable=True) as tmp:
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True))

    def record(self, file: Path, sha256: str, *, tofu: bool, **extra: str) -> None:
        """Record ``file`` as verified now (its current size and mtime)."""
        stat = file.stat()
        self.put(file, {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                        "tofu": tofu, **extra})


def cache_root_of(file: Path) -> Path:
    """The cache root of a file laid out as ``<root>/<section>/<key>/<name>``."""
    return file.parent.parent.parent


def verify_file(path: str | os.PathLike, sha256: str | None = None, *, size: int | None = None,
                git_sha1: str | None = None, what: str | None = None) -> str:
    """Check a cached file's size and digests; returns its full SHA-256.

    The result is remembered in the manifest under (size, mtime), so a second call on an
    unchanged file reads neither the file nor writes anything. Without ``sha256`` (and
    ``git_sha1``), the hash recorded on first use is the reference, recorded now if there is none,
    with a trust-on-first-use warning. On a read-only cache a result that cannot be recorded is
    simply not remembered.

    Raises:
        ChecksumError: size or digest mismatch.
        ManifestError: the manifest is damaged.
    """
    file = Path(path)
    what = what or file.name
    stat = file.stat()
    if size is not None and stat.st_size != size:
        raise ChecksumError(f"{what}: {file} has {stat.st_size} bytes, expected {size}")
    manifest = Manifest(cache_root_of(file))
    entry = manifest.get(file)
    unchanged = bool(entry) and entry["size"] == stat.st_size and entry["mtime_ns"] == stat.st_mtime_ns
    known = unchanged and (git_sha1 is None or entry.get("git_sha1") == git_sha1.lower())
    actual = entry["sha256"] if known else sha256_file(file)
    check_digests(file, what, sha256=actual, expected_sha256=sha256 or (entry or {}).get("sha256"),
                  git_sha1=None if known else git_sha1)
    if known:
        return actual
    tofu = sha256 is None and git_sha1 is None
    if tofu and not entry:
        warnings.warn(f"{what}: no hash is published; recorded SHA-256 {actual} for {file} on first use "
                      "(trust on first use) and later loads are verified against it", stacklevel=2)
    extra = {"git_sha1": git_sha1.lower()} if git_sha1 else {}
    try:
        manifest.record(file, actual, tofu=tofu and bool((entry or {}).get("tofu", True)), **extra)
    except OSError as error:
        if not is_read_only_error(error):
            raise
    return actual


def remove_stale_parts(target: Path) -> None:
    """Delete temporaries (``.<name>.*.part``) that a killed writer of ``target`` left behind.

    Call it while holding ``target``'s lock: then no other process is writing one.
    """
    for part in target.parent.glob(f".{target.name}.*.part"):
        part.unlink(missing_ok=True)
