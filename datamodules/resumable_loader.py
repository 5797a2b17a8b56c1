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
  checkpoints; a restored loader skips that many batches of the epoch. The state also holds the
  batch size, seed, dataset length and number of ranks: resuming with any of them changed would
  skip or repeat samples, and is refused.
* :func:`apply_restored_state`, called by the training modules' ``on_train_start``, makes sure the
  state reaches the loader even where the loader was built before the checkpoint was restored.

The count is exact because Lightning does not fetch ahead from a loader whose length it knows;
worker processes prefetch, but a prefetched batch is only counted once it is handed out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

if TYPE_CHECKING:
    import pytorch_lightning as pl

__all__ = ["ResumableLoader", "SeededItems", "SeededShuffle", "apply_restored_state"]


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
        self._resume_at: tuple[int, int] | None = None  # (epoch, batches drawn) of a restored state

    def __iter__(self) -> Iterator[Any]:
        # a checkpoint saved as its epoch ended resumes with the next epoch (Lightning sets it), from its start
        resume, self._resume_at = self._resume_at, None
        skip = resume[1] if resume is not None and resume[0] == self.sampler.epoch else 0
        self.sampler.start = skip * self.batch_size
        self.batches_drawn = skip
        for batch in super().__iter__():
            self.batches_drawn += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """Where the run stands in the current epoch, and what fixes the epoch's order and batches
        (saved in Lightning checkpoints; :meth:`load_state_dict` checks them)."""
        sampler = self.sampler
        return {"epoch": int(sampler.epoch), "batches_drawn": int(self.batches_drawn),
                "batch_size": int(self.batch_size), "length": len(sampler.dataset), "seed": int(sampler.seed),
                "num_replicas": int(sampler.num_replicas)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Make the next pass continue the saved epoch after its ``batches_drawn`` batches (a pass
        over another epoch, which Lightning sets where the checkpoint was saved as its epoch ended,
        starts at that epoch's first batch).

        Raises:
            ValueError: the state is not one of a ResumableLoader, or it was saved with another
                batch size, data seed, dataset length or number of ranks: the saved position would
                then name other samples, and the run would skip or repeat some of them.
        """
        keys = set(state)
        if keys != set(_STATE_KEYS) and keys != set(_STATE_KEYS[:2]):  # the first two: zoo 0.1 checkpoints
            raise ValueError(f"ResumableLoader.load_state_dict: expected keys {', '.join(_STATE_KEYS)}; "
                             f"got {', '.join(sorted(map(str, state)))}")
        here = self.state_dict()
        changed = [f"{_STATE_OPTION[key]} {state[key]} -> {here[key]}" for key in _STATE_KEYS[2:]
                   if key in state and int(state[key]) != here[key]]
        if changed:
            raise ValueError(f"cannot resume the training data mid-epoch ({state['batches_drawn']} batches into epoch "
                             f"{state['epoch']}): the checkpoint was saved with other data settings "
                             f"({'; '.join(changed)}), so its position would skip or repeat samples; resume with "
                             "the checkpoint's settings, or start a new run (fine-tune from its weights)")
        self.sampler.set_epoch(int(state["epoch"]))
        self._resume_at = (int(state["epoch"]), int(state["batches_drawn"]))


_STATE_KEYS = ("epoch", "batches_drawn", "batch_size", "length", "seed", "num_replicas")
#: how a user sets each checked field
_STATE_OPTION = {"batch_size": "batch size (--data.batch_size)", "length": "training samples",
                 "seed": "data seed", "num_replicas": "ranks (devices x nodes)"}


def apply_restored_state(trainer: pl.Trainer) -> None:
    """Hand the training loader the state the checkpoint holds, where Lightning has not yet.

    Lightning gives a loader its saved state only when it builds the loader after restoring the
    checkpoint. Anything that builds it earlier (reading ``trainer.estimated_stepping_batches``
    in ``configure_optimizers``, as NVAE's schedule does) leaves the state unused, and the resumed
    epoch restarts at its first batch. Call from ``on_train_start``: the checkpoint is restored by
    then and no batch is drawn yet; where the state was already applied this does nothing.
    """
    trainer.fit_loop._load_combined_loader_states()
