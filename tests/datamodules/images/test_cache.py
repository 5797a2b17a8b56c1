"""The uint8 memory-mapped image cache and the batched Dataset over it."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from zoo.datamodules.images.cache import CachedImages, UInt8Cache, fingerprint


def _images(count: int = 6) -> np.ndarray:
    return np.arange(count * 2 * 3 * 3, dtype=np.uint8).reshape(count, 2, 3, 3)


def test_build_then_read_back(tmp_path):
    images = _images()
    cache = UInt8Cache(tmp_path, "toy", "k1")
    assert not cache.exists()
    cache.build(iter(images), len(images), (2, 3, 3), np.arange(6) * 10)
    assert cache.exists()
    stored = np.load(cache.path / "images.npy", mmap_mode="r")
    assert isinstance(stored, np.memmap)
    np.testing.assert_array_equal(stored, images)
    np.testing.assert_array_equal(cache.labels(), [0, 10, 20, 30, 40, 50])
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["toy-k1"]


def test_failed_build_leaves_nothing(tmp_path):
    cache = UInt8Cache(tmp_path, "toy", "k1")
    with pytest.raises(ValueError, match="got 5 images, expected 6"):
        cache.build(iter(_images(5)), 6, (2, 3, 3))
    with pytest.raises(ValueError, match=r"image 0 is uint8 \(2, 3, 3\), expected uint8 \(3, 3, 3\)"):
        cache.build(iter(_images()), 6, (3, 3, 3))
    assert not cache.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".toy.lock"]


def test_changed_source_gets_a_new_cache_and_the_old_one_goes(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    key = fingerprint(tmp_path, ["src.bin"], {"size": 64})
    assert key == fingerprint(tmp_path, ["src.bin"], {"size": 64})
    assert key != fingerprint(tmp_path, ["src.bin"], {"size": 32})
    UInt8Cache(tmp_path / "c", "toy", key).build(iter(_images()), 6, (2, 3, 3))
    os.utime(source, ns=(1, 1))
    new_key = fingerprint(tmp_path, ["src.bin"], {"size": 64})
    assert new_key != key
    UInt8Cache(tmp_path / "c", "toy", new_key).build(iter(_images()), 6, (2, 3, 3))
    assert sorted(p.name for p in (tmp_path / "c").glob("toy-*")) == [f"toy-{new_key}"]
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        fingerprint(tmp_path, ["missing.bin"], {})


def test_batched_reads_equal_item_reads_and_transforms_apply(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (8, 4, 5, 3), dtype=np.uint8)
    cache = UInt8Cache(tmp_path, "toy", "k")
    cache.build(iter(images), 8, (4, 5, 3), np.arange(8))
    dataset = CachedImages(cache.path, indices=[7, 2, 5], transforms=(lambda b: 1 - b,))
    assert len(dataset) == 3
    batch, labels = dataset.batch([0, 2])
    expected = 1 - torch.from_numpy(images[[7, 5]]).permute(0, 3, 1, 2).double() / 255
    assert batch.dtype == torch.float32 and batch.shape == (2, 3, 4, 5)
    torch.testing.assert_close(batch.double(), expected, rtol=0, atol=1e-7)
    assert labels.tolist() == [7, 5]
    image, label = dataset[1]
    torch.testing.assert_close(image.double(), 1 - torch.from_numpy(images[2]).permute(2, 0, 1)
                               .double() / 255, rtol=0, atol=1e-7)
    assert label.item() == 2
    with pytest.raises(IndexError):
        dataset[3]
