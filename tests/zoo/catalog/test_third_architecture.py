"""A third architecture joins the zoo through its own files alone, and every command runs it.

``toyflow`` (tests/support/toyflow_network.py and toyflow_catalog.py) is registered with
``register_catalog``, no library file edited; its flow is one 1x1 convolution of the stacked frames,
so every figure the commands report is recomputed here in float64 with numpy from the weights the
test chose.

Tolerances: the commands compute in float32; a flow value is a sum of 6 products of weights of
magnitude <= 0.75 with pixels in [0, 1], so float32 rounding stays below 1e-6 px; 1e-5 leaves room
for the order of the sums. ``zoo eval --data synthetic`` reads 8-bit PNG frames (rounded, at most
0.5/255 off each channel), so its flow differs from the float frames' by at most
||row L1 norms of W|| * 0.5/255 (:data:`PNG_BOUND`) per pixel, and so does the pooled EPE.
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.support import toyflow_catalog
from zoo.cli import main

#: The toy's weights: u follows the red channels' difference, v the green ones'; (2, 6) and (2,).
WEIGHT = np.array([[0.75, 0.0, 0.0, -0.5, 0.0, 0.0],
                   [0.0, 0.25, 0.0, 0.0, -0.5, 0.125]])
BIAS = np.array([1.5, -2.0])
#: Bound on the flow difference that 8-bit frames cause (module docstring), px.
PNG_BOUND = float(np.linalg.norm(np.abs(WEIGHT).sum(axis=1))) * 0.5 / 255


def _reference_flow(image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
    """(H, W, 2) float64 flow of the toy for (H, W, 3) frames in [0, 1], by hand."""
    stacked = np.concatenate([image1, image2], axis=-1).astype(np.float64)
    return stacked @ WEIGHT.T + BIAS


def _read_flo(path) -> np.ndarray:
    """A Middlebury .flo file as (H, W, 2) float32, read from its definition: magic 202021.25, width, height, data."""
    raw = path.read_bytes()
    assert np.frombuffer(raw[:4], "<f4")[0] == np.float32(202021.25)
    width, height = np.frombuffer(raw[4:12], "<i4")
    return np.frombuffer(raw[12:], "<f4").reshape(height, width, 2)


@pytest.fixture()
def toyflow(monkeypatch, tmp_path):
    """The toy registered for this test, its upstream file imported into the test's cache."""
    from zoo.catalog import registry

    registry.list_models()  # the catalog is loaded before the toy joins it
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(registry._ARCHITECTURES))
    monkeypatch.setattr(registry, "_WEIGHTS", dict(registry._WEIGHTS))
    registry.register_catalog(toyflow_catalog)
    upstream = tmp_path / "upstream.pth"
    torch.save({"weight": torch.tensor(WEIGHT, dtype=torch.float32), "bias": torch.tensor(BIAS, dtype=torch.float32)},
               upstream)
    assert main(["import", "toyflow.mix", str(upstream)]) == 0
    return "toyflow.mix"


def test_zoo_load_builds_the_toy_through_its_converter(toyflow):
    net = zoo.load(toyflow)
    assert type(net).__name__ == "ToyFlow" and net.zoo_record.arch == "toyflow"
    assert sum(p.numel() for p in net.parameters()) == toyflow_catalog.NUM_PARAMS
    np.testing.assert_array_equal(net.mix.weight.detach().numpy()[:, :, 0, 0], WEIGHT.astype(np.float32))
    assert "toyflow.mix" in zoo.list_models("toyflow*", pretrained=True)


def test_zoo_info_shows_what_the_record_says_the_toy_does(toyflow, capsys):
    assert main(["info", "toyflow"]) == 0
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in capsys.readouterr().out.splitlines()
                if line.startswith(("task", "onnx")))
    assert rows == {"task": "optical-flow", "onnx graphs": "flow"}


def test_zoo_flow_runs_the_toy(toyflow, tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (20, 28, 3), dtype=np.uint8) for _ in range(2)]
    paths = [tmp_path / f"frame{i}.png" for i in (1, 2)]
    for frame, path in zip(frames, paths):
        Image.fromarray(frame).save(path)
    out = tmp_path / "flow.flo"
    assert main(["flow", *map(str, paths), "-o", str(out), "--weights", toyflow, "--precision", "float32"]) == 0
    expected = _reference_flow(frames[0] / 255.0, frames[1] / 255.0)
    np.testing.assert_allclose(_read_flo(out), expected, atol=1e-5, rtol=0)


