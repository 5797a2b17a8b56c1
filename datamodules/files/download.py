"""Download files into the verified cache (:mod:`zoo.datamodules.files.cache`): weights and datasets.

A download is written to a temporary ``.<name>.*.part`` file beside its final name, checked
(size, SHA-256, git blob id) and only then renamed into place, so no partial or unverified file
is ever visible under the final name, even when the process is killed; the temporaries a killed
process left are removed the next time the same target is written. A file lock per target makes
concurrent processes download once; the others wait and reuse the result. A file already in the
cache is verified without taking the lock, so a read-only cache serves what it holds.

The body is never allowed to grow past what is expected: the announced size of the file when
known, else ``max_size`` (default :data:`MAX_DOWNLOAD_BYTES`), whatever the server announces or
fails to announce. Network errors that may pass (timeouts, resets, 5xx, truncated bodies) are
retried with back-off; a host name that does not resolve, a refused connection, an unreachable
network or host and 4xx are not. A download that fails leaves nothing behind: its temporary
file, its lock file and the folders it created are removed.

``ZOO_OFFLINE=1`` forbids any network access.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from filelock import FileLock

from zoo.datamodules.files.cache import (
    CHUNK_BYTES,
    ChecksumError,
    Manifest,
    cache_root_of,
    cached_file,
    check_digests,
    remove_stale_parts,
    sha256_file,
    verify_file,
)

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "DownloadError",
    "FileUnavailableError",
    "OfflineError",
    "download",
    "download_any",
    "import_file",
    "is_offline",
]

MAX_DOWNLOAD_BYTES = 64 << 30  # larger than any archive we know of (FlyingChairs: 31 GB)
_RETRIES = 4
_BACKOFF_S = 0.5
_TIMEOUT_S = 60
_USER_AGENT = "zoo/0.1"
_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH)  # no network: retrying cannot help


class FileUnavailableError(FileNotFoundError):
    """A file is not in the cache and cannot be had now (offline, unreachable, or to be fetched by
    hand); the message says what to do."""


class OfflineError(FileUnavailableError):
    """A file is needed from the network while ``ZOO_OFFLINE=1``."""


class DownloadError(OSError):
    """A file could not be downloaded from any of its URLs; the message lists each URL's reason."""


class _ShortRead(IOError):
    """The server closed the connection before sending the announced number of bytes."""


def is_offline() -> bool:
    return os.environ.get("ZOO_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 429)
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, OSError) and reason.errno in _NO_ROUTE:
            return False
        return not isinstance(reason, (socket.gaierror, ConnectionRefusedError, str))
    return isinstance(error, (ConnectionError, TimeoutError, _ShortRead, http.client.IncompleteRead))


def describe_error(error: BaseException) -> str:
    """One line for a download failure (a host that does not resolve is said so)."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror or reason}); is the machine offline?"
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    return str(reason if reason is not None else error)


def _progress_bar(total: int | None, desc: str, enabled: bool | None):
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, leave=False)


def _fetch_once(url: str, out: IO[bytes], limit: int, progress: bool | None) -> tuple[str, int]:
    """Stream ``url`` into ``out``, never more than ``limit`` bytes; returns (sha256, bytes written)."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    digest = hashlib.sha256()
    written = 0
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        length = response.headers.get("Content-Length")
        announced = int(length) if length is not None and length.isdigit() else None
        if announced is not None and announced > limit:
            raise ChecksumError(f"{url}: the server announces {announced} bytes, more than the {limit} expected")
        bar = _progress_bar(announced, url.rsplit("/", 1)[-1], progress)
        try:
            while chunk := response.read(min(CHUNK_BYTES, limit + 1 - written)):
                written += len(chunk)
                if written > limit:
                    raise ChecksumError(f"{url}: the body exceeds the {limit} bytes expected; download stopped")
                out.write(chunk)
                digest.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
        finally:
            if bar is not None:
                bar.close()
    if announced is not None and written != announced:
        raise _ShortRead(f"{url}: received {written} of {announced} bytes")
    return digest.hexdigest(), written


def _download_to(url: str, target: Path, sha256: str | None, git_sha1: str | None, size: int | None,
                 max_size: int, progress: bool | None) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual, written = _fetch_once(url, out, size if size is not None else max_size, progress)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; cached files are shared
        if size is not None and written != size:
            raise ChecksumError(f"{url}: received {written} bytes, expected {size}")
        check_digests(tmp, url, sha256=actual, expected_sha256=sha256, git_sha1=git_sha1)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tofu = sha256 is None and git_sha1 is None
    if tofu:
        warnings.warn(f"{url}: no hash is published; recorded SHA-256 {actual} on first download "
                      "(trust on first use); later loads are verified against it", stacklevel=3)
    extra = {"git_sha1": git_sha1.lower()} if git_sha1 else {}
    Manifest(cache_root_of(target)).record(target, actual, tofu=tofu, url=url, **extra)


