"""A read-only ``ZOO_HOME`` that already holds verified weights must load them (issue 12,
item 6; today: ``Read-only file system: ...pwc.safetensors.lock``). Loading a present,
verified file needs no write: no lock file, no manifest update, no ``mkdir``.

How the cache is made read-only: see :func:`tests.support.hostile.read_only` (``chmod -R a-w``
as a normal user; as root, where permission bits do not stop writes, a read-only bind mount in
a private mount namespace, so writes fail with EROFS as on a read-only volume).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.hostile import SYNTH_WEIGHTS, pwcnet_entry, read_only, run_cli, run_python, sha256_of, write_frames
from tests.support.http_server import Route
from zoo.datamodules.files import cache, download

pytestmark = pytest.mark.hostile


@pytest.fixture()
def cached_url(http_server) -> str:
    """The URL of our synthetic PWC-Net weights, downloaded and verified into ``ZOO_HOME``."""
    http_server.routes["/w/pwc.safetensors"] = Route(SYNTH_WEIGHTS.read_bytes())
    url = http_server.url("/w/pwc.safetensors")
    download.download(url, sha256_of(SYNTH_WEIGHTS))
    return url


def test_zoo_load_from_a_read_only_cache(cached_url: str, zoo_home: Path) -> None:
    """``zoo.load("pwcnet", weights=URL)`` of a cached, verified file with the cache read-only."""
    code = "import sys, zoo; net = zoo.load('pwcnet', weights=sys.argv[1]); print(type(net).__name__)"
    with read_only(zoo_home) as wrap:
        result = run_python(code, cached_url, wrap=wrap)
    assert result.rc == 0 and result.stdout.strip() == "PWCNet", result.stderr[-2000:]


def test_zoo_flow_with_a_read_only_cache(cached_url: str, zoo_home: Path, tmp_path: Path) -> None:
    """The user-level case: ``zoo flow A B -o OUT --weights URL`` with the cache read-only and
    the output elsewhere."""
    first, second = write_frames(tmp_path)
    with read_only(zoo_home) as wrap:
        result = run_cli("flow", first, second, "-o", tmp_path / "out.flo", "--weights", cached_url, wrap=wrap)
    assert result.rc == 0, result.stderr[-2000:]
    assert (tmp_path / "out.flo").is_file()


@pytest.mark.parametrize("manifest", ["kept", "deleted"])
def test_zoo_download_of_a_present_file_in_a_read_only_cache(cached_url: str, zoo_home: Path, manifest: str) -> None:
    """``zoo download NAME`` of a registered entry with a published SHA-256 whose file is present:
    prints its path, exit 0. With the manifest gone (a cache copied without it) the file is
    hashed and checked against the published SHA-256; remembering the result is optional."""
    if manifest == "deleted":
        (zoo_home / "manifest.json").unlink()
    entry = pwcnet_entry("pwcnet.hostile-readonly", urls=[cached_url], sha256=sha256_of(SYNTH_WEIGHTS),
                         file_size=SYNTH_WEIGHTS.stat().st_size)
    with read_only(zoo_home) as wrap:
        result = run_cli("download", entry["name"], weights=[entry], wrap=wrap)
    assert result.rc == 0, result.stderr[-2000:]
    assert result.stdout.strip() == str(cache.cached_file(cached_url))


def test_the_read_only_folder_really_refuses_writes(zoo_home: Path) -> None:
    """The harness itself: under :func:`read_only` a write below ``ZOO_HOME`` fails."""
    code = "import os, sys; open(os.path.join(sys.argv[1], 'probe'), 'w')"
    with read_only(zoo_home) as wrap:
        result = run_python(code, zoo_home, wrap=wrap)
    assert result.rc != 0 and ("Read-only file system" in result.stderr or "Permission denied" in result.stderr)
    assert not (zoo_home / "probe").exists()
