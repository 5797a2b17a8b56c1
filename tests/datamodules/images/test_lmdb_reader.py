"""NVAE's LMDB datasets read through the image datamodules: databases written here with the ``lmdb``
package exactly as NVAE's scripts write them (``create_ffhq_lmdb.py`` / ``convert_tfrecord_to_lmdb.py``:
raw uint8 RGB arrays; ``create_celeba64_lmdb.py``: the JPEG file's bytes), keys ``str(i).encode()``.
Every image is compared with what NVAE's ``LMDBDataset`` + transforms give (decoded independently here
with numpy / PIL), and FFHQ's ``train_test_ind.pt`` as ``torch.save`` writes it."""

from __future__ import annotations

import io
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from PIL import Image

from zoo.datamodules.images.celeba import CelebA64DataModule
from zoo.datamodules.images.folders import CelebAHQ256DataModule, FFHQ256DataModule
from zoo.datamodules.images.lmdb_reader import LMDBForm, LMDBImages


def write_lmdb(path: Path, values: list) -> Path:
    """An LMDB as NVAE's scripts write it: one write transaction, key str(i).encode(), value as given."""
    path.parent.mkdir(parents=True, exist_ok=True)  # the scripts make the target folder first
    env = lmdb.open(str(path), map_size=1 << 30)
    with env.begin(write=True) as txn:
        for index, value in enumerate(values):
            txn.put(str(index).encode(), value)
    env.close()
    return path


def raw_images(count: int, seed: int, size: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(count)]


def aligned_jpegs(count: int, seed: int) -> list[bytes]:
    """Aligned-CelebA-sized (178 x 218) JPEG files' bytes."""
    out = []
    for image in raw_images(count, seed, 218):
        buffer = io.BytesIO()
        Image.fromarray(image[:, :178]).save(buffer, format="JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _images(dataset) -> np.ndarray:
    return np.stack([np.round(dataset[i][0].numpy().transpose(1, 2, 0) * 255).astype(np.uint8)
                     for i in range(len(dataset))])


@pytest.mark.parametrize("module", [FFHQ256DataModule, CelebAHQ256DataModule])
def test_raw_256_databases_give_every_image_and_their_split(module, tmp_path):
    train, val = raw_images(5, 0), raw_images(3, 1)
    write_lmdb(tmp_path / "data" / "train.lmdb", train)
    write_lmdb(tmp_path / "data" / "validation.lmdb", val)
    datamodule = module(str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), num_workers=0)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert [len(datamodule.datasets[s]) for s in ("train", "val", "test")] == [5, 3, 3]
    np.testing.assert_array_equal(_images(datamodule.datasets["val"]), np.stack(val))
    np.testing.assert_array_equal(_images(datamodule.datasets["test"]), np.stack(val))
    assert not list((tmp_path / "cache").glob("*split*.json"))  # the databases' split, no seeded one


def _official_celeba64(jpeg: bytes) -> np.ndarray:
    """NVAE's valid transform of an encoded CelebA value: RGB, crop (15, 40, 163, 188), Resize(64) bilinear."""
    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    return np.asarray(image.crop((15, 40, 178 - 15, 218 - 30)).resize((64, 64), Image.BILINEAR))


def test_encoded_celeba64_databases_with_a_test_split(tmp_path):
    parts = {"train.lmdb": aligned_jpegs(4, 2), "validation.lmdb": aligned_jpegs(2, 3), "test.lmdb": aligned_jpegs(3, 4)}
    for name, values in parts.items():
        write_lmdb(tmp_path / "data" / name, values)
    datamodule = CelebA64DataModule(str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"), num_workers=0)
    datamodule.prepare_data()
    datamodule.setup("fit")
    for split, name in (("val", "validation.lmdb"), ("test", "test.lmdb")):
        expected = np.stack([_official_celeba64(v) for v in parts[name]])
        np.testing.assert_array_equal(_images(datamodule.datasets[split]), expected)
    assert len(datamodule.datasets["train"]) == 4


def test_real_celeba_jpegs_as_create_celeba64_lmdb_stores_them(shared_dir, tmp_path):
    from zoo.datamodules.images.readers import celeba64

    files = sorted((shared_dir / "data" / "celeba_sample" / "img_align_celeba").glob("*.jpg"))[:6]
    write_lmdb(tmp_path / "train.lmdb", [f.read_bytes() for f in files[:4]])
    write_lmdb(tmp_path / "validation.lmdb", [f.read_bytes() for f in files[4:]])
    datamodule = CelebA64DataModule(str(tmp_path), cache_dir=str(tmp_path / "cache"), num_workers=0)
    datamodule.prepare_data()
    datamodule.setup("validate")
    np.testing.assert_array_equal(_images(datamodule.datasets["val"]), np.stack([celeba64(f) for f in files[4:]]))


def test_a_database_reads_pil_images_by_index(tmp_path):
    images = raw_images(3, 5, size=32)
    database = LMDBImages(write_lmdb(tmp_path / "x.lmdb", images), LMDBForm(encoded=False))
    assert len(database) == 3
    np.testing.assert_array_equal(np.asarray(database[2]), images[2])
    with pytest.raises(IndexError):
        database[3]


def _ffhq_folder(root: Path, count: int) -> list[np.ndarray]:
    folder = root / "images1024x1024"
    folder.mkdir(parents=True)
    images = raw_images(count, 6)
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{index:05d}.png")
    return images


def test_ffhq_train_test_ind_gives_the_official_validation_images_in_order(tmp_path):
    images = _ffhq_folder(tmp_path / "ffhq", 10)
    permutation = np.random.permutation(10)  # what create_ffhq_lmdb.py saves: numpy int arrays
    torch.save({"train": permutation[:7], "test": permutation[7:]}, tmp_path / "ffhq" / "train_test_ind.pt")
    datamodule = FFHQ256DataModule(str(tmp_path / "ffhq"), cache_dir=str(tmp_path / "cache"), num_workers=0)
    datamodule.prepare_data()
    datamodule.setup("fit")
    np.testing.assert_array_equal(_images(datamodule.datasets["val"]), np.stack([images[i] for i in permutation[7:]]))
    assert len(datamodule.datasets["train"]) == 7
    assert not list((tmp_path / "cache").glob("*split*.json"))


def test_ffhq_without_train_test_ind_keeps_the_seeded_split(tmp_path):
    _ffhq_folder(tmp_path / "ffhq", 10)
    datamodule = FFHQ256DataModule(str(tmp_path / "ffhq"), cache_dir=str(tmp_path / "cache"), num_workers=0,
                                   num_validation=4)
    datamodule.prepare_data()
    datamodule.setup("fit")
    assert len(datamodule.datasets["val"]) == 4
    assert len(list((tmp_path / "cache").glob("ffhq256-split-*.json"))) == 1
