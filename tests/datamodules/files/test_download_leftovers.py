"""A download that fails leaves nothing behind: no lock file, no temporary, no folder it created
(served by, or refused by, a loopback server); a machine with no route is not retried."""

from __future__ import annotations

import errno
import hashlib
import urllib.error

import pytest

from tests.support.http_server import Route
from zoo.datamodules.files.cache import ChecksumError, cached_file
from zoo.datamodules.files.download import _is_transient, download


def test_http_error_in_the_default_cache_leaves_nothing(http_server, zoo_home):
    url = http_server.url("/weights/missing.pth")
    with pytest.raises(urllib.error.HTTPError):
        download(url)
    assert list(zoo_home.rglob("*")) == []  # files/<hash>/ and its .lock were made, then removed


def test_checksum_failure_leaves_nothing_in_a_new_cache_folder(http_server, tmp_path):
    http_server.routes["/data.bin"] = Route(b"not what was published")
    cache = tmp_path / "data" / ".download"
    with pytest.raises(ChecksumError):
        download(http_server.url("/data.bin"), hashlib.sha256(b"published").hexdigest(), cache_dir=cache)
    assert list(tmp_path.rglob("*")) == []


def test_success_keeps_the_file_and_a_failure_keeps_the_folder_other_files_use(http_server, zoo_home):
    http_server.routes["/a.bin"] = Route(b"a")
    kept = download(http_server.url("/a.bin"), hashlib.sha256(b"a").hexdigest())
    assert kept.read_bytes() == b"a"
    with pytest.raises(urllib.error.HTTPError):
        download(http_server.url("/b.bin"))
    assert not cached_file(http_server.url("/b.bin")).parent.exists()
    assert sorted(p.relative_to(zoo_home).parts[0] for p in zoo_home.rglob("*") if p.is_file()) >= ["files"]
    assert kept.is_file()


@pytest.mark.parametrize("number", [errno.ENETUNREACH, errno.EHOSTUNREACH])
def test_no_route_is_not_retried(number):
    assert not _is_transient(urllib.error.URLError(OSError(number, "no route")))
    assert _is_transient(urllib.error.URLError(TimeoutError("timed out")))
