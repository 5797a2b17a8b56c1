"""Image datamodules on real MNIST, the CelebA sample and real-format fixtures; downloads from a
loopback HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.http_server import Route
from tests.support.image_fixtures import bilinear_reference, cifar_archive, idx_bytes, write_idx_gz
from zoo import datamodules
from zoo.datamodules import (
    CelebA64DataModule,
    CelebAHQ256DataModule,
    CIFAR10DataModule,
    FFHQ256DataModule,
    MNISTDataModule,
)
from zoo.datamodules.files.cache import cache_root
from zoo.datamodules.images import readers
from zoo.datamodules.images.datamodule import dynamic_binarize, random_horizontal_flip, seeded_split

# Published MNIST class counts (training, test), digits 0..9.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_public_names_are_lazy_exports():
    assert datamodules.MNISTDataModule is MNISTDataModule
    assert datamodules.FFHQ256DataModule is FFHQ256DataModule


def test_seeded_split_is_a_partition():
    train, val = seeded_split(100, 10, seed=3)
    assert len(val) == 10 and sorted(np.concatenate([train, val]).tolist()) == list(range(100))
    again, _ = seeded_split(100, 10, seed=3)
    other, _ = seeded_split(100, 10, seed=4)
    np.testing.assert_array_equal(train, again)
    assert not np.array_equal(train, other)
    with pytest.raises(ValueError, match="num_validation"):
        seeded_split(100, 100, seed=0)


def test_flip_mirrors_about_half_of_the_images():
    torch.manual_seed(0)
    batch = torch.rand(400, 3, 2, 5)
    flipped = random_horizontal_flip(batch.clone())
    same = (flipped == batch).flatten(1).all(1)
    mirrored = (flipped == batch.flip(-1)).flatten(1).all(1)
    assert bool((same | mirrored).all())
    assert 150 < int(mirrored.sum()) < 250  # Binomial(400, 1/2): mean 200, sd 10


def test_dynamic_binarize_is_bernoulli_of_the_intensity():
    torch.manual_seed(0)
    p = torch.tensor([0.0, 1.0, 0.25, 0.9]).repeat(20_000, 1)
    draws = dynamic_binarize(p)
    assert draws.dtype == torch.float32 and set(draws.unique().tolist()) == {0.0, 1.0}
    assert draws[:, 0].sum() == 0 and draws[:, 1].min() == 1
    # mean of 20,000 Bernoulli(p) draws: standard deviation sqrt(p (1 - p) / 20000) <= 0.0031
    torch.testing.assert_close(draws.mean(0), torch.tensor([0.0, 1.0, 0.25, 0.9]),
                               rtol=0, atol=0.013)


# -- MNIST ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_mnist(shared_dir, tmp_path_factory):
    """The real MNIST datamodule (read-only data, own cache), its cache built once."""
    module = MNISTDataModule(str(shared_dir / "data/mnist"), batch_size=100, num_workers=0,
                             cache_dir=str(tmp_path_factory.mktemp("mnist_cache")))
    module.prepare_data()
    module.setup()
    return module


def test_real_mnist_checksums_and_content(real_mnist, shared_dir, monkeypatch):
    # The README's uncompressed MD5s are the ones we check (the re-compressed train-images
    # archive has another archive hash but the official content).
    readme = (shared_dir / "README.md").read_text()
    for entry in readers.MNIST_FILES.values():
        assert entry.content_md5 in readme
        raw = gzip.decompress((shared_dir / "data/mnist" / (entry.name + ".gz")).read_bytes())
        assert hashlib.md5(raw).hexdigest() == entry.content_md5
    train = real_mnist.datasets["train"]
    val = real_mnist.datasets["val"]
    test = real_mnist.datasets["test"]
    assert (len(train), len(val), len(test)) == (55_000, 5_000, 10_000)
    labels = np.load(train.folder / "labels.npy")
    np.testing.assert_array_equal(np.bincount(labels[:60_000]), MNIST_TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(labels[60_000:]), MNIST_TEST_COUNTS)
    assert sorted(np.concatenate([train.indices, val.indices]).tolist()) == list(range(60_000))
    # cache = digits padded by 2 px of zeros; compare with the IDX bytes read independently
    raw = gzip.decompress((shared_dir / "data/mnist/t10k-images-idx3-ubyte.gz").read_bytes())
    digits = np.frombuffer(raw, np.uint8, offset=16).reshape(10_000, 28, 28)
    cached = np.load(test.folder / "images.npy", mmap_mode="r")[60_000:, :, :, 0]
    np.testing.assert_array_equal(cached[:, 2:30, 2:30], digits)
    assert not cached[:, :2].any() and not cached[:, 30:].any()
    assert not cached[:, :, :2].any() and not cached[:, :, 30:].any()


def test_real_mnist_dynamic_binarization(real_mnist):
    test = real_mnist.datasets["test"]
    torch.manual_seed(0)
    draws, _ = test.batch([0] * 4000)  # one digit, 4000 fresh accesses
    assert set(draws.unique().tolist()) == {0.0, 1.0} and draws.shape == (4000, 1, 32, 32)
    assert not torch.equal(draws[0], draws[1])
    intensity = torch.from_numpy(np.load(test.folder / "images.npy")[60_000, :, :, 0] / 255.0)
    # mean of 4000 Bernoulli(p) draws: standard deviation <= 0.5 / sqrt(4000) = 0.0079
    assert (draws.double().mean(0)[0] - intensity).abs().max() < 0.04
    plain = MNISTDataModule(real_mnist.data_dir, cache_dir=real_mnist.cache_dir, binarize=False,
                            num_workers=0)
    plain.setup()
    image, label = plain.datasets["test"][0]
    torch.testing.assert_close(image[0].double(), intensity, rtol=0, atol=1e-7)
    assert label.item() == 7  # the first test digit is a 7


def test_real_mnist_loader_with_a_worker(real_mnist):
    real_mnist.num_workers = 1
    try:
        images, labels = next(iter(real_mnist.train_dataloader()))
    finally:
        real_mnist.num_workers = 0
    assert images.shape == (100, 1, 32, 32) and labels.shape == (100,)
    assert set(images.unique().tolist()) <= {0.0, 1.0}
    # seeded shuffle: the same seed gives the same first batch of labels
    _, again = next(iter(real_mnist.train_dataloader()))
    _, first = next(iter(MNISTDataModule.train_dataloader(real_mnist)))
    assert torch.equal(again, first)


def _batches(loader, epoch: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.sampler.set_epoch(epoch)  # Lightning's call before each epoch
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == count:
            break
    return batches


@pytest.mark.parametrize("workers", [0, 2])
def test_real_mnist_train_loader_resumes_mid_epoch(real_mnist, workers):
    """A loader restored from ``state_dict`` taken after 2 batches continues with the batches the
    uninterrupted loader gives next: the same digits, binarised the same way (exact: {0, 1} data)."""
    module = MNISTDataModule(str(real_mnist.data_dir), batch_size=100, num_workers=workers,
                             cache_dir=str(real_mnist.cache_dir), seed=3)
    module.setup()
    reference = MNISTDataModule(str(real_mnist.data_dir), batch_size=100, num_workers=0,
                                cache_dir=str(real_mnist.cache_dir), seed=3)
    reference.setup()
    whole = _batches(reference.train_dataloader(), epoch=1, count=5)
    killed = module.train_dataloader()
    head = _batches(killed, epoch=1, count=2)
    state = killed.state_dict()
    assert (state["epoch"], state["batches_drawn"], state["batch_size"], state["seed"]) == (1, 2, 100, 3)
    resumed = module.train_dataloader()
    resumed.load_state_dict(state)
    tail = [batch for batch, _ in zip(resumed, range(3))]
    for (images, labels), (expected_images, expected_labels) in zip(head + tail, whole, strict=True):
        assert torch.equal(labels, expected_labels) and torch.equal(images, expected_images)
    assert set(whole[0][0].unique().tolist()) == {0.0, 1.0}
    # another epoch is another order and other draws
    other = _batches(reference.train_dataloader(), epoch=2, count=1)[0]
    assert not torch.equal(other[1], whole[0][1])


@pytest.fixture()
def tiny_mnist(monkeypatch, http_server):
    """Four small gzipped IDX files served over loopback, declared as the official ones."""
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 12).astype(np.uint8),
              "test_images": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 4).astype(np.uint8)}
    table = {}
    for key, entry in readers.MNIST_FILES.items():
        body = gzip.compress(idx_bytes(arrays[key]), mtime=0)
        http_server.routes[f"/mirror2/{entry.name}.gz"] = Route(body)
        table[key] = readers.MNISTFile(entry.name, hashlib.sha256(body).hexdigest(),
                                       hashlib.md5(idx_bytes(arrays[key])).hexdigest(),
                                       entry.ndim, len(arrays[key]))
    monkeypatch.setattr(readers, "MNIST_FILES", table)
    monkeypatch.setattr(readers, "MNIST_MIRRORS", (http_server.url("/mirror1/"),
                                                   http_server.url("/mirror2/")))
    return arrays


def test_mnist_downloads_from_the_first_working_mirror(tmp_path, http_server, tiny_mnist):
    module = MNISTDataModule(str(tmp_path / "mnist"), batch_size=4, num_workers=0,
                             binarize=False, num_validation=2)
    module.prepare_data()
    names = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    assert names == sorted([e.name + ".gz" for e in readers.MNIST_FILES.values()])
    assert http_server.hits["/mirror1/train-images-idx3-ubyte.gz"] == 1  # 404, then mirror 2
    assert http_server.hits["/mirror2/train-images-idx3-ubyte.gz"] == 1
    module.prepare_data()  # present and cached: no new request
    assert http_server.hits["/mirror2/train-images-idx3-ubyte.gz"] == 1
    module.setup()
    assert [len(module.datasets[s]) for s in ("train", "val", "test")] == [10, 2, 4]
    images, labels = module.datasets["test"].batch([0, 3])
    expected = np.pad(tiny_mnist["test_images"][[0, 3]], ((0, 0), (2, 2), (2, 2))) / 255.0
    np.testing.assert_allclose(images[:, 0].double().numpy(), expected, atol=1e-7)
    assert labels.tolist() == tiny_mnist["test_labels"][[0, 3]].tolist()


def test_mnist_wrong_local_file_is_refused(tmp_path, tiny_mnist):
    for key, entry in readers.MNIST_FILES.items():
        array = tiny_mnist[key].copy()
        if key == "train_labels":
            array[0] ^= 1  # one wrong label
        write_idx_gz(tmp_path / (entry.name + ".gz"), array)
    module = MNISTDataModule(str(tmp_path), num_workers=0)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz: uncompressed content has MD5"):
        module.prepare_data()


def test_mnist_setup_before_prepare(tmp_path):
    with pytest.raises(FileNotFoundError, match="call prepare_data"):
        MNISTDataModule(str(tmp_path)).setup()


# -- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_download_extract_split_and_flip(tmp_path, http_server, monkeypatch):
    archive = tmp_path / "cifar-10-python.tar.gz"
    images, labels = cifar_archive(archive, per_batch=3)
    http_server.routes["/cifar-10-python.tar.gz"] = Route(archive.read_bytes())
    monkeypatch.setattr(readers, "CIFAR10_ARCHIVE_URL", http_server.url("/cifar-10-python.tar.gz"))
    monkeypatch.setattr(readers, "CIFAR10_ARCHIVE_SHA256",
                        hashlib.sha256(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(CIFAR10DataModule, "num_train", 15)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    module = CIFAR10DataModule(str(data_dir), batch_size=4, num_workers=0, num_validation=5)
    module.prepare_data()
    assert sorted(p.name for p in data_dir.iterdir()) == ["cifar-10-batches-py"]
    module.setup()
    assert [len(module.datasets[s]) for s in ("train", "val", "test")] == [10, 5, 3]
    test_images, test_labels = module.datasets["test"].batch([0, 1, 2])
    expected = torch.from_numpy(images[15:]).permute(0, 3, 1, 2).double() / 255
    torch.testing.assert_close(test_images.double(), expected, rtol=0, atol=1e-7)
    assert test_labels.tolist() == labels[15:].tolist()
    torch.manual_seed(1)
    train = module.datasets["train"]
    first = train.indices[0]
    draws, _ = train.batch([0] * 64)
    original = torch.from_numpy(images[first]).permute(2, 0, 1).float() / 255
    is_flipped = [torch.equal(d, original.flip(-1)) for d in draws]
    is_same = [torch.equal(d, original) for d in draws]
    assert all(f or s for f, s in zip(is_flipped, is_same)) and any(is_flipped) and any(is_same)


def test_cifar10_wrong_archive_hash_leaves_no_folder(tmp_path, http_server, monkeypatch):
    archive = tmp_path / "cifar-10-python.tar.gz"
    cifar_archive(archive, per_batch=1)
    http_server.routes["/c.tar.gz"] = Route(archive.read_bytes())
    monkeypatch.setattr(readers, "CIFAR10_ARCHIVE_URL", http_server.url("/c.tar.gz"))
    data_dir = tmp_path / "data"
    with pytest.raises(ValueError, match="(?i)sha-?256"):
        CIFAR10DataModule(str(data_dir), num_workers=0).prepare_data()
    assert not (data_dir / "cifar-10-batches-py").exists()


# -- CelebA 64 --------------------------------------------------------------------------------


def _celeba_dir(folder, shared_dir):
    """The 32 real aligned images (linked, not copied) with a partition 20 / 6 / 6."""
    folder.mkdir()
    (folder / "img_align_celeba").symlink_to(shared_dir / "data/celeba_sample/img_align_celeba")
    lines = [f"{i:06d}.jpg {0 if i <= 20 else 1 if i <= 26 else 2}" for i in range(1, 33)]
    (folder / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_celeba64_official_partition_and_crop(tmp_path, shared_dir):
    data_dir = _celeba_dir(tmp_path / "celeba", shared_dir)
    module = CelebA64DataModule(str(data_dir), batch_size=4, num_workers=2,
                                cache_dir=str(tmp_path / "cache"))
    module.prepare_data()  # decoded by a pool of 2 processes, in partition order
    module.setup()
    assert [len(module.datasets[s]) for s in ("train", "val", "test")] == [20, 6, 6]
    images, labels = module.datasets["val"].batch([0])  # 000021.jpg, no random transform
    assert images.shape == (1, 3, 64, 64) and labels.tolist() == [-1]
    raw = np.asarray(Image.open(data_dir / "img_align_celeba/000021.jpg").convert("RGB"))
    expected = bilinear_reference(raw[40:188, 15:163], 64, 64) / 255
    difference = (images[0].permute(1, 2, 0).double().numpy() - expected)
    assert np.abs(difference).max() <= 1 / 255 + 1e-7
    cached = np.load(module.datasets["train"].folder / "images.npy")
    sequential = [readers.celeba64(data_dir / f"img_align_celeba/{i:06d}.jpg") for i in (1, 32)]
    np.testing.assert_array_equal(cached[[0, 31]], sequential)


def test_celeba64_missing_or_broken_files(tmp_path, shared_dir):
    with pytest.raises(FileNotFoundError) as info:
        CelebA64DataModule(str(tmp_path / "nowhere")).prepare_data()
    for text in ("img_align_celeba", "list_eval_partition.txt", "mmlab.ie.cuhk.edu.hk"):
        assert text in str(info.value)
    data_dir = tmp_path / "celeba"
    (data_dir / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="list_eval_partition.txt not found"):
        CelebA64DataModule(str(data_dir)).prepare_data()
    good = shared_dir / "data/celeba_sample/img_align_celeba/000001.jpg"
    (data_dir / "img_align_celeba/000001.jpg").write_bytes(good.read_bytes())
    (data_dir / "img_align_celeba/000002.jpg").write_bytes(good.read_bytes()[:300])
    (data_dir / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 1\n")
    module = CelebA64DataModule(str(data_dir), num_workers=0)
    with pytest.raises(ValueError, match="000002.jpg: cannot decode image"):
        module.prepare_data()
    assert not list((cache_root() / "datasets").glob("celeba64-*"))


# -- FFHQ 256 / CelebA-HQ 256 -----------------------------------------------------------------


def _faces(folder, count, size=260):
    y, x = np.mgrid[0:size, 0:size]
    images = np.stack([np.stack([x * 255 // size, y * 255 // size,
                                 128 + 100 * np.sin(x / (3.0 + i)) * np.cos(y / 5.0)], -1)
                       for i in range(count)]).astype(np.uint8)  # a distinct texture each
    for i, image in enumerate(images):
        path = folder / f"{i // 3 * 1000:05d}" / f"{i:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
    return images


def test_ffhq_saved_split_is_reused_and_checked(tmp_path):
    images = _faces(tmp_path / "ffhq/images1024x1024", 5)
    args = {"batch_size": 2, "num_workers": 0, "num_validation": 2, "split_seed": 0}
    module = FFHQ256DataModule(str(tmp_path / "ffhq"), **args)
    module.prepare_data()
    module.setup()
    split_file = cache_root() / "datasets/ffhq256-split-seed0-val2.json"
    saved = json.loads(split_file.read_text())
    assert len(saved["train"]) == 3 and len(saved["validation"]) == 2
    assert sorted(saved["train"] + saved["validation"]) == [
        f"images1024x1024/{i // 3 * 1000:05d}/{i:05d}.png" for i in range(5)]
    assert [len(module.datasets[s]) for s in ("train", "val", "test")] == [3, 2, 2]
    # a saved split wins over the seed: edit it and a new datamodule follows the file
    split_file.write_text(json.dumps({"train": saved["train"][:1] + saved["validation"],
                                      "validation": saved["train"][1:]}))
    again = FFHQ256DataModule(str(tmp_path / "ffhq"), **args)
    again.prepare_data()
    again.setup()
    val, _ = again.datasets["val"].batch([0, 1])
    numbers = [int(name[-9:-4]) for name in saved["train"][1:]]
    for got, number in zip(val, numbers):
        expected = bilinear_reference(images[number], 256, 256) / 255
        difference = np.abs(got.permute(1, 2, 0).double().numpy() - expected)
        # PIL's fixed-point weights may round the intermediate row the other way: <= 1.5 levels
        assert difference.max() <= 1.5 / 255 + 1e-7 and difference.mean() < 0.5 / 255
    # a new image changes the source: the cache is rebuilt, and the old split no longer fits
    _faces(tmp_path / "ffhq/images1024x1024", 6)
    grown = FFHQ256DataModule(str(tmp_path / "ffhq"), **args)
    grown.prepare_data()
    assert len(list((cache_root() / "datasets").glob("ffhq256-*/"))) == 1
    with pytest.raises(ValueError, match="lists other images than"):
        grown.setup()


def test_square_folders_missing_or_bad(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        FFHQ256DataModule(str(tmp_path)).prepare_data()
    assert "images1024x1024" in str(info.value) and "ffhq-dataset" in str(info.value)
    Image.new("RGB", (256, 200)).save(tmp_path / "0.png")
    with pytest.raises(ValueError, match=r"0.png: expected a square image"):
        CelebAHQ256DataModule(str(tmp_path), num_workers=0, num_validation=0).prepare_data()


def test_lightning_cli_builds_a_datamodule_from_yaml(tmp_path):
    from jsonargparse import ArgumentParser
    from pytorch_lightning import LightningDataModule

    parser = ArgumentParser()
    parser.add_subclass_arguments(LightningDataModule, "data")
    config = parser.parse_string(f"""
