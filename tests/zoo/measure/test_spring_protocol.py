"""The Spring protocol: a frame-resolution prediction scored against the 2x ground truth as the
Spring benchmark scores it (springwebsite ``evaluation.py``, ``get_errors_flow``): hand-derived
cases and an independent numpy re-statement of the benchmark's formulas."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from tests.support.spring_tree import make_spring, write_flo5_h5py
from zoo.cli import main
from zoo.datamodules.flow.datasets import Spring
from zoo.datamodules.flow.metrics import AngularError, FlAll, OutlierRate
from zoo.measure.evaluation import evaluate_flow, flow_protocol, open_flow_dataset

NAN = np.nan
# frame pixel j of a 1 x 4 frame -> its 2x2 block of the 2 x 8 ground truth, in the order
# (row 0, col 2j), (row 1, col 2j), (row 0, col 2j + 1), (row 1, col 2j + 1); and the prediction
BLOCKS = [
    [(0, 0), (2, 0), (0, 1), (10, 0)],    # predicted (1, 0): errors 1, 1, 1.41, 9 -> e = 1
    [(0, 0), (0, 0), (0, 0), (200, 0)],   # predicted (4, 0): e = 4 > 3 but <= 5 % of the longest (10)
    [(5, 5), (NAN, 0), (5, 5), (5, 5)],   # one NaN: not scored
    [(3, 4), (3, 4), (3, 4), (3, 4)],     # predicted (0, 0): e = 5 > 3 and > 5 % of 5
]
PREDICTION = [(1, 0), (4, 0), (-7, 3), (0, 0)]


def _hand_tree(root: Path) -> Path:
    make_spring(root, {"0045": 2, "0047": 2}, size=(1, 4))
    truth = np.zeros((2, 8, 2), np.float32)
    for j, block in enumerate(BLOCKS):
        for (dy, dx), value in zip([(0, 0), (1, 0), (0, 1), (1, 1)], block, strict=True):
            truth[dy, 2 * j + dx] = value
    for scene in ("0045", "0047"):
        for camera in ("left", "right"):
            for name in (f"flow_FW_{camera}/flow_FW_{camera}_0001.flo5", f"flow_BW_{camera}/flow_BW_{camera}_0002.flo5"):
                write_flo5_h5py(root / "train" / scene / name, truth)
    return root


def _constant(flow) -> callable:
    field = torch.tensor(flow, dtype=torch.float32).T[:, None, :]  # (2, 1, W)
    return lambda image1, image2: field[None].clone()


def _wauc_share(error: float) -> float:
    """sum of w_i over thresholds delta_i = i / 20 >= error, over sum of all w_i (w_i = 1 - (i - 1) / 100)."""
    weights = {i: 1 - (i - 1) / 100 for i in range(1, 101)}
    return sum(w for i, w in weights.items() if error <= i / 20) / sum(weights.values())


def test_spring_protocol_by_hand(tmp_path: Path) -> None:
    """Scored pixels have e = 1, 4, 5 (the NaN block is left out), in both pairs:
    EPE 10 / 3; 1px (e > 1) 2 / 3; Fl 1 / 3 (the 4 px pixel is within 5 % of its longest value,
    200 px: ptlflow's length of the closest value, 0 px, would count it); WAUC pooled. Eight pairs
    (scenes 0045 and 0047, both cameras, forward and backward) hold the same blocks."""
    with open_flow_dataset("spring", str(_hand_tree(tmp_path / "spring").parent)) as dataset:
        assert {s.sequence for s in dataset.samples} == {"0045", "0047"} and len(dataset) == 8
        rows = evaluate_flow(_constant(PREDICTION), dataset, flow_protocol("spring"))
    values = {row.metric: row.value for row in rows}
    assert [row.dataset for row in rows] == ["spring-val"] * 4 and rows[0].count == 8
    assert values["epe"] == pytest.approx(10 / 3, rel=1e-12)
    assert values["1px"] == pytest.approx(100 * 2 / 3, rel=1e-12)
    assert values["fl-all"] == pytest.approx(100 * 1 / 3, rel=1e-12)
    expected_wauc = 100 * (_wauc_share(1) + _wauc_share(4) + _wauc_share(5)) / 3
    assert expected_wauc == pytest.approx(100 * (33.21 + 2.31 + 0.01) / (3 * 50.5), rel=1e-12)
    assert values["wauc"] == pytest.approx(expected_wauc, rel=1e-12)


def _benchmark_flow_errors(submission: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """The benchmark's flow errors re-stated in numpy: ``submission`` (N, 2), ``gt`` (N, 4, 2) with NaN."""
    epe = np.linalg.norm((gt - submission[:, None, :]).astype(np.float64), axis=2).min(axis=1)  # NaN passes
    scored = ~np.isnan(epe)
    with np.errstate(invalid="ignore"):
        longest = np.linalg.norm(gt.astype(np.float64), axis=-1).max(axis=1)
        fl = (epe > 3) & (epe > 0.05 * longest)
        wauc = sum((1 - (i - 1) / 100) * (epe <= i / 20).sum() for i in range(1, 101))
    return {"epe": float(np.nanmean(epe)), "fl-all": 100 * fl.sum() / scored.sum(),
            "1px": 100 * (epe > 1).sum() / scored.sum(),
            "wauc": 100 * wauc / (scored.sum() * sum(1 - (i - 1) / 100 for i in range(1, 101)))}


def test_spring_protocol_matches_the_benchmarks_formulas_on_random_pairs(tmp_path: Path) -> None:
    """Four pairs of 6 x 8 frames (both directions, NaN in the ground truth, the first pair's top
    rows without any), a random prediction per pair: every row equals the benchmark's formulas over all (N, 4, 2) blocks pooled.

    Tolerance 1e-6 relative: the zoo takes differences in float32, the reference in float64; the
    ground truth is on a 1/8 px grid and the predictions continuous, so no error lies within
    float32 rounding of a threshold."""
    root = make_spring(tmp_path / "spring", {"0045": 2, "0047": 2}, cameras=("left",))
    dataset = Spring(root, scenes=["0045", "0047"], cameras=("left",), full_ground_truth=True)
    with h5py.File(dataset.samples[0].flow, "r+") as file:  # pairs with unequal counts: pooled != per pair
        file["flow"][:5] = np.nan
    rng = np.random.default_rng(0)
    predictions = [torch.from_numpy(rng.normal(0, 4, (1, 2, 6, 8)).astype(np.float32)) for _ in dataset.samples]
    calls = iter(predictions)
    rows = evaluate_flow(lambda a, b: next(calls), dataset, flow_protocol("spring"))

    submission, blocks = [], []
    for sample, pred in zip(dataset.samples, predictions, strict=True):
        with h5py.File(sample.flow, "r") as file:
            truth = file["flow"][()]
        blocks.append(np.stack([truth[0::2, 0::2], truth[1::2, 0::2], truth[0::2, 1::2], truth[1::2, 1::2]], 2)
                      .reshape(-1, 4, 2))
        submission.append(pred[0].permute(1, 2, 0).reshape(-1, 2).numpy())
    expected = _benchmark_flow_errors(np.concatenate(submission), np.concatenate(blocks))
    assert np.isnan(np.concatenate(blocks)).any()
    for row in rows:
        assert row.value == pytest.approx(expected[row.metric], rel=1e-6), row.metric


def test_metrics_take_k_values_per_pixel() -> None:
    """The smallest of the K errors, Fl's length the largest of the K; outliers strictly above 1 px."""
    pred = torch.zeros(1, 2, 1, 2)
    target = torch.tensor([[[[4.0, 1.0]], [[0.0, 0.0]]], [[[5.0, 200.0]], [[0.0, 0.0]]]])[None]  # (1, K=2, 2, 1, 2)
    fl = FlAll()
    fl.update(pred, target)
    assert fl.compute() == pytest.approx(50.0)  # pixel 0: e = 4 > 3, > 5 % of 5; pixel 1: e = 1
    rate = OutlierRate()
    rate.update(pred, target)
    assert rate.compute() == pytest.approx(50.0)  # e = 1 is not above 1 px
    with pytest.raises(ValueError, match=r"\(B, K, 2, H, W\)"):
        FlAll().update(pred, torch.zeros(1, 2, 2, 1, 3))
    with pytest.raises(ValueError, match="one ground-truth value per pixel"):
        AngularError().update(pred, target)


def test_eval_command_runs_the_spring_protocol(tmp_path: Path, capsys) -> None:
    """``zoo eval pwcnet.synth --data spring`` reads ``<data dir>/spring`` and prints the four rows."""
    _hand_tree(tmp_path / "data" / "spring")
    assert main(["eval", "pwcnet.synth", "--data", "spring", "--data-dir", str(tmp_path / "data")]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = {tuple(line.split()[1:3]) for line in lines if line.startswith("spring-val")}
    assert found == {("epe", "px"), ("1px", "%"), ("fl-all", "%"), ("wauc", "%")}