def test_zoo_eval_synthetic_measures_the_toy(toyflow, tmp_path):
    from zoo.datamodules.flow.synthetic import SyntheticFlow
    from zoo.measure.evaluation import HELD_OUT_SEED

    size, pairs = (24, 32), 2
    assert main(["eval", toyflow, "--data", "synthetic", "--synthetic-size", *map(str, size),
                 "--synthetic-pairs", str(pairs), "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "eval-toyflow.mix.json").read_text())["rows"]
    (epe,) = [row["ours"] for row in rows if row["metric"] == "epe"]
    errors, count = 0.0, 0
    for item in SyntheticFlow(size, pairs, seed=HELD_OUT_SEED, recipe="v1"):
        flow = _reference_flow(*(item[k].permute(1, 2, 0).double().numpy() for k in ("image1", "image2")))
        truth = item["flow"].permute(1, 2, 0).double().numpy()
        valid = item["valid"].numpy()
        errors += np.linalg.norm(flow - truth, axis=-1)[valid].sum()
        count += int(valid.sum())
    assert epe == pytest.approx(errors / count, abs=PNG_BOUND + 1e-5)


def test_zoo_benchmark_times_the_toy_as_a_flow_network(toyflow, tmp_path):
    height, width = 16, 24
    assert main(["benchmark", toyflow, "--size", str(height), str(width), "--precision", "float32", "--repeats", "1",
                 "--warmup", "0", "--no-memory", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "benchmark-toyflow.mix.json").read_text())["rows"]
    assert (row["task"], row["size"], row["params"]) == ("flow", f"{height}x{width}", toyflow_catalog.NUM_PARAMS)
    # a 1x1 convolution, 6 -> 2 channels: 2 FLOPs per multiply-add, 12 per pixel
    assert row["gflop"] * 1e9 == pytest.approx(2 * 2 * 6 * height * width)


def test_zoo_export_onnx_of_the_toy_runs_at_free_sizes(toyflow, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="ONNX tests need the export extra: pip install -e '.[test,export]'")
    pytest.importorskip("onnxscript", reason="ONNX export needs the export extra: pip install -e '.[test,export]'")
    path = tmp_path / "toyflow.onnx"
    assert main(["export", toyflow, "--format", "onnx", "--dynamic", "--size", "16", "24", "-o", str(path)]) == 0
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for batch, height, width in ((1, 16, 24), (3, 7, 41)):  # size_multiple 1: any side
        images = [rng.random((batch, 3, height, width), dtype=np.float32) for _ in range(2)]
        (flow,) = session.run(["flow"], {"image1": images[0], "image2": images[1]})
        expected = _reference_flow(*(np.moveaxis(image, 1, -1) for image in images))
        np.testing.assert_allclose(np.moveaxis(flow, 1, -1), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("argv, message", [
    (["sample", "toyflow.mix"], "zoo sample runs image-generation models; 'toyflow' is an optical-flow model"),
    (["eval", "toyflow.mix", "--data", "mnist"], "unknown set(s) mnist for toyflow; known: "),
    (["export", "toyflow.mix", "--format", "onnx", "--part", "sample", "-o", "x.onnx"],
     "--part 'sample' is not a graph of toyflow; choose from flow"),
])
def test_commands_refuse_the_toy_where_its_task_does_not_fit(toyflow, argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and message in err


def test_a_catalog_module_in_the_package_is_found_without_a_list(monkeypatch, tmp_path):
    """Dropping the catalog module into the ``zoo.catalog`` package is all it takes."""
    import zoo.catalog
    from zoo.catalog import registry

    (tmp_path / "toyflow.py").write_text(toyflow_catalog.__loader__.get_source(toyflow_catalog.__name__))
    monkeypatch.setattr(zoo.catalog, "__path__", [*zoo.catalog.__path__, str(tmp_path)])
    monkeypatch.setattr(registry, "_ARCHITECTURES", {})
    monkeypatch.setattr(registry, "_WEIGHTS", {})
    monkeypatch.setattr(registry, "_CATALOG_LOADED", False)
    try:
        assert [m.__name__ for m in registry.catalog_modules()] == ["zoo.catalog.nvae", "zoo.catalog.pwcnet",
                                                                    "zoo.catalog.toyflow"]
        assert registry.architecture("toyflow").task == "optical-flow"
        assert registry.list_models("toyflow*") == ["toyflow", "toyflow.mix"]
    finally:
        sys.modules.pop("zoo.catalog.toyflow", None)