data:
  class_path: zoo.datamodules.MNISTDataModule
  init_args:
    data_dir: {tmp_path}
    batch_size: 16
    num_workers: 0
    seed: 3
    binarize: false
    num_validation: 1000
""")
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes  # 4.49 rename
    module = instantiate(config).data
    assert isinstance(module, MNISTDataModule)
    assert (module.batch_size, module.seed, module.binarize, module.num_validation) == (
        16, 3, False, 1000)
    assert module.hparams["num_validation"] == 1000 and module.hparams["data_dir"] == str(tmp_path)


def test_trainer_drives_the_datamodule(real_mnist, tmp_path):
    import pytorch_lightning as pl

    class MeanPixel(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.bias = torch.nn.Parameter(torch.zeros(()))
            self.seen: dict[str, list[tuple]] = {"train": [], "val": [], "test": []}

        def training_step(self, batch, _):
            images, labels = batch
            self.seen["train"].append((tuple(images.shape), tuple(labels.shape)))
            return ((images.mean() - self.bias) ** 2)

        def validation_step(self, batch, _):
            self.seen["val"].append((tuple(batch[0].shape), tuple(batch[1].shape)))

        def test_step(self, batch, _):
            self.seen["test"].append((tuple(batch[0].shape), tuple(batch[1].shape)))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    model = MeanPixel()
    trainer = pl.Trainer(fast_dev_run=2, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=real_mnist)
    trainer.test(model, datamodule=real_mnist, verbose=False)
    for split in ("train", "val", "test"):
        assert model.seen[split] == [((100, 1, 32, 32), (100,))] * 2
