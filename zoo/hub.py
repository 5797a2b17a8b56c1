"""Download, cache and verify files: weights and datasets.

A leaf module: it imports nothing else from the project, so ``datamodules`` may use it too.

The cache lives in ``$ZOO_HOME``, else ``$XDG_CACHE_HOME/zoo``, else ``~/.cache/zoo``. Each URL
maps to one file there. A download is written to a temporary file beside its final name,
checked (size and SHA-256), and only then renamed into place, so no partial or unverified file
is ever visible under the final name, even when the process is killed. A file lock per target
makes concurrent processes download once; the others wait and reuse the result.

Where no hash is published, the SHA-256 seen on first download is recorded in the cache's
manifest (trust on first use) and later loads are verified against it. Verified files are
remembered by (size, mtime) in the manifest, so re-verification costs nothing the second time.

``ZOO_OFFLINE=1`` forbids any network access.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import IO, Iterable

from filelock import FileLock

__all__ = [
    "ChecksumError",
    "OfflineError",
    "cache_dir",
    "cached_file",
    "download",
    "download_any",
    "import_file",
    "is_offline",
    "sha256_file",
    "verify_file",
]

_CHUNK = 1 << 20
_RETRIES = 4
_BACKOFF_S = 0.5
_TIMEOUT_S = 60
_USER_AGENT = "zoo-hub/0.1"


class ChecksumError(ValueError):
    """A file's size or SHA-256 does not match what was expected."""


class OfflineError(FileNotFoundError):
    """A file is needed from the network while ``ZOO_OFFLINE=1`` (or it cannot be downloaded)."""


def is_offline() -> bool:
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """The cache folder: ``$ZOO_HOME``, ``$XDG_CACHE_HOME/zoo`` or ``~/.cache/zoo``."""
    return _default_cache_root()


def _default_cache_root() -> Path:
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "zoo"


