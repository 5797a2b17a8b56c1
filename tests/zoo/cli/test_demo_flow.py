"""The flow half of ``zoo demo``: bundled pwcnet.synth on a rendered pair, files and figures."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

import zoo
from benchmarks.pwcnet_synth_eval import synthetic_figures, synthetic_name
from zoo.cli.demo_flow import (
    DEMO_RECIPE,
    DEMO_SCENES,
    DEMO_SEED,
    DEMO_SIZE,
    EPE_CLIP,
    baseline_wins,
    flow_demo,
    flow_picture,
)
from zoo.datamodules.flow.formats import read_flow
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.datamodules.flow.visualize import flow_to_color


def test_flow_demo_writes_flow_and_figure_and_reports_the_epe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # the bundled weights need no download
    result = flow_demo(tmp_path / "demo")
    flow, valid = read_flow(result["flo"])
    assert result["flo"] == tmp_path / "demo" / "flow.flo" and flow.shape == (*DEMO_SIZE, 2) and valid.all()
    truth = SyntheticFlow(size=DEMO_SIZE, length=1, seed=DEMO_SEED, recipe=DEMO_RECIPE, scenes=DEMO_SCENES)[0]["flow"].permute(1, 2, 0).double().numpy()
    # the figures come from the written flow and an independently rendered ground truth
    assert abs(result["epe"] - np.linalg.norm(flow - truth, axis=-1).mean()) < 1e-4
    assert abs(result["zero_flow_epe"] - np.linalg.norm(truth, axis=-1).mean()) < 1e-4
    # the figure is the bundled model's own on that pair, as the evaluation that made its published
    # figures computes it (tests/zoo/catalog/test_pwcnet_synth_figures.py pins those to the weight file)
    name = synthetic_name(DEMO_SIZE, DEMO_SEED, 1, DEMO_RECIPE)
    expected = synthetic_figures(zoo.load("pwcnet.synth"), pairs=1, seed=DEMO_SEED, size=DEMO_SIZE, recipe=DEMO_RECIPE,
                                 baselines=True, scenes=DEMO_SCENES)
    assert result["epe"] == pytest.approx(expected[f"{name}_epe"], abs=1e-5)
    assert result["zero_flow_epe"] == pytest.approx(expected[f"{name}_zero_flow_epe"], abs=1e-5)
    assert result["dis_epe"] == pytest.approx(expected[f"{name}_dis_epe"], abs=1e-5)
    # the pair moves as real footage does (the held-out sets' zero-flow EPE: 5.6-14 px), not ~1 px
    assert result["zero_flow_epe"] > 5 and result["max_true_flow"] > 20
    assert result["max_true_flow"] > 0
    with Image.open(result["png"]) as png:
        assert png.size == (2 * DEMO_SIZE[1], 3 * DEMO_SIZE[0]) and png.mode == "RGB"
    # the frames the README's `zoo flow demo/frame1.png demo/frame2.png` line reads: the rendered pair in 8 bits
    pair = SyntheticFlow(size=DEMO_SIZE, length=1, seed=DEMO_SEED, recipe=DEMO_RECIPE, scenes=DEMO_SCENES)[0]
    for number, key in ((1, "image1"), (2, "image2")):
        frame = np.asarray(Image.open(tmp_path / "demo" / f"frame{number}.png")).astype(np.float64) / 255
        assert frame.shape == (*DEMO_SIZE, 3) and np.abs(frame - pair[key].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-6


def test_flow_picture_draws_both_flows_on_the_true_flows_scale_and_the_error_map() -> None:
    height, width = 64, 96
    truth = np.zeros((height, width, 2))
    truth[..., 0] = 4.0                                  # 4 px to the right everywhere
    truth[40:, :, 1] = 3.0                               # the largest magnitude: 5 px
    pred = truth.copy()
    pred[:40, 48:, 0] = 6.0                              # top right 2 px too long: 6 px, over the true 5
    frames = [np.zeros((height, width, 3), np.uint8), np.full((height, width, 3), 255, np.uint8)]
    picture = flow_picture(frames, pred, truth, "predicted")
    assert picture.shape == (3 * height, 2 * width, 3)
    below_label = slice(20, None)                        # the labels sit in the panels' top strips
    scale = flow_to_color(truth, max_radius=5.0)
    np.testing.assert_array_equal(picture[height:2 * height][below_label, :width],
                                  flow_to_color(pred, max_radius=5.0)[below_label])
    np.testing.assert_array_equal(picture[height:2 * height][below_label, width:], scale[below_label])
    # where prediction and truth agree, both panels show the same colour
    np.testing.assert_array_equal(picture[height + 30, 10], picture[height + 30, width + 10])
    error = picture[2 * height:, :width, 0]
    assert (error[below_label, :48] == 0).all() and (error[40:, 48:] == 0).all()
    assert (error[below_label][:20, 48:] == round(2 / EPE_CLIP * 255)).all()
    np.testing.assert_array_equal(picture[30, :width][10], frames[0][30, 10])


def test_baseline_wins_lists_each_figure_the_baseline_beats(monkeypatch) -> None:
    from zoo.cli import demo_flow

    metrics = {"a": {"epe": 2.0, "dis-medium epe": 1.5, "zero-flow epe": 9.0},
               "b": {"epe": 1.0, "dis-medium epe": 1.5, "warping error": 3.0, "dis-medium warping error": 2.0}}
    monkeypatch.setattr(demo_flow, "weights_info", lambda name: SimpleNamespace(metrics=metrics))
    assert baseline_wins("x") == ["a epe 1.500 vs 2.000", "b warping error 2.000 vs 3.000"]


def test_flow_demo_prints_the_published_figures_of_the_bundled_weights(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    flow_demo(tmp_path)
    printed = capsys.readouterr().out.splitlines()
    metrics = zoo.weights_info("pwcnet.synth").metrics
    assert metrics
    for dataset, figures in metrics.items():
        line = next(line for line in printed if line.strip().startswith(f"{dataset}:"))
        for metric, value in figures.items():
            assert f"{metric} {value:.3f}" in line, (dataset, metric)
    # the record's own figures say where the classical baseline wins (pwcnet.synth: 3 of them today)
    wins = baseline_wins("pwcnet.synth")
    assert wins and all(win in next(line for line in printed if line.startswith("OpenCV's DIS")) for win in wins)
    flow_demo(tmp_path, weights="pwcnet.synth")  # other weights than the bundled default: no figures of theirs
    assert "published figures" not in capsys.readouterr().out
