"""``kill -9`` during a download leaves a hidden ``.<name>.<random>.part`` beside the target;
it must be cleaned when the same target is next written, by ``zoo download`` and by
``zoo import`` (issue 12, item 10). Today only a download that starts from scratch cleans; an
import of the same file (``zoo import`` after a failed download, the README's offline recipe)
leaves the part forever, and so does every later load, which finds the target present.

The part files are real leftovers: a ``zoo download`` subprocess, reading from a deliberately
slow loopback server, is killed with SIGKILL once its part file exists.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.hostile import (
    SYNTH_WEIGHTS,
    call_cli,
    part_files,
    pwcnet_entry,
    registered_weights,
    sha256_of,
    spawn_cli,
    wait_for,
)
from tests.support.http_server import Route

pytestmark = pytest.mark.hostile

ROUTE = "/w/pwc-partial.safetensors"


@pytest.fixture()
def killed_download(http_server, zoo_home: Path) -> dict:
    """The entry whose download was killed with SIGKILL mid-way; its part file is left."""
    http_server.routes[ROUTE] = Route(SYNTH_WEIGHTS.read_bytes(), chunk_delay_s=0.05)  # ~80 KB/s
    entry = pwcnet_entry("pwcnet.hostile-partial", urls=[http_server.url(ROUTE)],
                         sha256=sha256_of(SYNTH_WEIGHTS), file_size=SYNTH_WEIGHTS.stat().st_size)
    process = spawn_cli("download", entry["name"], weights=[entry])
    try:
        wait_for(lambda: part_files(zoo_home) or process.poll() is not None, 60, "the download's part file")
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(30)
    assert process.returncode == -signal.SIGKILL and part_files(zoo_home), "no part file left to clean"
    http_server.routes[ROUTE] = Route(SYNTH_WEIGHTS.read_bytes())  # the network is fast again
    return entry


def test_next_download_cleans_the_stale_part(killed_download: dict, zoo_home: Path) -> None:
    """Guard: ``zoo download`` of the same entry completes and leaves no part file."""
    with registered_weights(**killed_download):
        result = call_cli("download", killed_download["name"])
    assert result.rc == 0, result.stderr
    assert part_files(zoo_home) == []


def test_import_of_the_same_target_cleans_the_stale_part(killed_download: dict, zoo_home: Path) -> None:
    """``zoo import NAME FILE`` writes the same target (the first URL's cache file): it must
    remove the killed download's part file too (today it stays)."""
    with registered_weights(**killed_download):
        result = call_cli("import", killed_download["name"], SYNTH_WEIGHTS)
    assert result.rc == 0, result.stderr
    assert part_files(zoo_home) == []
