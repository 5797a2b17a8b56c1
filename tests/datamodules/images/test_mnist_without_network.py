"""MNIST with no network: the error says what to put where; evaluation reads the test files only;
a failed download leaves nothing behind (files served by, or missing from, a loopback server)."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from tests.support.http_server import Route
from tests.support.image_fixtures import idx_bytes
from zoo.datamodules.files.download import FileUnavailableError
from zoo.datamodules.images import readers
from zoo.datamodules.images.mnist import MNISTDataModule
from zoo.measure.evaluation import image_batches

OFFICIAL = dict(readers.MNIST_FILES)


def everything_under(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders if folder.exists() for path in folder.rglob("*"))


@pytest.fixture()
def small_mnist(monkeypatch, http_server):
    """Four small IDX arrays declared as the official files; the mirrors are the loopback server,
    which serves nothing until a test adds routes (``serve(key)``)."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 12).astype(np.uint8),
              "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 4).astype(np.uint8)}
    bodies = {key: gzip.compress(idx_bytes(array), mtime=0) for key, array in arrays.items()}
    table = {key: readers.MNISTFile(entry.name, hashlib.sha256(bodies[key]).hexdigest(),
                                    hashlib.md5(idx_bytes(arrays[key])).hexdigest(), entry.ndim, len(arrays[key]))
             for key, entry in OFFICIAL.items()}
    monkeypatch.setattr(readers, "MNIST_FILES", table)
    monkeypatch.setattr(readers, "MNIST_MIRRORS", (http_server.url("/mirror/"),))

    def serve(key: str) -> None:
        http_server.routes[f"/mirror/{table[key].name}.gz"] = Route(bodies[key])

    return arrays, table, serve


def test_offline_fit_data_names_the_four_files_their_checksums_and_the_folder(tmp_path, monkeypatch, zoo_home):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    folder = tmp_path / "data" / "mnist"
    with pytest.raises(FileUnavailableError) as caught:
        MNISTDataModule(str(folder), num_workers=0).prepare_data()
    message = str(caught.value)
    assert "\n" not in message and f"put them in {folder} (gzipped or plain)" in message
    assert "ZOO_OFFLINE=1 forbids downloads" in message and message.startswith("MNIST: 4 file(s) missing")
    for entry in OFFICIAL.values():  # the real files' checksums
        assert f"{entry.name}.gz (SHA-256 {entry.archive_sha256}, uncompressed MD5 {entry.content_md5})" in message
    assert everything_under(tmp_path / "data", zoo_home) == []


def test_failed_download_names_what_is_missing_and_leaves_nothing_behind(tmp_path, http_server, small_mnist, zoo_home):
    _, table, serve = small_mnist
    serve("train_images")  # the first file arrives; the others are 404
    folder = tmp_path / "mnist"
    with pytest.raises(FileUnavailableError) as caught:
        MNISTDataModule(str(folder), num_workers=0).prepare_data()
    message = str(caught.value)
    assert message.startswith(f"MNIST: 3 file(s) missing from {folder} and not downloadable (every URL failed: ")
    assert "HTTP 404" in message and table["train_images"].archive_sha256 not in message
    for key in ("train_labels", "test_images", "test_labels"):
        assert table[key].archive_sha256 in message
    # the file that arrived stays; no staging folder, lock file or partial download anywhere
    assert everything_under(tmp_path, zoo_home) == [folder, folder / "train-images-idx3-ubyte.gz"]
    assert http_server.hits["/mirror/train-labels-idx1-ubyte.gz"] == 1  # 404 is not retried


def test_nothing_downloadable_leaves_no_folder_and_no_lock(tmp_path, http_server, small_mnist, zoo_home):
    folder = tmp_path / "data" / "mnist"
    with pytest.raises(FileUnavailableError, match="MNIST: 4 file.s. missing"):
        MNISTDataModule(str(folder), num_workers=0).prepare_data()
    assert http_server.hits["/mirror/train-images-idx3-ubyte.gz"] == 1
    assert everything_under(tmp_path, zoo_home) == []  # data/mnist/.download/files/<hash>/ were made, then removed


def test_evaluation_reads_and_downloads_only_the_test_files(tmp_path, http_server, small_mnist, monkeypatch):
    arrays, _, serve = small_mnist
    serve("test_images")
    serve("test_labels")
    folder = tmp_path / "mnist"
    protocol, batches, count, full = image_batches("mnist", str(folder), batch_size=3, cache_dir=str(tmp_path / "c"))
    assert (count, full) == (4, 4) and protocol.split == "test"
    assert sorted(p.name for p in folder.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert http_server.hits["/mirror/train-images-idx3-ubyte.gz"] == 0
    assert http_server.hits["/mirror/train-labels-idx1-ubyte.gz"] == 0
    labels = np.concatenate([batch[1].numpy() for batch in batches])
    assert labels.tolist() == arrays["test_labels"].tolist()
    # offline, with the two test files present, evaluation still works (training files never asked for)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    datamodule = MNISTDataModule(str(folder), num_workers=0, cache_dir=str(tmp_path / "c2"), test_only=True,
                                 binarize=False)
    datamodule.prepare_data()
    datamodule.setup("test")
    assert set(datamodule.datasets) == {"test"}
    images, _ = datamodule.datasets["test"].batch([0, 3])
    expected = np.pad(arrays["test_images"][[0, 3]], ((0, 0), (2, 2), (2, 2))) / 255.0
    np.testing.assert_allclose(images[:, 0].double().numpy(), expected, atol=1e-7)


def test_zoo_eval_mnist_offline_with_only_the_test_files(tmp_path, small_mnist, monkeypatch, capsys):
    """The command itself: offline, a folder holding only the two test files is enough."""
    from tests.support.image_fixtures import write_idx_gz
    from zoo.cli import main

    arrays, table, _ = small_mnist
    folder = tmp_path / "mnist"
    folder.mkdir()
    for key in ("test_images", "test_labels"):
        write_idx_gz(folder / f"{table[key].name}.gz", arrays[key])
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    assert main(["eval", "nvae.mnist-cpu", "--data", "mnist", "--data-dir", str(folder), "-k", "1", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "mnist-test-first-2" in out and "nll_nats" in out
    assert sorted(p.name for p in folder.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
