"""NVlabs publishes no SHA-256 for ``pwc_net_chairs.pth.tar`` / ``pwc_net.pth.tar``, but GitHub
publishes each file's git blob id (SHA-1 of ``b"blob <size>\\0" + content``). The hub must
verify downloads against it instead of trusting them on first use (issue 12, beyond the list).

API assumed: :class:`zoo.WeightsInfo` gets a field ``git_sha1`` (40 hex digits, or None), shown
by ``zoo info``; a download whose blob id differs raises ``zoo.cache.ChecksumError`` and leaves
nothing in the cache; a matching one is verified (no trust-on-first-use warning).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import zoo
from tests.support.hostile import (
    SYNTH_WEIGHTS,
    call_cli,
    git_blob_sha1,
    new_files,
    pwcnet_entry,
    registered_weights,
    tree,
)
from tests.support.http_server import Route
from zoo.datamodules.files import cache

pytestmark = pytest.mark.hostile

NVLABS_BLOBS = {"pwcnet.things": "da1bf4000b52a24d5919729be2aceb7c55c58f66",  # PyTorch/pwc_net_chairs.pth.tar
                "pwcnet.sintel": "27da4cc96929c0474f8083364712df3a1c50c52e"}  # PyTorch/pwc_net.pth.tar


def test_git_blob_sha1_helper_matches_git() -> None:
    """The harness: ``git hash-object`` of b"hello\\n" is ce01362...."""
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


@pytest.mark.parametrize(("name", "blob"), sorted(NVLABS_BLOBS.items()))
def test_nvlabs_entries_carry_their_git_blob_ids(name: str, blob: str) -> None:
    assert zoo.weights_info(name).git_sha1 == blob


def test_zoo_info_shows_the_git_blob_id() -> None:
    result = call_cli("info", "pwcnet.things")
    assert result.rc == 0 and NVLABS_BLOBS["pwcnet.things"] in result.stdout, result.stdout


def _served_entry(http_server, blob: str) -> dict:
    http_server.routes["/w/pwc_net_chairs.pth.tar"] = Route(SYNTH_WEIGHTS.read_bytes())
    return pwcnet_entry("pwcnet.hostile-blob", urls=[http_server.url("/w/pwc_net_chairs.pth.tar")], git_sha1=blob)


def test_download_that_does_not_match_the_git_blob_id_is_rejected(http_server, zoo_home: Path) -> None:
    """Served content whose blob id is not the entry's: ChecksumError, nothing cached (no
    file, no part, no manifest record)."""
    entry = _served_entry(http_server, git_blob_sha1(b"the published file"))
    before = tree(zoo_home)
    with registered_weights(**entry), pytest.raises(cache.ChecksumError):
        zoo.load(entry["name"])
    assert new_files(zoo_home, before, ignore_locks=True) == []


def test_download_that_matches_the_git_blob_id_is_verified(http_server) -> None:
    """Control: the right content loads, and is not "trusted on first use"."""
    entry = _served_entry(http_server, git_blob_sha1(SYNTH_WEIGHTS.read_bytes()))
    with registered_weights(**entry), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        network = zoo.load(entry["name"])
    assert type(network).__name__ == "PWCNet"
    assert not [w for w in caught if "trust on first use" in str(w.message)]
