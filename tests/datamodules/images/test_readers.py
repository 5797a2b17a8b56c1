"""Readers of MNIST IDX, CIFAR-10 pickles, CelebA and image folders, on real-format files."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest
from PIL import Image

from tests.support.image_fixtures import bilinear_reference, cifar_batch_bytes, idx_bytes, py2_pickle
from zoo.datamodules.images import readers

# -- IDX --------------------------------------------------------------------------------------


def test_idx_header_and_payload_by_hand(tmp_path):
    # 2 images of 2 x 3: header 00 00 08 03, dims 2, 2, 3 big-endian, then 12 bytes row-major
    data = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, *range(12)])
    (tmp_path / "x-idx3-ubyte").write_bytes(data)
    (tmp_path / "x-idx3-ubyte.gz").write_bytes(gzip.compress(data))
    expected = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    for name in ("x-idx3-ubyte", "x-idx3-ubyte.gz"):
        array = readers.read_idx(tmp_path / name, ndim=3)
        np.testing.assert_array_equal(array, expected)
        assert array.dtype == np.uint8


@pytest.mark.parametrize("data, message", [
    (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0", "not an unsigned-byte IDX"),  # float32
    (bytes([8, 3, 0, 0]) + b"\0" * 8, "not an unsigned-byte IDX"),  # magic byte-swapped
    (bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3]), "truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "trailing data"),
    (bytes([0, 0, 8, 3, 0, 0]), "truncated IDX header"),
    (b"", "magic missing"),
])
def test_bad_idx_names_the_file(tmp_path, data, message):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=message) as info:
        readers.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_wrong_dimensions_and_truncated_gzip(tmp_path):
    labels = tmp_path / "labels-idx1-ubyte"
    labels.write_bytes(idx_bytes(np.arange(5, dtype=np.uint8)))
    with pytest.raises(ValueError, match="1 dimensions, expected 3"):
        readers.read_idx(labels, ndim=3)
    cut = tmp_path / "images-idx3-ubyte.gz"
    cut.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-20])
    with pytest.raises(ValueError, match="cannot read the IDX file") as info:
        readers.read_idx(cut)
    assert str(cut) in str(info.value)


# -- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar_batch_planes_to_hwc(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(cifar_batch_bytes(images, [3, 0, 9], "training batch 1 of 5"))
    assert path.read_bytes().startswith(b"\x80\x02")  # protocol 2, as the published batches
    got, labels = readers.read_cifar_batch(path)
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(labels, [3, 0, 9])
    # the file's row is R plane (1024 values, row-major), then G, then B: pixel (y=2, x=5)
    row = pickle.loads(path.read_bytes(), encoding="bytes")[b"data"][1]
    assert got[1, 2, 5].tolist() == [row[2 * 32 + 5], row[1024 + 2 * 32 + 5],
                                     row[2048 + 2 * 32 + 5]]


class _RunsShell:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os
        return os.system, (self.command,)


def test_cifar_pickle_with_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "data_batch_1"
    evil.write_bytes(pickle.dumps({"data": _RunsShell(f"touch {marker}")}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load (posix|os).system") as info:
        readers.read_cifar_batch(evil)
    assert str(evil) in str(info.value)
    # the same through the protocol-0 text form naming os.system explicitly
    evil.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(ValueError, match="refusing to load os.system"):
        readers.read_cifar_batch(evil)
    assert not marker.exists()


@pytest.mark.parametrize("batch, message", [
    ({"data": np.zeros((2, 3071), np.uint8), "labels": [0, 1]}, "uint8 N x 3072"),
    ({"data": np.zeros((2, 3072), np.float32), "labels": [0, 1]}, "uint8 N x 3072"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "b'labels' must be 2 integers"),
    ({"data": np.zeros((1, 3072), np.uint8), "labels": [10]}, r"in \[0, 9\]"),
    ({"labels": [0]}, "keys b'data' and b'labels'"),
    ([1, 2], "keys b'data' and b'labels'"),
])
def test_cifar_wrong_shape_names_the_file(tmp_path, batch, message):
    path = tmp_path / "test_batch"
    path.write_bytes(py2_pickle(batch))
    with pytest.raises(ValueError, match=message) as info:
        readers.read_cifar_batch(path)
    assert str(path) in str(info.value)


def test_cifar_truncated_pickle(tmp_path):
    path = tmp_path / "data_batch_2"
    path.write_bytes(cifar_batch_bytes(np.zeros((1, 32, 32, 3), np.uint8), [0], "b")[:100])
    with pytest.raises(ValueError, match="not a readable CIFAR-10 batch") as info:
        readers.read_cifar_batch(path)
    assert str(path) in str(info.value)


# -- CelebA and image folders ------------------------------------------------------------------


def test_celeba_partition(tmp_path):
    path = tmp_path / "list_eval_partition.txt"
    path.write_text("000001.jpg 0\n000002.jpg 0\n000003.jpg 2\n000004.jpg 1\n\n")
    assert readers.read_celeba_partition(path) == {
        "train": ["000001.jpg", "000002.jpg"], "valid": ["000004.jpg"], "test": ["000003.jpg"]}
    path.write_text("000001.jpg 0\n000002.jpg 3\n")
    with pytest.raises(ValueError, match=r"list_eval_partition.txt:2: expected"):
        readers.read_celeba_partition(path)
    with pytest.raises(FileNotFoundError, match="partition file is missing"):
        readers.read_celeba_partition(tmp_path / "absent.txt")


def test_celeba64_is_nvae_crop_then_bilinear_64(shared_dir):
    for name in ("000001.jpg", "000017.jpg"):
        path = shared_dir / "data/celeba_sample/img_align_celeba" / name
        raw = np.asarray(Image.open(path).convert("RGB"))
        assert raw.shape == (218, 178, 3)
        # box (left 15, upper 40, right 163, lower 188): rows 40..187, columns 15..162
        expected = bilinear_reference(raw[40:188, 15:163], 64, 64)
        got = readers.celeba64(path)
        assert got.shape == (64, 64, 3) and got.dtype == np.uint8
        difference = np.abs(got - expected)
        assert difference.max() <= 1.0 and difference.mean() < 0.5


def test_undecodable_or_wrong_size_images_name_the_file(tmp_path):
    broken = tmp_path / "000002.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ValueError, match="cannot decode image") as info:
        readers.celeba64(broken)
    assert str(broken) in str(info.value)
    small = tmp_path / "small.png"
    Image.new("RGB", (178, 200)).save(small)
    with pytest.raises(ValueError, match="178x218, got 178x200"):
        readers.celeba64(small)
    Image.new("RGB", (300, 280)).save(small)
    with pytest.raises(ValueError, match="square image of at least 256 px, got 300x280"):
        readers.square_resized(small)


def test_square_resized_matches_bilinear_reference(tmp_path):
    y, x = np.mgrid[0:300, 0:300]
    waves = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0)  # detail at the scale of the filter
    image = np.stack([x * 255 // 299, y * 255 // 299, waves], -1).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "face.png")
    got = readers.square_resized(tmp_path / "face.png")
    assert got.shape == (256, 256, 3)
    difference = np.abs(got - bilinear_reference(image, 256, 256))
    assert difference.max() <= 1.0 and difference.mean() < 0.5


def test_list_images_natural_order(tmp_path):
    for rel in ("10.jpg", "2.jpg", "01000/01000.png", "00000/00999.png", "notes.txt", "1.JPEG"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    names = [p.as_posix() for p in readers.list_images(tmp_path)]
    assert names == ["00000/00999.png", "1.JPEG", "2.jpg", "10.jpg", "01000/01000.png"]