def download(url: str, sha256: str | None = None, *, git_sha1: str | None = None, size: int | None = None,
             max_size: int = MAX_DOWNLOAD_BYTES, cache_dir: str | os.PathLike | None = None,
             progress: bool | None = None) -> Path:
    """The verified local copy of ``url``, downloading it into the cache if needed.

    Args:
        url: http(s) or file URL.
        sha256: expected SHA-256, full hex or a prefix; with neither it nor ``git_sha1``, the hash
            is recorded on first use.
        git_sha1: expected git blob id (GitHub's content hash of a repository file).
        size: expected size in bytes, when known; the body may not exceed it.
        max_size: the most bytes accepted when ``size`` is unknown.
        cache_dir: cache root (default :func:`zoo.datamodules.files.cache.cache_root`).
        progress: show a progress bar (default: when stderr is a terminal).

    Raises:
        ChecksumError: the file does not match ``sha256`` / ``git_sha1`` / ``size`` or is too
            large (nothing is kept).
        OfflineError: the file is not cached and ``ZOO_OFFLINE=1``.
        urllib.error.URLError: the server cannot be reached (after the retries where it may pass).
    """
    target = cached_file(url, cache_dir)
    if target.exists():
        verify_file(target, sha256, size=size, git_sha1=git_sha1, what=url)
        return target
    if is_offline():
        raise OfflineError(f"{url} is not in the cache ({target}) and ZOO_OFFLINE=1 forbids downloading it")
    created = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    lock = Path(str(target) + ".lock")
    try:
        with FileLock(str(lock)):
            remove_stale_parts(target)
            if target.exists():  # another process finished it while we waited for the lock
                verify_file(target, sha256, size=size, git_sha1=git_sha1, what=url)
                return target
            for attempt in range(_RETRIES + 1):
                try:
                    _download_to(url, target, sha256, git_sha1, size, max_size, progress)
                    return target
                except Exception as error:  # re-raised below unless transient
                    if not _is_transient(error) or attempt == _RETRIES:
                        raise
                    time.sleep(_BACKOFF_S * 2**attempt)
    except BaseException:
        if not target.exists():
            _remove_leftovers(lock, created)
        raise
    raise AssertionError("unreachable")


def _remove_leftovers(lock: Path, created: list[Path]) -> None:
    """After a failed download: its lock file and the folders it created (deepest first), where empty.

    A process waiting on the same lock then holds a lock on the removed file while a newcomer
    locks a new one; both may download, which is safe: each writes its own temporary file and
    renames a verified copy into place."""
    lock.unlink(missing_ok=True)
    for folder in created:
        try:
            folder.rmdir()
        except OSError:  # not empty: another process uses it
            return


def download_any(urls: Iterable[str], sha256: str | None = None, **kwargs) -> Path:
    """:func:`download` from the first of ``urls`` (primary, then mirrors) that works.

    A copy already cached under any of the URLs is used without touching the network.

    Raises:
        DownloadError: every URL failed (the message gives each one's reason).
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
        except OSError as error:  # URLError, socket errors: try the next mirror, report all at the end
            errors.append(f"{url}: {describe_error(error)}")
    raise DownloadError("every URL failed: " + "; ".join(errors))


def import_file(source: str | os.PathLike, target: str | os.PathLike, sha256: str | None = None,
                size: int | None = None, *, git_sha1: str | None = None) -> Path:
    """Copy a file the user fetched by hand to its cache location ``target``, after checking it.

    The source is verified against ``size``, ``sha256`` (prefix allowed) and ``git_sha1`` before
    anything is written; the copy goes through a temporary file, fsync and a rename, and the
    temporaries of an earlier, killed import of the same target are removed.
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file to import")
    if size is not None and source.stat().st_size != size:
        raise ChecksumError(f"{source}: {source.stat().st_size} bytes, expected {size}")
    actual = sha256_file(source)
    check_digests(source, str(source), sha256=actual, expected_sha256=sha256, git_sha1=git_sha1)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        remove_stale_parts(target)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, CHUNK_BYTES)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        extra = {"git_sha1": git_sha1.lower()} if git_sha1 else {}
        Manifest(cache_root_of(target)).record(target, actual, tofu=sha256 is None and git_sha1 is None,
                                               imported_from=str(source), **extra)
    return target
