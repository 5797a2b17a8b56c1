"""The cache's ``manifest.json`` (issue 12, item 5): a damaged manifest is an error that names
the file and says how to recover, never a silent reset that re-trusts a tampered file; writes
are durable (fsync before the rename) and leave the manifest as readable as the cached files.

API assumed: the error is a ``ValueError`` (``zoo.weights.cache.ManifestError`` is the suggested name)
whose message contains ``manifest.json`` and one of "delete", "remove", "restore" or "rebuild".
"""

from __future__ import annotations

import json
import os
import re
import stat
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.hostile import assert_one_line_error, pwcnet_entry, run_cli
from tests.support.http_server import Route
from zoo.datamodules.files import cache, download

pytestmark = pytest.mark.hostile

BODY = b"weights " * 4096
RECOVERY = re.compile(r"delete|remove|restore|rebuild", re.IGNORECASE)


def _cached_with_tofu_record(http_server, path: str = "/w/weights.bin") -> tuple[str, Path]:
    """A file downloaded without a published hash: its SHA-256 is recorded on first use."""
    http_server.routes[path] = Route(BODY)
    url = http_server.url(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the trust-on-first-use warning
        return url, download.download(url)


def _tamper(path: Path) -> None:
    """Same size, other content, new mtime: only the recorded hash can catch it."""
    path.write_bytes(BODY.replace(b"weights", b"WEIGHTS"))


DAMAGE: dict[str, Callable[[str, Path], bytes]] = {
    "truncated-json": lambda text, file: text.encode()[: len(text) // 2],
    "a-list": lambda text, file: b"[]",
    "wrong-entry-type": lambda text, file: b'{"x": 5}',
    "own-entry-not-a-record": lambda text, file: json.dumps({str(file): "abc"}).encode(),
    "binary-garbage": lambda text, file: bytes(range(256)) * 4,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_manifest_is_an_error_and_the_tampered_file_is_not_accepted(
        http_server, zoo_home: Path, damage: str) -> None:
    """Today: truncated JSON or ``{"x": 5}`` silently drop every record and the tampered file is
    re-trusted with a TOFU warning; ``[]`` gives AttributeError; garbage UnicodeDecodeError."""
    url, cached = _cached_with_tofu_record(http_server)
    manifest = zoo_home / "manifest.json"
    damaged = DAMAGE[damage](manifest.read_text(), cached)
    manifest.write_bytes(damaged)
    _tamper(cached)
    with pytest.raises(ValueError) as error:
        download.download(url)
    message = str(error.value)
    assert "manifest.json" in message and RECOVERY.search(message), message
    assert manifest.read_bytes() == damaged, "the damaged manifest was reset or rewritten"


def test_damaged_manifest_through_the_cli_is_one_line(http_server, zoo_home: Path) -> None:
    """``zoo download NAME`` with a truncated manifest: one ``zoo: error:`` line naming the
    manifest file (today: exit 0 and the tampered file is re-trusted)."""
    url, cached = _cached_with_tofu_record(http_server)
    manifest = zoo_home / "manifest.json"
    manifest.write_text(manifest.read_text()[:10])
    _tamper(cached)
    entry = pwcnet_entry("pwcnet.hostile-manifest", urls=[url])
    result = run_cli("download", entry["name"], weights=[entry])
    assert_one_line_error(result, str(manifest))


def test_tampered_file_with_an_intact_manifest_is_refused(http_server) -> None:
    """Guard (README: later loads are checked against the recorded hash)."""
    url, cached = _cached_with_tofu_record(http_server)
    _tamper(cached)
    with pytest.raises(cache.ChecksumError, match="SHA-256 mismatch"):
        download.download(url)


def test_manifest_write_is_fsynced_before_the_rename(http_server, zoo_home: Path, monkeypatch) -> None:
    """Durable: the new manifest's content is fsync'ed before it replaces the old one (today
    only the downloaded file is), so a power cut cannot leave an empty manifest.json."""
    synced: list[str] = []
    real_replace = os.replace
    replaced_after_sync: list[bool] = []

    def recording(real: Callable[[int], None]) -> Callable[[int], None]:
        def sync(fd: int) -> None:
            synced.append(os.readlink(f"/proc/self/fd/{fd}"))
            real(fd)
        return sync

    def replace(src, dst, *args, **kwargs):
        if Path(dst).name == "manifest.json":
            replaced_after_sync.append(any(Path(p) == Path(src) for p in synced))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", recording(os.fsync))
    monkeypatch.setattr(os, "fdatasync", recording(os.fdatasync))
    monkeypatch.setattr(os, "replace", replace)
    _cached_with_tofu_record(http_server)
    assert replaced_after_sync and all(replaced_after_sync), (
        f"manifest.json replaced without an fsync of its new content; fsync'ed: {synced}")


def test_manifest_is_as_readable_as_the_cached_files(http_server, zoo_home: Path) -> None:
    """A shared cache: the downloaded file is 0644, but the manifest is written through
    ``mkstemp`` and stays 0600, so other users of the cache cannot verify anything."""
    old = os.umask(0o022)
    try:
        _, cached = _cached_with_tofu_record(http_server)
    finally:
        os.umask(old)
    mode = stat.S_IMODE((zoo_home / "manifest.json").stat().st_mode)
    assert mode == stat.S_IMODE(cached.stat().st_mode) == 0o644, oct(mode)
