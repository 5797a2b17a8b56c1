"""Without ``ZOO_OFFLINE``, a machine without network (a host name that does not resolve) must
fail in seconds and say what to do, not retry for 16 s and print "every URL failed" (issue 12,
item 7). ``.invalid`` names never resolve (RFC 2606)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.hostile import assert_one_line_error, call_cli, pwcnet_entry, registered_weights, write_frames
from tests.support.http_server import Route

pytestmark = pytest.mark.hostile

UNRESOLVABLE = ("http://nonexistent.invalid/PyTorch/pwc_net_chairs.pth.tar",
                "http://mirror.nonexistent.invalid/pwc_net_chairs.pth.tar")
ENTRY = pwcnet_entry("pwcnet.hostile-unresolvable", layout="pwcnet-nvlabs", urls=list(UNRESOLVABLE),
                     file_name="pwc_net_chairs.pth.tar")


def test_unresolvable_host_fails_fast_and_says_what_to_do(tmp_path: Path) -> None:
    """``zoo flow A B --weights NAME`` whose URLs cannot resolve: a one-line error in under 5 s
    (measured in-process, so interpreter start-up does not count) that mentions ``zoo import``
    and ``pwcnet.synth`` (the offline alternative) and names the weights. A name that does not
    resolve is not transient: no retries with back-off (today: 4 retries per URL, 15 s)."""
    first, second = write_frames(tmp_path)
    with registered_weights(**ENTRY):
        start = time.monotonic()
        result = call_cli("flow", first, second, "-o", tmp_path / "out.flo", "--weights", ENTRY["name"])
        elapsed = time.monotonic() - start
    assert elapsed < 5, f"took {elapsed:.1f} s: {result.stderr}"
    assert_one_line_error(result, "zoo import", "pwcnet.synth", ENTRY["name"])
    assert not (tmp_path / "out.flo").exists()


def test_zoo_offline_never_touches_the_network_and_says_how_to_place_the_file(http_server, monkeypatch) -> None:
    """Guard (README): with ``ZOO_OFFLINE=1`` a missing file is an error naming the weights,
    the URL and how to place the file by hand, and the server is never contacted."""
    http_server.routes["/w/pwc.safetensors"] = Route(b"never served")
    url = http_server.url("/w/pwc.safetensors")
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with registered_weights(**pwcnet_entry("pwcnet.hostile-offline", urls=[url])):
        result = call_cli("download", "pwcnet.hostile-offline")
    assert_one_line_error(result, "pwcnet.hostile-offline", url, "zoo import")
    assert http_server.hits["/w/pwc.safetensors"] == 0
