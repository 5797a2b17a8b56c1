"""Flow metrics against numbers computed by hand, and their distributed reduction."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from zoo.datamodules.flow.metrics import (
    EndPointError,
    FlAll,
    PixelAccuracy,
    WeightedAreaUnderCurve,
    end_point_error,
    occlusion_split,
)


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


@pytest.mark.parametrize("make", [EndPointError, FlAll, lambda: PixelAccuracy(3.0), lambda: FlAll(average="image"),
                                  WeightedAreaUnderCurve, lambda: WeightedAreaUnderCurve(average="pixel")])
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
                   PixelAccuracy(3.0, sync_on_compute=False), WeightedAreaUnderCurve(sync_on_compute=False)):
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
    with pytest.raises(ValueError, match="average"):
        WeightedAreaUnderCurve(average="sequence")
    with pytest.raises(ValueError, match=r"occluded must be a \(B, H, W\) bool mask"):
        occlusion_split(None, torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match=r"valid must have the shape of occluded \(1, 2, 2\)"):
        occlusion_split(torch.ones(1, 2, 3, dtype=torch.bool), torch.ones(1, 2, 2, dtype=torch.bool))


# --- WAUC --------------------------------------------------------------------------------------
# sum_i w_i = sum_{i=1..100} (1 - (i - 1) / 100) = 100 - 4950 / 100 = 50.5. A pixel with error e
# counts w_i for every threshold delta_i = i / 20 >= e.


def _errors_along_x(errors, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1xN image pair whose end-point errors are ``errors`` (px) exactly: (1, 2, 1, N) pred and target."""
    target = torch.zeros(1, 2, 1, len(errors), dtype=dtype)
    pred = target.clone()
    pred[0, 0, 0] = torch.tensor(errors, dtype=dtype)
    return pred, target


