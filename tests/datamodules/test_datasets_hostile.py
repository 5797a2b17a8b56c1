"""Datasets (beyond the list): their files are untrusted input too (a CIFAR-10 batch is a
pickle, which the README promises to read "with an unpickler that can build nothing but numpy
arrays"), and a missing folder is an error "naming the folder, the expected layout and where the
data is published" (README). The MNIST archive bomb is in test_memory_bounds."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.support.hostile import Payload
from zoo import datamodules
from zoo.datamodules import CIFAR10DataModule

pytestmark = pytest.mark.hostile


def test_cifar_batch_with_a_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    """Guard: ``data_batch_1`` whose pickle calls ``os.system``: ``prepare_data`` raises a
    ValueError naming the file; the payload's marker never appears."""
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (folder / name).write_bytes(pickle.dumps({b"data": Payload(marker), b"labels": []}, protocol=2))
    module = CIFAR10DataModule(str(tmp_path / "cifar"), num_workers=0, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match="data_batch_1"):
        module.prepare_data()
    assert not marker.exists(), "the pickle's payload ran"


@pytest.mark.parametrize("name", ["FlyingChairs", "FlyingThings3D", "Sintel", "KITTI", "HD1K"])
def test_missing_flow_dataset_names_folder_layout_and_source(tmp_path: Path, name: str) -> None:
    """Guard (README): the error names the missing folder, the expected layout and the URL."""
    root = tmp_path / "no such dataset"
    with pytest.raises(FileNotFoundError) as error:
        getattr(datamodules, name)(root)
    message = str(error.value)
    assert str(root) in message and "Expected layout" in message and "http" in message, message
