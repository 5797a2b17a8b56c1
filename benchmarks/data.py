"""Images per second the image datamodules deliver from their uint8 cache on one worker.

MNIST (real, ``../shared/data/mnist``): the batched cache path (one memory-map read, transforms
on the whole batch) against the same dataset read item by item, as a per-item Dataset would.
CelebA 64 (the 32 real sample images, cached as a set of 4,096 = 128 copies): the cache against
decoding the JPEG, cropping and resizing at every access, as NVAE's encoded-LMDB reader does.

    python -m benchmarks.data [--batches 50] [--workers 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from zoo.datamodules.images.cache import CachedImages, UInt8Cache
from zoo.datamodules.images.datamodule import random_horizontal_flip
from zoo.datamodules.images.mnist import MNISTDataModule
from zoo.datamodules.images.readers import celeba64

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


class ItemByItem(Dataset):
    """The same items without ``__getitems__``: the DataLoader fetches them one at a time."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]


class DecodeEveryAccess(Dataset):
    """CelebA 64 decoded from the JPEG at every access (crop, resize, flip)."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int):
        image = torch.from_numpy(celeba64(self.files[index])).permute(2, 0, 1).float().div_(255)
        return random_horizontal_flip(image[None])[0], torch.tensor(-1)


def images_per_second(dataset: Dataset, batch_size: int, batches: int, workers: int) -> float:
    """Throughput over ``batches`` batches (as many epochs as that takes), after a warm-up."""
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        num_workers=workers, persistent_workers=workers > 0,
                        generator=torch.Generator().manual_seed(0))
    next(iter(loader))  # worker start-up and the first memory-map touch are not throughput
    start, count = time.perf_counter(), 0
    while count < batches * batch_size:
        for images, _ in loader:
            count += len(images)
            if count == batches * batch_size:
                break
    return count / (time.perf_counter() - start)


def mnist(tmp: Path, batches: int, workers: int) -> None:
    module = MNISTDataModule(str(SHARED / "data/mnist"), batch_size=200, num_workers=workers,
                             cache_dir=str(tmp / "mnist"))
    module.prepare_data()
    module.setup()
    train = module.datasets["train"]
    cached = images_per_second(train, 200, batches, workers)
    per_item = images_per_second(ItemByItem(train), 200, batches, workers)
    print(f"MNIST 32x32 binarised, batch 200, {workers} workers: cache {cached:,.0f} img/s, "
          f"item by item {per_item:,.0f} img/s, ratio {cached / per_item:.1f}x")


def celeba(tmp: Path, batches: int, workers: int) -> None:
    files = sorted((SHARED / "data/celeba_sample/img_align_celeba").glob("*.jpg")) * 128
    cache = UInt8Cache(tmp / "celeba", "celeba64", "bench")
    decoded = np.stack([celeba64(f) for f in files[:32]])
    cache.build((decoded[i % 32] for i in range(len(files))), len(files), (64, 64, 3))
    cached = CachedImages(cache.path, np.arange(len(files)), (random_horizontal_flip,))
    from_cache = images_per_second(cached, 64, batches, workers)
    decoding = images_per_second(DecodeEveryAccess(files), 64, max(batches // 10, 3), workers)
    print(f"CelebA 64 3x64x64 flipped, batch 64, {workers} workers: cache {from_cache:,.0f} "
          f"img/s, decode at access {decoding:,.0f} img/s, ratio {from_cache / decoding:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--workers", type=int, default=0,
                        help="DataLoader workers (0: in the main process)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent: the benchmark reads the shared MNIST and CelebA sample")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        mnist(Path(tmp), args.batches, args.workers)
        celeba(Path(tmp), args.batches, args.workers)


if __name__ == "__main__":
    main()
