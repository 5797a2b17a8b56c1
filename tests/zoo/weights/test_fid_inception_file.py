"""pytorch-fid's Inception weights through the zoo cache: downloaded once, verified against the pinned
SHA-256, and an offline machine told what to do."""

from __future__ import annotations

import hashlib

import pytest
import torch

from tests.support.fid_fixtures import write_random_inception
from tests.support.http_server import Route
from zoo.datamodules.files.cache import ChecksumError, cached_file
from zoo.datamodules.files.download import FileUnavailableError
from zoo.measure.fid import load_inception
from zoo.weights.cache import FID_INCEPTION_SHA256, FID_INCEPTION_URL, fid_inception_file


@pytest.fixture(scope="module")
def weight_bytes(tmp_path_factory) -> bytes:
    return write_random_inception(tmp_path_factory.mktemp("w") / "pt_inception.pth").read_bytes()


def test_pinned_hash_is_the_one_the_file_name_carries():
    assert FID_INCEPTION_URL.endswith("pt_inception-2015-12-05-6726825d.pth")
    assert FID_INCEPTION_SHA256.startswith("6726825d") and len(FID_INCEPTION_SHA256) == 64


def test_downloaded_once_then_read_from_the_cache(http_server, weight_bytes, monkeypatch):
    http_server.routes["/pt_inception.pth"] = Route(weight_bytes)
    url, sha256 = http_server.url("/pt_inception.pth"), hashlib.sha256(weight_bytes).hexdigest()
    path = fid_inception_file(url=url, sha256=sha256, progress=False)
    assert path.read_bytes() == weight_bytes
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert fid_inception_file(url=url, sha256=sha256) == path
    assert http_server.hits["/pt_inception.pth"] == 1
    network = load_inception(path)  # the file in the published layout loads strictly
    assert torch.equal(network.Mixed_7c.branch_pool.conv.weight,
                       torch.load(path, weights_only=True)["Mixed_7c.branch_pool.conv.weight"])


def test_a_file_that_is_not_the_pinned_one_is_refused_and_not_kept(http_server, weight_bytes):
    http_server.routes["/pt_inception.pth"] = Route(weight_bytes)
    url = http_server.url("/pt_inception.pth")
    with pytest.raises(ChecksumError):
        fid_inception_file(url=url, progress=False)  # the real pinned hash
    assert not cached_file(url).exists()
    with pytest.raises(FileUnavailableError):
        fid_inception_file(url=http_server.url("/absent.pth"), progress=False)


def test_offline_error_says_what_to_do(monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    with pytest.raises(FileUnavailableError, match="ZOO_OFFLINE=1.*--inception-weights FILE") as error:
        fid_inception_file()
    assert FID_INCEPTION_URL in str(error.value)
