"""Flow metrics against numbers computed by hand, and their distributed reduction."""

from __future__ import annotations

import math

import pytest
import torch

from datamodules.flow.metrics import EndPointError, FlAll, PixelAccuracy


def _case():
    """Two 1x3 images. End-point errors: image 0: 5, 0, 4 (|gt| 0, 10, 100); image 1: 1, 2.5, invalid."""
    target = torch.tensor([[[0.0, 10.0, 100.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    pred = torch.tensor([[[3.0, 10.0, 100.0], [4.0, 0.0, 4.0]], [[0.0, 0.0, float("nan")], [1.0, 2.5, 0.0]]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    return pred[:, :, None], target[:, :, None], valid[:, None]  # (B, 2, 1, 3), (B, 2, 1, 3), (B, 1, 3)


@pytest.mark.parametrize(
    "metric, expected",
    [
        (EndPointError(), 12.5 / 5),
        (EndPointError(average="image"), (9 / 3 + 3.5 / 2) / 2),
        # Outlier: EPE > 3 and > 5 % of |gt|. Only image 0's first pixel (5 px at |gt| 0);
        # its third (4 px at |gt| 100) is within 5 %.
        (FlAll(), 100 * 1 / 5),
        (FlAll(average="image"), 100 * (1 / 3 + 0) / 2),
        (PixelAccuracy(1), 1 / 5),
        (PixelAccuracy(3), 3 / 5),
        (PixelAccuracy(5), 4 / 5),  # strictly below: the 5 px error does not count
        (PixelAccuracy(3, average="image"), (1 / 3 + 2 / 2) / 2),
    ],
)
def test_hand_computed_values(metric, expected):
    metric.update(*_case())
    assert math.isclose(metric.compute().item(), expected, rel_tol=1e-12)


def test_batches_accumulate_like_one_batch():
    pred, target, valid = _case()
    whole, split = EndPointError(average="image"), EndPointError(average="image")
    whole.update(pred, target, valid)
    split.update(pred[:1], target[:1], valid[:1])
    split.update(pred[1:], target[1:], valid[1:])
    assert whole.compute() == split.compute()


@pytest.mark.parametrize("make", [EndPointError, FlAll, lambda: PixelAccuracy(3.0), lambda: FlAll(average="image")])
def test_states_reduce_by_sum_so_two_ranks_give_one_process_numbers(make):
    """What DDP does at ``compute``: every state is summed over ranks (each rank saw a shard)."""
    pred, target, valid = _case()
    single, rank0, rank1 = make(), make(), make()
    single.update(pred, target, valid)
    rank0.update(pred[:1], target[:1], valid[:1])
    rank1.update(pred[1:], target[1:], valid[1:])
    assert {f.__name__ for f in rank0._reductions.values()} == {"dim_zero_sum"}
    rank0.merge_state(rank1)
    torch.testing.assert_close(rank0.compute(), single.compute())


def test_valid_defaults_to_every_pixel_and_empty_gives_nan():
    pred, target = torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2)
    pred[0, 0, 0, 0] = 2.0
    metric = EndPointError()
    metric.update(pred, target)
    assert metric.compute().item() == 0.5
    empty = EndPointError()
    empty.update(pred, target, torch.zeros(1, 2, 2, dtype=torch.bool))
    assert math.isnan(empty.compute().item())


def test_bad_shapes_and_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        EndPointError().update(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), None)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        EndPointError().update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="average"):
        FlAll(average="sequence")
    with pytest.raises(ValueError, match="threshold"):
        PixelAccuracy(0)
