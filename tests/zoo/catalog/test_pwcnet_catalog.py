"""The PWC-Net catalog: every published weight set, its metadata, and loading by tag."""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest
import torch

import zoo
from tests.support.http_server import Route
from tests.support.pwcnet_recipe import official_checkpoint
from zoo.catalog import registry
from zoo.models.pwcnet import convert

PUBLISHED = {
    "pwcnet.things": "pwc_net_chairs.pth.tar",
    "pwcnet.sintel": "pwc_net.pth.tar",
    "pwcnet.sniklaus-sintel": "network-default.pytorch",
    "pwcnet.sniklaus-things": "network-chairs-things.pytorch",
    "pwcnet.ptlflow-things": "pwcdcnet-things-cc223701.ckpt",
    "pwcnet.ptlflow-sintel": "pwcdcnet-sintel-c7d08a46.ckpt",
    "pwcnet.ptlflow-nodc-things": "pwcnet-things-6a2e540b.ckpt",
    "pwcnet.ptlflow-nodc-sintel": "pwcnet-sintel-533815e5.ckpt",
}


def test_every_published_weight_set_is_registered():
    bundled = {n for n in zoo.list_weights("pwcnet") if zoo.weights_info(n).bundled}
    assert bundled == {"pwcnet.synth"}
    assert set(zoo.list_weights("pwcnet")) - bundled == set(PUBLISHED)
    assert zoo.weights_info("pwcnet").name == "pwcnet.things"


@pytest.mark.parametrize("name, file_name", sorted(PUBLISHED.items()))
def test_weights_metadata(name, file_name):
    info = zoo.weights_info(name)
    assert info.layout in convert.LAYOUTS
    assert info.file_name == file_name and all(url.endswith("/" + file_name) for url in info.urls)
    assert info.urls and all(url.startswith(("https://", "http://content.sniklaus.com/")) for url in info.urls)
    suffix = re.search(r"-([0-9a-f]{8})\.ckpt$", file_name)
    assert info.sha256 == (suffix.group(1) if suffix else None)
    network = registry.architecture(name).build(**info.config)
    assert sum(p.numel() for p in network.parameters()) == info.num_params
    assert info.config["context"] == ("nodc" not in name)
    assert info.license and info.paper and info.source and info.recipe
    assert not info.metrics or info.metrics_source
    assert info.input_convention["channels"] == "RGB"


def test_paper_metrics_of_the_things_weights():
    metrics = zoo.weights_info("pwcnet.things").metrics
    assert metrics["sintel-clean-train"]["epe"] == 2.55 and metrics["sintel-final-train"]["epe"] == 3.93


def test_load_by_tag_downloads_converts_and_loads(http_server, monkeypatch, pwcnet_recipe, tmp_path):
    """``zoo.load("pwcnet.ptlflow-things")`` against a local server holding a file of the real structure."""
    recipe = {k: v.float() for k, v in pwcnet_recipe.items()}
    path = tmp_path / "pwcdcnet-things.ckpt"
    torch.save(official_checkpoint(recipe, "ptlflow"), path)
    body = path.read_bytes()
    http_server.routes["/weights1/pwcdcnet-things.ckpt"] = Route(body)
    info = zoo.weights_info("pwcnet.ptlflow-things")
    local = dataclasses.replace(info, urls=(http_server.url("/weights1/pwcdcnet-things.ckpt"),),
                                sha256=hashlib.sha256(body).hexdigest()[:8])
    monkeypatch.setitem(registry._WEIGHTS, info.name, local)
    network = zoo.load("pwcnet.ptlflow-things")
    expected = convert.convert(recipe, "pwcnet-nvlabs")[0]
    assert all(torch.equal(network.state_dict()[k], v) for k, v in expected.items())
    assert zoo.load("pwcnet", weights="ptlflow-things").state_dict().keys() == expected.keys()  # cached now
    assert http_server.hits["/weights1/pwcdcnet-things.ckpt"] == 1
