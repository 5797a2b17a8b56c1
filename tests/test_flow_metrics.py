"""Flow metrics against numbers computed by hand, and their distributed reduction."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from datamodules.flow.metrics import EndPointError, FlAll, PixelAccuracy


def _case():
    """Two 1x3 images. End-point errors: image 0: 5, 0, 4 (|gt| 0, 10, 100); image 1: 1, 2.5, invalid."""
    target = torch.tensor([[[0.0, 10.0, 100.0], [0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    pred = torch.tensor([[[3.0, 10.0, 100.0], [4.0, 0.0, 4.0]], [[0.0, 0.0, float("nan")], [1.0, 2.5, 0.0]]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    return pred[:, :, None], target[:, :, None], valid[:, None]  # (B, 2, 1, 3), (B, 2, 1, 3), (B, 1, 3)


# Metrics are built inside each test (parametrised by their constructors): one built at
# collection time would carry its state from test to test.
@pytest.mark.parametrize(
    "make, expected",
    [
        (EndPointError, 12.5 / 5),
        (partial(EndPointError, average="image"), (9 / 3 + 3.5 / 2) / 2),
        # Outlier: EPE > 3 and > 5 % of |gt|. Only image 0's first pixel (5 px at |gt| 0);
        # its third (4 px at |gt| 100) is within 5 %.
        (FlAll, 100 * 1 / 5),
        (partial(FlAll, average="image"), 100 * (1 / 3 + 0) / 2),
        (partial(PixelAccuracy, 1), 1 / 5),
        (partial(PixelAccuracy, 3), 3 / 5),
        (partial(PixelAccuracy, 5), 4 / 5),  # strictly below: the 5 px error does not count
        (partial(PixelAccuracy, 3, average="image"), (1 / 3 + 2 / 2) / 2),
        (partial(PixelAccuracy, 0.5), 1 / 5),  # thresholds below 1 px are allowed
    ],
)
def test_hand_computed_values(make, expected):
    metric = make()
    metric.update(*_case())
    assert math.isclose(metric.compute().item(), expected, rel_tol=1e-12)


def _one_pixel(error: float, magnitude: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1x1 flow pair: ground truth (0, magnitude), prediction off by ``error`` px along x."""
    target = torch.tensor([0.0, magnitude]).view(1, 2, 1, 1)
    return target + torch.tensor([error, 0.0]).view(1, 2, 1, 1), target


@pytest.mark.parametrize(
    "error, magnitude, outlier",
    [
        (3.0, 0.0, False),    # the devkit's "> 3 px": 3 px exactly is not an outlier
        (3.5, 0.0, True),     # above 3 px where |gt| = 0
        (4.0, 100.0, False),  # above 3 px but not above 5 % of |gt| = 5 px
        (5.0, 100.0, False),  # 5 % exactly is not above 5 %
        (5.05, 100.0, True),  # just above 5 %: the relative factor is 0.05, not more
        (10.0, 100.0, True),  # well above 5 % (and below |gt|)
        (2.9, 20.0, False),   # above 5 % (1 px) but not above 3 px
    ],
)
def test_fl_all_outlier_is_above_3_px_and_above_5_percent_of_the_true_flow(error, magnitude, outlier):
    """KITTI devkit: outlier = (E > 3) and (E / |F_gt| > 0.05), E the end-point error."""
    metric = FlAll()
    metric.update(*_one_pixel(error, magnitude))
    assert metric.compute().item() == (100.0 if outlier else 0.0)


def test_image_average_skips_images_without_valid_pixels():
    """Per-image means over images with 1 and 2 valid pixels; the image without any is left out."""
    target, pred = torch.zeros(3, 2, 1, 2), torch.zeros(3, 2, 1, 2)
    pred[:, 0] = torch.tensor([[[float("nan"), 1.0]], [[2.0, 7.0]], [[3.0, 5.0]]])  # errors along x
    valid = torch.tensor([[[False, False]], [[True, False]], [[True, True]]])
    per_image = EndPointError(average="image")
    per_image.update(pred, target, valid)
    assert per_image.compute().item() == (2.0 + (3.0 + 5.0) / 2) / 2
    per_pixel = EndPointError()
    per_pixel.update(pred, target, valid)
    assert per_pixel.compute().item() == (2.0 + 3.0 + 5.0) / 3


def test_sums_are_kept_in_float64():
    """Errors of float32 0.1 px: the mean is that float32 value to double precision."""
    pred, target = torch.full((1, 2, 1, 3), 0.0), torch.zeros(1, 2, 1, 3)
    pred[:, 0] = 0.1
    metric = EndPointError()
    metric.update(pred, target)
    metric.update(pred, target)
    assert math.isclose(metric.compute().item(), float(np.float32(0.1)), rel_tol=1e-15)


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
    assert math.isnan(empty.compute().item()) and empty.compute().dtype == torch.float64


def test_metric_options_reach_torchmetrics():
    """Keyword arguments other than ours are torchmetrics' own (here: no sync at compute)."""
    for metric in (EndPointError(sync_on_compute=False), FlAll(sync_on_compute=False),
                   PixelAccuracy(3.0, sync_on_compute=False)):
        assert metric.sync_on_compute is False


def test_bad_shapes_and_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        EndPointError().update(torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), None)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        EndPointError().update(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 2), torch.ones(1, 1, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="average"):
        FlAll(average="sequence")
    with pytest.raises(ValueError, match="threshold"):
        PixelAccuracy(0)
