"""zoo.datamodules.files (the verified cache and its downloads) against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.http_server import Route
from zoo.datamodules.files import cache as hub_cache
from zoo.datamodules.files import download as hub

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


def _visible_files(root: Path) -> list[Path]:
    return [p for p in (root / "files").rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_download_verifies_and_caches(http_server, tmp_path):
    http_server.routes["/w/model.pth"] = Route(BODY)
    url = http_server.url("/w/model.pth")
    path = hub.download(url, SHA, cache_dir=tmp_path)
    assert path.read_bytes() == BODY
    assert path == hub_cache.cached_file(url, tmp_path)
    again = hub.download(url, SHA[:8], cache_dir=tmp_path)  # a published prefix is enough
    assert again == path and http_server.hits["/w/model.pth"] == 1
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest[str(path)]["sha256"] == SHA and manifest[str(path)]["tofu"] is False


def test_wrong_hash_leaves_nothing(http_server, tmp_path):
    http_server.routes["/w/model.pth"] = Route(BODY)
    with pytest.raises(hub_cache.ChecksumError, match="SHA-256 mismatch"):
        hub.download(http_server.url("/w/model.pth"), "0" * 64, cache_dir=tmp_path)
    assert _visible_files(tmp_path) == []
    assert http_server.hits["/w/model.pth"] == 1  # a hash mismatch is not retried


def test_truncated_body_is_retried(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_BACKOFF_S", 0.01)
    http_server.routes["/w/model.pth"] = Route(BODY, truncate_first=2)
    path = hub.download(http_server.url("/w/model.pth"), SHA, cache_dir=tmp_path)
    assert path.read_bytes() == BODY and http_server.hits["/w/model.pth"] == 3


def test_truncated_body_gives_up_without_leaving_a_file(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_BACKOFF_S", 0.01)
    http_server.routes["/w/model.pth"] = Route(BODY, truncate_first=100)
    with pytest.raises(Exception, match="bytes|IncompleteRead|Incomplete"):
        hub.download(http_server.url("/w/model.pth"), SHA, cache_dir=tmp_path)
    assert _visible_files(tmp_path) == []
    assert http_server.hits["/w/model.pth"] == hub._RETRIES + 1


def test_server_error_then_success(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_BACKOFF_S", 0.01)
    http_server.routes["/w/model.pth"] = Route(BODY, fail_first=2, status=503)
    path = hub.download(http_server.url("/w/model.pth"), SHA, cache_dir=tmp_path)
    assert path.read_bytes() == BODY and http_server.hits["/w/model.pth"] == 3


def test_not_found_is_not_retried(http_server, tmp_path):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError):
        hub.download(http_server.url("/missing.pth"), None, cache_dir=tmp_path)
    assert http_server.hits["/missing.pth"] == 1


def test_trust_on_first_use(http_server, tmp_path):
    http_server.routes["/w/model.pth"] = Route(BODY)
    url = http_server.url("/w/model.pth")
    with pytest.warns(UserWarning, match="trust on first use"):
        path = hub.download(url, None, cache_dir=tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest[str(path)]["sha256"] == SHA
    assert manifest[str(path)]["tofu"] is True
    path.write_bytes(BODY[:-1] + b"\0")  # the cached file changes behind our back
    with pytest.raises(hub_cache.ChecksumError):
        hub.download(url, None, cache_dir=tmp_path)


def test_reverification_is_cached(http_server, tmp_path, monkeypatch):
    http_server.routes["/w/model.pth"] = Route(BODY)
    url = http_server.url("/w/model.pth")
    hub.download(url, SHA, cache_dir=tmp_path)
    calls = []
    monkeypatch.setattr(hub, "sha256_file", lambda p: calls.append(p) or SHA)
    hub.download(url, SHA, cache_dir=tmp_path)
    assert calls == []  # unchanged size and mtime: no second read


def test_offline_mode(http_server, tmp_path, monkeypatch):
    http_server.routes["/w/model.pth"] = Route(BODY)
    url = http_server.url("/w/model.pth")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(hub.OfflineError, match="ZOO_OFFLINE"):
        hub.download(url, SHA, cache_dir=tmp_path)
    assert http_server.hits["/w/model.pth"] == 0
    monkeypatch.delenv("ZOO_OFFLINE")
    hub.download(url, SHA, cache_dir=tmp_path)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert hub.download(url, SHA, cache_dir=tmp_path).read_bytes() == BODY  # cached: fine offline


def test_mirror_used_when_primary_fails(http_server, tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_BACKOFF_S", 0.01)
    http_server.routes["/mirror/model.pth"] = Route(BODY)
    urls = [http_server.url("/primary/model.pth"), http_server.url("/mirror/model.pth")]
    path = hub.download_any(urls, SHA, cache_dir=tmp_path)
    assert path.read_bytes() == BODY
    assert hub.download_any(urls, SHA, cache_dir=tmp_path) == path
    assert http_server.hits["/primary/model.pth"] == 1  # the cached mirror copy is used after


def _download_in_child(url: str, sha: str, cache: str, queue) -> None:
    queue.put(str(hub.download(url, sha, cache_dir=cache)))


def test_four_processes_download_once(http_server, tmp_path):
    http_server.routes["/w/model.pth"] = Route(BODY, chunk_delay_s=0.002)
    url = http_server.url("/w/model.pth")
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_download_in_child, args=(url, SHA, str(tmp_path), queue))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    paths = {queue.get(timeout=5) for _ in procs}
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == BODY
    assert http_server.hits["/w/model.pth"] == 1


def test_killed_download_leaves_nothing_visible(http_server, tmp_path):
    slow = Route(BODY, chunk_delay_s=0.05)  # ~4 s for the whole body
    http_server.routes["/w/model.pth"] = slow
    url = http_server.url("/w/model.pth")
    child = subprocess.Popen(
        [sys.executable, "-c", ("import sys; from zoo.datamodules.files import download as hub; "
         "hub.download(sys.argv[1], sys.argv[2], cache_dir=sys.argv[3])"), url, SHA, str(tmp_path)],
        cwd=Path(__file__).resolve().parents[3])
    target = hub_cache.cached_file(url, tmp_path)
    deadline = time.time() + 30
    while not list(target.parent.glob("*.part")) if target.parent.exists() else True:
        assert time.time() < deadline, "the child never started writing"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not target.exists()
    slow.chunk_delay_s = 0.0
    assert hub.download(url, SHA, cache_dir=tmp_path).read_bytes() == BODY
    assert list(target.parent.glob("*.part")) == []  # the stale temporary was cleaned up


def test_import_file_checks_hash(tmp_path):
    source = tmp_path / "fetched.pth"
    source.write_bytes(BODY)
    target = tmp_path / "cache" / "manual" / "x.y" / "fetched.pth"
    with pytest.raises(hub_cache.ChecksumError):
        hub.import_file(source, target, "ab" * 32)
    assert not target.exists()
    assert hub.import_file(source, target, SHA[:12]).read_bytes() == BODY


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    assert hub_cache.cache_root() == tmp_path / "home"
    monkeypatch.delenv("ZOO_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_cache.cache_root() == tmp_path / "xdg" / "zoo"
