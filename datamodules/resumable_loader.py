"""A training DataLoader that Lightning can stop and resume in the middle of an epoch.

Resuming a killed run (``zoo fit ... --ckpt_path last``) should continue with exactly the batches
the uninterrupted run would have seen. A plain shuffled ``DataLoader`` cannot: its order and the
augmentation's random draws come from the global generator, whose state a checkpoint does not
hold, and Lightning restarts the epoch's iterator from its first batch.

Here every training sample is a pure function of ``(seed, epoch, position in the epoch)``:

* :class:`SeededShuffle` orders the epoch with ``randperm`` of a generator seeded by
  ``(seed, epoch)``; under DDP, rank ``r`` of ``R`` takes positions ``r, r + R, ...`` of that order
  (it is a ``DistributedSampler``, so Lightning does not wrap it in its own).
* :class:`SeededItems` loads each sample with torch's global generator seeded from the sample's
  own key, so random augmentation inside the dataset gives the same result in any worker process
  and after any restart.
* :class:`ResumableLoader` counts the batches it has handed out in the current epoch and exposes
  the count through ``state_dict`` / ``load_state_dict``, which Lightning stores in its
  checkpoints; a restored loader skips that many batches of the epoch.

The count is exact because Lightning does not fetch ahead from a loader whose length it knows;
worker processes prefetch, but a prefetched batch is only counted once it is handed out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

__all__ = ["ResumableLoader", "SeededItems", "SeededShuffle"]


class SeededShuffle(DistributedSampler):
    """Shuffled ``(dataset index, sample key)`` pairs of one rank's share of an epoch.

    Args:
        length: size of the dataset.
        seed: the run's data seed.
        num_replicas, rank: the DDP world size and this process's rank.

    Each rank gets ``length // num_replicas`` samples (the remainder is dropped so that all ranks
    take the same number of steps). The key of a sample (an int below 2**63) depends on
    ``(seed, epoch, position in the epoch's global order)`` only. ``start`` samples of the rank's
    share are skipped on the next pass (set by :class:`ResumableLoader` when it resumes).
    """

    def __init__(self, length: int, seed: int = 0, num_replicas: int = 1, rank: int = 0) -> None:
        if seed < 0:
            raise ValueError(f"SeededShuffle: seed must be a non-negative int, got {seed}")
        if length < num_replicas:
            raise ValueError(f"SeededShuffle: {length} samples cannot be shared by {num_replicas} ranks")
        super().__init__(range(length), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.start = 0

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(_key(self.seed, self.epoch)))
        for position in range(self.rank, self.total_size, self.num_replicas)[self.start:]:
            yield int(order[position]), _key(self.seed, self.epoch, position)


def _key(*entropy: int) -> int:
    """A well-mixed seed below 2**63 from a few non-negative ints."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class SeededItems(Dataset):
    """``dataset[index]`` computed with torch's global generator seeded by the sample's key.

    Items are requested as ``(index, key)`` pairs (what :class:`SeededShuffle` yields); the global
    generator's state outside the call is left as it was.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index_and_key: tuple[int, int]) -> Any:
        index, key = index_and_key
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(key)
            return self.dataset[index]


class ResumableLoader(DataLoader):
    """Shuffled training batches of ``dataset`` (drop_last) that resume mid-epoch.

    Args:
        dataset: the training set; random augmentation inside it must draw from torch's global
            generator (it is seeded per sample).
        batch_size: samples per batch on this rank.
        seed: the run's data seed.
        num_replicas, rank: DDP world size and rank (1 and 0 without DDP).
        **loader_options: other ``DataLoader`` arguments (``num_workers``, ``pin_memory``, ...).

    Before each epoch, ``loader.sampler.set_epoch(epoch)`` (Lightning calls it).
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 **loader_options: Any) -> None:
        sampler = SeededShuffle(len(dataset), seed, num_replicas, rank)
        if len(sampler) < batch_size:
            raise ValueError(f"ResumableLoader: {len(sampler)} samples per rank make no batch of {batch_size}")
        super().__init__(SeededItems(dataset), batch_size=batch_size, sampler=sampler, drop_last=True,
                         **loader_options)
        self.batches_drawn = 0
        self._resume_at: int | None = None

    def __iter__(self) -> Iterator[Any]:
        skip, self._resume_at = self._resume_at or 0, None
        self.sampler.start = skip * self.batch_size
        self.batches_drawn = skip
        for batch in super().__iter__():
            self.batches_drawn += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Where the run stands in the current epoch (saved in Lightning checkpoints)."""
        return {"epoch": int(self.sampler.epoch), "batches_drawn": int(self.batches_drawn)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Make the next pass continue the saved epoch after its ``batches_drawn`` batches."""
        if set(state) != {"epoch", "batches_drawn"}:
            raise ValueError(f"ResumableLoader.load_state_dict: expected keys epoch, batches_drawn; got {sorted(state)}")
        self.sampler.set_epoch(int(state["epoch"]))
        self._resume_at = int(state["batches_drawn"])
