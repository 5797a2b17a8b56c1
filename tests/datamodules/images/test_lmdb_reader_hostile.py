"""LMDB databases and split files that are not what NVAE's scripts write: refused, naming them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.datamodules.images.test_lmdb_reader import raw_images, write_lmdb
from zoo.datamodules.images.folders import FFHQ256DataModule
from zoo.datamodules.images.lmdb_reader import LMDBForm, LMDBImages, read_ffhq_split

pytestmark = pytest.mark.hostile

RAW_256 = LMDBForm(encoded=False, size=256)


def test_truncated_database_is_refused_before_it_is_read(tmp_path):
    path = write_lmdb(tmp_path / "train.lmdb", raw_images(4, 0))
    data = (path / "data.mdb").read_bytes()
    (path / "data.mdb").write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="data.mdb: truncated"):
        LMDBImages(path, RAW_256)


@pytest.mark.parametrize("keys", [[b"a", b"b"], [b"1", b"2"], [b"0", b"00"]])
def test_foreign_keys_are_refused(tmp_path, keys):
    import lmdb

    env = lmdb.open(str(tmp_path / "x.lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for key in keys:
            txn.put(key, bytes(12))
    env.close()
    with pytest.raises(ValueError, match="not an NVAE image database"):
        LMDBImages(tmp_path / "x.lmdb", RAW_256)


def test_values_of_the_wrong_size_or_undecodable_are_refused_naming_the_key(tmp_path):
    path = write_lmdb(tmp_path / "a.lmdb", [np.zeros((256, 256, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)])
    database = LMDBImages(path, RAW_256)
    database[0]
    with pytest.raises(ValueError, match="key '1'.*256 x 256 x 3 = 196,608 bytes, got 12,288"):
        database[1]
    encoded = LMDBImages(write_lmdb(tmp_path / "b.lmdb", [b"not a jpeg"]), LMDBForm(encoded=True))
    with pytest.raises(ValueError, match="key '0': cannot decode"):
        encoded[0]


def test_not_a_database(tmp_path):
    (tmp_path / "x.lmdb").mkdir()
    with pytest.raises(FileNotFoundError, match="no data.mdb"):
        LMDBImages(tmp_path / "x.lmdb", RAW_256)
    (tmp_path / "x.lmdb" / "data.mdb").write_bytes(b"\x89PNG" + bytes(9000))
    with pytest.raises(ValueError, match="x.lmdb"):
        LMDBImages(tmp_path / "x.lmdb", RAW_256)


def test_a_split_file_with_code_in_it_is_never_unpickled(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("unpickled!",))

    torch.save({"train": np.arange(3), "test": Payload()}, tmp_path / "train_test_ind.pt")
    with pytest.raises(ValueError, match="refused"):
        read_ffhq_split(tmp_path / "train_test_ind.pt", 10)


@pytest.mark.parametrize("split, message", [
    ({"train": np.arange(5)}, "'train' and 'test'"),
    ({"train": np.arange(5), "test": np.array([9, 10])}, "indices in 0 .. 9"),
    ({"train": np.arange(5), "test": np.array([4, 6])}, "repeated or in both"),
    ({"train": np.arange(5), "test": np.array([6.0, 7.0])}, "indices in 0 .. 9"),
])
def test_malformed_splits_are_refused(tmp_path, split, message):
    torch.save(split, tmp_path / "s.pt")
    with pytest.raises(ValueError, match=message):
        read_ffhq_split(tmp_path / "s.pt", 10)


def test_a_split_naming_images_the_folder_lacks(tmp_path):
    from PIL import Image

    (tmp_path / "images1024x1024").mkdir()
    for index in range(3):
        Image.fromarray(np.zeros((256, 256, 3), np.uint8)).save(tmp_path / "images1024x1024" / f"{index:05d}.png")
    torch.save({"train": np.array([0, 1]), "test": np.array([2, 7])}, tmp_path / "train_test_ind.pt")
    datamodule = FFHQ256DataModule(str(tmp_path), cache_dir=str(tmp_path / "cache"), num_workers=0)
    with pytest.raises(ValueError, match="00007.png"):
        datamodule.prepare_data()


def test_without_the_lmdb_package_the_error_names_the_extra(tmp_path, monkeypatch):
    import sys

    path = write_lmdb(tmp_path / "train.lmdb", raw_images(1, 0))
    monkeypatch.setitem(sys.modules, "lmdb", None)
    with pytest.raises(ImportError, match=r"pip install 'zoo\[lmdb\]'"):
        LMDBImages(path, RAW_256)