@pytest.mark.parametrize(
    "error, expected",
    [
        (0.0, 100.0),                # within every threshold
        (0.05, 100.0),               # on the first threshold: "<=" counts it
        (0.0501, 100 * 49.5 / 50.5),  # misses delta_1 only: 50.5 - w_1 = 49.5
        (1.0, 100 * 33.21 / 50.5),   # within delta_20 .. delta_100: sum_{k=1..81} k / 100 = 33.21
        (5.0, 100 * 0.01 / 50.5),    # on the last threshold only: w_100 = 0.01
        (5.01, 0.0),                 # beyond 5 px
        (1e3, 0.0),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_wauc_of_one_pixel_by_hand(error, expected, dtype):
    """float32 errors are compared with the thresholds rounded to float32, as ptlflow's ``epe <= i / 20``."""
    metric = WeightedAreaUnderCurve()
    metric.update(*_errors_along_x([error], dtype))
    assert math.isclose(metric.compute().item(), expected, rel_tol=1e-12, abs_tol=1e-12)


def test_wauc_of_an_image_is_the_mean_over_its_pixels():
    """Errors 0.05, 0.0501, 5, 5.01 px: (100 + 100 * 49.5 / 50.5 + 100 * 0.01 / 50.5 + 0) / 4
    = (100 + 9900 / 101 + 2 / 101) / 4 = 20002 / 404 = 49.5099...%."""
    metric = WeightedAreaUnderCurve()
    metric.update(*_errors_along_x([0.05, 0.0501, 5.0, 5.01]))
    assert math.isclose(metric.compute().item(), 20002 / 404, rel_tol=1e-12)


def _wauc_reference(errors: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """ptlflow's formula in float64, one value per image: (B, H, W) errors and mask -> (B,) %."""
    values = []
    for error, mask in zip(errors, valid):
        inside, total_weight = 0.0, 0.0
        for i in range(1, 101):
            weight = 1 - (i - 1) / 100
            inside += weight * np.count_nonzero(error[mask] <= i / 20)
            total_weight += weight
        values.append(100 * inside / (mask.sum() * total_weight))
    return np.array(values)


def _random_case(seed: int = 0, batch: int = 4, size=(6, 7)):
    """Errors spread over 0 .. ~10 px, each image with its own number of valid pixels, NaN where invalid."""
    rng = np.random.default_rng(seed)
    target = rng.normal(0, 10, (batch, 2, *size))
    pred = target + rng.normal(0, 1, (batch, 2, *size)) * rng.uniform(0, 3, (batch, 1, *size))
    valid = rng.random((batch, *size)) < np.linspace(0.2, 0.9, batch)[:, None, None]
    pred[:, 0][~valid] = np.nan
    errors = np.sqrt(((pred - target) ** 2).sum(1))
    return torch.from_numpy(pred), torch.from_numpy(target), torch.from_numpy(valid), errors


def test_wauc_matches_a_numpy_reference_per_image_and_pooled():
    pred, target, valid, errors = _random_case()
    mask = valid.numpy()
    assert len(set(mask.sum((1, 2)))) == len(mask)  # every image has its own number of valid pixels
    assert (errors[mask] < 0.05).any() and (errors[mask] > 5).any()  # both ends of the curve occur
    per_image = _wauc_reference(errors, mask)
    pooled = _wauc_reference(errors[None][:, mask], np.ones((1, mask.sum()), bool))[0]
    assert abs(per_image.mean() - pooled) > 0.1  # the two averagings differ on this case
    image, pixel = WeightedAreaUnderCurve(), WeightedAreaUnderCurve(average="pixel")
    for metric in (image, pixel):
        metric.update(pred[:2], target[:2], valid[:2])
        metric.update(pred[2:], target[2:], valid[2:])
    assert math.isclose(image.compute().item(), per_image.mean(), rel_tol=1e-9)
    assert math.isclose(pixel.compute().item(), pooled, rel_tol=1e-9)


def test_wauc_image_and_pixel_averages_by_hand():
    """Image 0: one valid pixel, error 0 (100 %); image 1: three valid pixels beyond 5 px (0 %);
    the NaN pixels are invalid. Per image (100 + 0) / 2 = 50; pooled 100 / 4 = 25."""
    pred, target = _errors_along_x([0.0, float("nan"), float("nan")])
    pred = torch.cat([pred, _errors_along_x([6.0, 7.0, 8.0])[0]])
    target = torch.cat([target, target])
    valid = torch.tensor([[[True, False, False]], [[True, True, True]]])
    image, pixel = WeightedAreaUnderCurve(), WeightedAreaUnderCurve(average="pixel")
    for metric in (image, pixel):
        metric.update(pred, target, valid)
    assert (image.compute().item(), pixel.compute().item()) == (50.0, 25.0)


# --- occluded / non-occluded pixels -------------------------------------------------------------


def test_occlusion_split_is_the_metric_over_the_masked_pixels_and_pooled_sums_recombine():
    pred, target, valid, errors = _random_case(seed=1)
    occluded = torch.from_numpy(np.random.default_rng(2).random(valid.shape) < 0.3)
    occ, non_occ = occlusion_split(valid, occluded)
    torch.testing.assert_close(occ, valid & occluded, rtol=0, atol=0)
    torch.testing.assert_close(non_occ, valid & ~occluded, rtol=0, atol=0)
    masks = {"occ": occ, "non-occ": non_occ, "all": valid}
    metrics = {region: (EndPointError(), WeightedAreaUnderCurve()) for region in masks}
    for region, mask in masks.items():
        epe, wauc = metrics[region]
        for metric in (epe, wauc):
            metric.update(pred, target, mask)
        assert math.isclose(epe.compute().item(), errors[mask.numpy()].mean(), rel_tol=1e-9)
        assert math.isclose(wauc.compute().item(), _wauc_reference(errors, mask.numpy()).mean(), rel_tol=1e-9)
    # the two regions' pooled sums and counts add up to the whole
    for (occ_metric, non_occ_metric, whole) in zip(*metrics.values()):
        for state in ("pixel_sum", "pixel_count"):
            total = getattr(occ_metric, state) + getattr(non_occ_metric, state)
            assert math.isclose(total.item(), getattr(whole, state).item(), rel_tol=1e-12)
    assert occlusion_split(None, occluded)[0].equal(occluded)
    assert occlusion_split(None, occluded)[1].equal(~occluded)


def test_end_point_error_is_the_euclidean_distance():
    pred, target = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1), torch.zeros(1, 2, 1, 1)
    assert end_point_error(pred, target).item() == 5.0