def cached_file(url: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where ``url`` is (or would be) cached: ``<cache>/files/<url hash>/<file name>``."""
    root = Path(cache_dir) if cache_dir is not None else _default_cache_root()
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "download"
    return root / "files" / hashlib.sha256(url.encode()).hexdigest()[:16] / name


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_digest(path: Path, actual: str, expected: str | None, what: str) -> None:
    if expected is not None and not actual.lower().startswith(expected.lower()):
        raise ChecksumError(
            f"{what}: SHA-256 mismatch for {path}: expected {expected}"
            f"{' (prefix)' if len(expected) < 64 else ''}, got {actual}"
        )


class _Manifest:
    """The cache's JSON record of verified files: ``{path: {sha256, size, mtime_ns, tofu}}``.

    Callers hold the target's file lock; the manifest itself is guarded by its own lock and
    rewritten atomically.
    """

    def __init__(self, root: Path) -> None:
        self.path = root / "manifest.json"
        self.lock = FileLock(str(root / "manifest.json.lock"))

    def read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def get(self, file: Path) -> dict | None:
        return self.read().get(str(file))

    def put(self, file: Path, entry: dict) -> None:
        with self.lock:
            data = self.read()
            data[str(file)] = entry
            _atomic_write_text(self.path, json.dumps(data, indent=1, sort_keys=True))


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cache_root_of(file: Path) -> Path:
    """The cache root of a file laid out as ``<root>/<section>/<key>/<name>``."""
    return file.parent.parent.parent


def verify_file(path: str | os.PathLike, sha256: str | None = None, *, size: int | None = None,
                what: str | None = None) -> str:
    """Check a cached file's size and hash; returns its full SHA-256.

    The result is remembered in the manifest under (size, mtime), so a second call on an
    unchanged file does not read it again. Without ``sha256``, the hash recorded on first use is
    the reference (and is recorded now if there is none, with a trust-on-first-use warning).
    """
    file = Path(path)
    what = what or file.name
    stat = file.stat()
    if size is not None and stat.st_size != size:
        raise ChecksumError(f"{what}: {file} has {stat.st_size} bytes, expected {size}")
    manifest = _Manifest(_cache_root_of(file))
    entry = manifest.get(file)
    if entry and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
        actual = entry["sha256"]
    else:
        actual = sha256_file(file)
    _check_digest(file, actual, sha256 or (entry or {}).get("sha256"), what)
    tofu = sha256 is None and not entry
    if tofu:
        warnings.warn(
            f"{what}: no SHA-256 is published; recorded {actual} for {file} on first use "
            "(trust on first use) and later loads are verified against it",
            stacklevel=2,
        )
    if not entry or entry.get("mtime_ns") != stat.st_mtime_ns or entry.get("sha256") != actual:
        manifest.put(file, {"sha256": actual, "size": stat.st_size,
                            "mtime_ns": stat.st_mtime_ns,
                            "tofu": bool((entry or {}).get("tofu", tofu)) and sha256 is None})
    return actual


def _progress_bar(total: int | None, desc: str, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 429)
    return isinstance(error, (urllib.error.URLError, ConnectionError, TimeoutError, _ShortRead,
                              http.client.IncompleteRead, http.client.RemoteDisconnected))


class _ShortRead(IOError):
    """The server closed the connection before sending the announced number of bytes."""


def _fetch_once(url: str, out: IO[bytes], progress: bool | None) -> tuple[str, int]:
    """Stream ``url`` into ``out``; returns (sha256, bytes written)."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    written = 0
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length is not None else None
        bar = _progress_bar(expected, url.rsplit("/", 1)[-1], progress)
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and written != expected:
        raise _ShortRead(f"{url}: received {written} of {expected} bytes")
    return digest.hexdigest(), written


def _remove_stale_parts(target: Path) -> None:
    """Delete temporaries left by a killed download of ``target`` (the caller holds its lock)."""
    for part in target.parent.glob(f".{target.name}.*.part"):
        part.unlink(missing_ok=True)


def download(url: str, sha256: str | None = None, *, cache_dir: str | os.PathLike | None = None,
             progress: bool | None = None, size: int | None = None) -> Path:
    """The verified local copy of ``url``, downloading it into the cache if needed.

    Args:
        url: http(s) or file URL.
        sha256: expected SHA-256, full hex or a prefix; None records the hash on first use.
        cache_dir: cache root (default :func:`cache_dir`).
        progress: show a progress bar (default: when stderr is a terminal).
        size: expected size in bytes, when known.

    Raises:
        ChecksumError: the downloaded file does not match ``sha256`` / ``size`` (it is deleted).
        OfflineError: the file is not cached and ``ZOO_OFFLINE=1``.
        urllib.error.URLError: the server cannot be reached after the retries.
    """
    target = cached_file(url, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():
            verify_file(target, sha256, size=size, what=url)
            return target
        if is_offline():
            raise OfflineError(
                f"{url} is not in the cache ({target}) and ZOO_OFFLINE=1 forbids downloading it"
            )
        _remove_stale_parts(target)
        for attempt in range(_RETRIES + 1):
            try:
                _download_to(url, target, sha256, size, progress)
                return target
            except Exception as error:  # noqa: BLE001 - re-raised unless transient
                if not _is_transient(error) or attempt == _RETRIES:
                    raise
                time.sleep(_BACKOFF_S * 2**attempt)
    raise AssertionError("unreachable")


def _download_to(url: str, target: Path, sha256: str | None, size: int | None,
                 progress: bool | None) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual, written = _fetch_once(url, out, progress)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; cached weights are shared
        if size is not None and written != size:
            raise ChecksumError(f"{url}: received {written} bytes, expected {size}")
        _check_digest(target, actual, sha256, url)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    stat = target.stat()
    if sha256 is None:
        warnings.warn(
            f"{url}: no SHA-256 is published; recorded {actual} on first download "
            "(trust on first use); later loads are verified against it",
            stacklevel=3,
        )
    _Manifest(_cache_root_of(target)).put(
        target, {"sha256": actual, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                 "tofu": sha256 is None, "url": url})


def download_any(urls: Iterable[str], sha256: str | None = None, **kwargs) -> Path:
    """:func:`download` from the first of ``urls`` (primary, then mirrors) that works.

    A copy already cached under any of the URLs is used without touching the network.
    """
    urls = list(urls)
    if not urls:
        raise ValueError("no URL given")
    for url in urls:
        if cached_file(url, kwargs.get("cache_dir")).exists():
            return download(url, sha256, **kwargs)
    errors = []
    for url in urls:
        try:
            return download(url, sha256, **kwargs)
        except (OfflineError, ChecksumError):
            raise
        except Exception as error:  # noqa: BLE001 - try the next mirror, report all at the end
            errors.append(f"{url}: {error}")
    raise OSError("every URL failed:\n  " + "\n  ".join(errors))


def import_file(source: str | os.PathLike, target: str | os.PathLike,
                sha256: str | None = None, size: int | None = None) -> Path:
    """Copy a file the user fetched by hand to its cache location ``target``, after checking it.

    The source is verified against ``sha256`` (prefix allowed) and ``size`` before anything is
    written; the copy goes through a temporary file and a rename.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file to import")
    actual = sha256_file(source)
    _check_digest(source, actual, sha256, str(source))
    if size is not None and source.stat().st_size != size:
        raise ChecksumError(f"{source}: {source.stat().st_size} bytes, expected {size}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        stat = target.stat()
        _Manifest(_cache_root_of(target)).put(
            target, {"sha256": actual, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                     "tofu": sha256 is None, "imported_from": str(source)})
    return target
