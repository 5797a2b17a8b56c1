"""ResumableLoader: seeded epoch orders, per-sample seeding, DDP shares, mid-epoch resumption."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from zoo.datamodules.resumable_loader import ResumableLoader, SeededItems, SeededShuffle


class _RandomItems(Dataset):
    """Item i is (i, a draw from torch's global generator): the shape of an augmented dataset."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index), float(torch.rand(()))])


def _indices(sampler: SeededShuffle) -> list[int]:
    return [index for index, _ in sampler]


def test_epoch_orders_are_seeded_permutations():
    sampler = SeededShuffle(10, seed=3)
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(_indices(sampler)) == list(range(10))
    assert list(sampler) == first  # a pure function of (seed, epoch)
    again = SeededShuffle(10, seed=3)
    again.set_epoch(0)
    assert list(again) == first
    sampler.set_epoch(1)
    assert _indices(sampler) != [index for index, _ in first]
    assert len({key for _, key in first}) == 10 and all(0 <= key < 2**63 for _, key in first)
    other_seed = SeededShuffle(10, seed=4)
    other_seed.set_epoch(0)
    assert list(other_seed) != first


def test_ranks_share_an_epoch_without_overlap():
    whole = SeededShuffle(11, seed=0)
    shares = [SeededShuffle(11, seed=0, num_replicas=3, rank=r) for r in range(3)]
    for sampler in (whole, *shares):
        sampler.set_epoch(2)
    order = list(whole)
    assert [len(s) for s in shares] == [3, 3, 3]  # 11 // 3 each, the remainder dropped
    for rank, share in enumerate(shares):
        assert list(share) == order[rank:9:3]  # same keys as the single-process order
    with pytest.raises(ValueError, match="seed must be a non-negative"):
        SeededShuffle(4, seed=-1)
    with pytest.raises(ValueError, match="2 samples cannot be shared by 3 ranks"):
        SeededShuffle(2, num_replicas=3, rank=0)


def test_seeded_items_ignore_and_keep_the_global_generator():
    items = SeededItems(_RandomItems())
    torch.manual_seed(0)
    a = items[(4, 123)]
    torch.manual_seed(99)
    assert torch.equal(items[(4, 123)], a) and a[0] == 4
    torch.manual_seed(123)
    assert a[1] == torch.rand(())  # the item's draw is the first draw after seeding with its key
    state = torch.get_rng_state()
    items[(5, 7)]
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is untouched
    assert not torch.equal(items[(4, 124)], a)


def _epoch(loader: ResumableLoader, epoch: int, stop_after: int | None = None) -> list[torch.Tensor]:
    loader.sampler.set_epoch(epoch)
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == stop_after:
            break
    return batches


def test_a_restored_loader_continues_the_epoch_exactly():
    uninterrupted = ResumableLoader(_RandomItems(), batch_size=3, seed=1)
    assert len(uninterrupted) == 3  # 10 // 3, the last partial batch dropped
    reference = _epoch(uninterrupted, 0) + _epoch(uninterrupted, 1)
    assert len({float(b[0, 1]) for b in reference}) == len(reference)

    killed = ResumableLoader(_RandomItems(), batch_size=3, seed=1)
    _epoch(killed, 0)
    seen = _epoch(killed, 1, stop_after=1)
    state = killed.state_dict()
    assert state == {"epoch": 1, "batches_drawn": 1, "batch_size": 3, "length": 10, "seed": 1, "num_replicas": 1}

    torch.manual_seed(1234)  # the restarted process has another global generator state
    resumed = ResumableLoader(_RandomItems(), batch_size=3, seed=1)
    resumed.load_state_dict(state)
    rest = _epoch(resumed, 1)  # Lightning sets the restored epoch before iterating
    assert len(rest) == 2 and resumed.batches_drawn == 3
    for got, want in zip(seen + rest, reference[3:]):
        assert torch.equal(got, want)
    assert len(_epoch(resumed, 2)) == 3  # the next epoch starts from its beginning
    with pytest.raises(ValueError, match="expected keys epoch, batches_drawn"):
        resumed.load_state_dict({"epoch": 1})


def test_worker_processes_give_the_same_batches():
    single = _epoch(ResumableLoader(_RandomItems(), batch_size=2, seed=5), 0)
    workers = _epoch(ResumableLoader(_RandomItems(), batch_size=2, seed=5, num_workers=2), 0)
    assert len(single) == len(workers) == 5
    for a, b in zip(single, workers):
        assert torch.equal(a, b)
