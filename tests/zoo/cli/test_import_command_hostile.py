"""``zoo import NAME PATH`` must check the file against NAME's entry (layout, architecture
config, parameter count) before anything is written to the cache (issue 12, item 1).

The registered entries used here publish no SHA-256 (``pwcnet.things``, every ``nvae.*``), so a
wrong file passes the hash check and only the content checks can stop it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.hostile import (
    MNIST_CPU_WEIGHTS,
    SYNTH_WEIGHTS,
    assert_one_line_error,
    call_cli,
    changed_weights,
    git_blob_sha1,
    tree,
)

pytestmark = pytest.mark.hostile


def _assert_refused_and_nothing_cached(zoo_home: Path, name: str, path: Path, *fragments) -> None:
    before = tree(zoo_home)
    result = call_cli("import", name, path)
    assert_one_line_error(result, str(path), *fragments)
    assert tree(zoo_home) == before, "the refused import wrote to the cache"


@pytest.mark.parametrize(("name", "path", "expected_layout"), [
    ("pwcnet.things", SYNTH_WEIGHTS, "pwcnet-nvlabs"),   # our synthetic weights as NVlabs' chairs file
    ("nvae.cifar10", MNIST_CPU_WEIGHTS, "nvae-official"),  # an MNIST NVAE as the CIFAR-10 checkpoint
], ids=["synth-as-pwcnet.things", "mnist-cpu-as-nvae.cifar10"])
def test_import_refuses_a_file_in_another_layout(zoo_home: Path, name: str, path: Path, expected_layout: str) -> None:
    """A file whose layout is not the entry's is refused, the error names the file, the word
    'layout' and the layout the entry expects; the cache stays empty (no file, manifest, lock
    or .part)."""
    _assert_refused_and_nothing_cached(zoo_home, name, path, "layout", expected_layout)


@pytest.mark.parametrize("name", ["nvae.mnist", "nvae.cifar10"])
def test_import_refuses_an_official_checkpoint_of_another_model(shared_dir: Path, tmp_path: Path,
                                                               zoo_home: Path, name: str) -> None:
    """An official-layout NVAE ``checkpoint.pt`` (the fixture's tiny MNIST model, 0.1 M
    parameters) is not the released model: same layout, but its config and parameter count
    differ from the entry's ``num_params``. The error names the file and the mismatch."""
    from tests.support.nvae_recipe import write_official_checkpoint

    path = write_official_checkpoint(shared_dir / "fixtures" / "nvae" / "tiny-mnist", tmp_path / "checkpoint.pt")
    _assert_refused_and_nothing_cached(zoo_home, name, path, re.compile(r"config|param", re.IGNORECASE))


def test_import_still_accepts_a_file_that_fits_its_entry(pwcnet_fixture_dir: Path, tmp_path: Path,
                                                          zoo_home: Path) -> None:
    """Control: a file in the entry's layout with the entry's config and parameter count (all
    zeros, NVlabs key names and shapes) is imported and recorded in the manifest. It cannot be
    the published file, so the entry's git blob id is set to this file's for the test."""
    import torch

    keys = json.loads((pwcnet_fixture_dir / "keys-nvlabs.json").read_text())["keys"]
    path = tmp_path / "pwc_net_chairs.pth.tar"
    torch.save({key: torch.zeros(shape) for key, shape in keys}, path)
    with changed_weights("pwcnet.things", git_sha1=git_blob_sha1(path.read_bytes())):
        result = call_cli("import", "pwcnet.things", path)
    assert result.rc == 0, result.stderr
    cached = Path(result.stdout.strip())
    assert cached.is_file() and cached.read_bytes() == path.read_bytes()
    assert str(cached) in json.loads((zoo_home / "manifest.json").read_text())
