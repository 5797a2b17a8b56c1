"""The flow half of ``zoo demo``: bundled pwcnet.synth on a rendered pair, files and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from benchmarks.pwcnet_synth_eval import synthetic_figures, synthetic_name
from datamodules.flow.formats import read_flow
from datamodules.flow.synthetic import SyntheticFlow
from zoo.cli.demo_flow import DEMO_RECIPE, DEMO_SEED, DEMO_SIZE, flow_demo


def test_flow_demo_writes_flow_and_figure_and_reports_the_epe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # the bundled weights need no download
    result = flow_demo(tmp_path / "demo")
    flow, valid = read_flow(result["flo"])
    assert result["flo"] == tmp_path / "demo" / "flow.flo" and flow.shape == (*DEMO_SIZE, 2) and valid.all()
    truth = SyntheticFlow(size=DEMO_SIZE, length=1, seed=DEMO_SEED, recipe=DEMO_RECIPE)[0]["flow"].permute(1, 2, 0).double().numpy()
    # the figures come from the written flow and an independently rendered ground truth
    assert abs(result["epe"] - np.linalg.norm(flow - truth, axis=-1).mean()) < 1e-4
    assert abs(result["zero_flow_epe"] - np.linalg.norm(truth, axis=-1).mean()) < 1e-4
    # the figure is the bundled model's own on that pair, as the evaluation that made its published
    # figures computes it (tests/test_pwcnet_synth_figures.py pins those to the weight file)
    name = synthetic_name(DEMO_SIZE, DEMO_SEED, 1, DEMO_RECIPE)
    expected = synthetic_figures(zoo.load("pwcnet.synth"), pairs=1, seed=DEMO_SEED, size=DEMO_SIZE, recipe=DEMO_RECIPE)
    assert result["epe"] == pytest.approx(expected[f"{name}_epe"], abs=1e-5)
    assert result["zero_flow_epe"] == pytest.approx(expected[f"{name}_zero_flow_epe"], abs=1e-5)
    assert result["max_true_flow"] > 0
    with Image.open(result["png"]) as png:
        assert png.size == (2 * DEMO_SIZE[1], 2 * DEMO_SIZE[0]) and png.mode == "RGB"


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
    flow_demo(tmp_path, weights="pwcnet.synth")  # other weights than the bundled default: no figures of theirs
    assert "published figures" not in capsys.readouterr().out
