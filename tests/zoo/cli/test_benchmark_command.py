"""``zoo benchmark`` and :mod:`zoo.measure.benchmarking`: the FLOP counts against hand counts, the table's
structure and the memory probes. No timing is asserted."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zoo.cli import main
from zoo.measure.benchmarking import Setup, benchmark, build, count_flops, latencies, peak_memory
from zoo.models.pwcnet import network as network_module
from zoo.models.pwcnet.cost_volume import TILE, cost_volume

ROOT = Path(__file__).resolve().parents[3]


def cost_volume_flops(shape: tuple[int, int, int, int], d: int) -> int:
    """The banded matmul's multiply-adds x 2: for each of the 2d+1 rows of displacements, every
    tile of TILE pixels against a window of TILE + 2d columns, over C channels."""
    batch, channels, height, width = shape
    tiles = math.ceil(width / TILE)
    return (2 * d + 1) * batch * height * tiles * 2 * TILE * channels * (TILE + 2 * d)


def test_conv_flops_by_hand():
    conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    x = torch.rand(2, 3, 10, 12)
    # out 5 x 6; each output value: 3 * 3 * 3 multiply-adds
    assert count_flops(lambda: conv(x)) == 2 * (2 * 8 * 5 * 6) * (3 * 3 * 3)


def test_cost_volume_flops_by_hand():
    f1, f2 = torch.rand(2, 1, 16, 5, 13)
    assert count_flops(lambda: cost_volume(f1, f2, 4)) == cost_volume_flops((1, 16, 5, 13), 4)
    # the correlation itself needs 2 C (2d+1)^2 per pixel; the band computes (TILE + 2d) / (2d + 1) times more
    assert cost_volume_flops((1, 16, 5, 16), 4) == 2 * 16 * 81 * 5 * 16 * (TILE + 8) / 9


def test_pwcnet_flops_are_its_convolutions_and_cost_volumes(monkeypatch):
    """Every (transposed) convolution counted by hand with forward hooks, plus the five cost volumes."""
    network, (task,) = build(Setup("pwcnet.synth", size=(64, 128)))
    total = 0

    def conv_hook(module, inputs, output):
        nonlocal total
        spatial = inputs[0].shape[-2:] if isinstance(module, torch.nn.ConvTranspose2d) else output.shape[-2:]
        total += 2 * output.shape[0] * module.in_channels * module.out_channels * math.prod(module.kernel_size) \
            * math.prod(spatial) // module.groups

    def counted_cost_volume(features1, features2, max_displacement):
        nonlocal total
        total += cost_volume_flops(tuple(features1.shape), max_displacement)
        return cost_volume(features1, features2, max_displacement)

    hooks = [m.register_forward_hook(conv_hook) for m in network.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    monkeypatch.setattr(network_module, "cost_volume", counted_cost_volume)
    task.run("float32")
    for hook in hooks:
        hook.remove()
    monkeypatch.undo()
    assert count_flops(lambda: task.run("float32")) == total


def test_latencies_count_the_calls():
    calls = []
    times = latencies(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


_RSS_PROBE = """
import numpy as np
from zoo.measure.benchmarking import peak_rss_growth

def allocate():
    array = np.ones(48 * 2 ** 20 // 8)  # touched: resident
    del array

print(peak_rss_growth(lambda: None) is None, peak_rss_growth(allocate))
"""


def test_rss_growth_sees_an_allocation():
    """In a fresh process, as ``peak_memory`` measures: a long-running one may serve the array from
    memory it freed earlier and still holds, and then its resident set does not grow."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", _RSS_PROBE], check=False, cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    unsupported, growth = result.stdout.split()
    if unsupported == "True":
        pytest.skip("the kernel does not let this process reset its RSS high-water mark")
    size = 48 * 2 ** 20
    assert 0.9 * size < int(growth) < 1.5 * size


def test_memory_of_a_first_call_in_a_fresh_process():
    setup = Setup("nvae.mnist-cpu", batch=2)
    _, tasks = build(setup)
    peak = peak_memory(setup, tasks[0], "float32")
    assert peak is None or peak >= 0


def test_benchmark_rows_for_both_families():
    rows, facts = benchmark(Setup("nvae.mnist-cpu", batch=2), ["float32", "bf16"], repeats=1, warmup=0, memory=False)
    assert [(r["task"], r["precision"]) for r in rows] == [
        ("elbo", "float32"), ("elbo", "bfloat16"), ("sample", "float32"), ("sample", "bfloat16")]
    for row in rows:
        assert (row["batch"], row["size"], row["params"], row["peak_mib"]) == (2, "32x32", 2_550_198, None)
        assert row["gflop"] > 0
        assert row["throughput"] == pytest.approx(2 / (row["latency_ms"] / 1e3))
        assert row["matmul_pct"] == pytest.approx(100 * row["gflops"] / facts["float32 matmul GFLOP/s"], rel=1e-2)
    assert rows[0]["gflop"] == rows[1]["gflop"]  # counted once per task, in float32
    assert facts["float32 matmul GFLOP/s"] > 0 and facts["device"].startswith("cpu")


def test_benchmark_command_writes_the_table(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["benchmark", "pwcnet.synth", "--size", "64", "64", "--precision", "float32", "--repeats", "1",
                 "--warmup", "0", "--no-memory", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "GFLOP/call" in printed and "float32 matmul GFLOP/s" in printed
    with open(out / "benchmark-pwcnet.synth.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert list(row) == ["task", "precision", "batch", "size", "params", "gflop", "latency_ms", "throughput",
                         "gflops", "matmul_pct"]
    assert (row["task"], row["size"], row["params"]) == ("flow", "64x64", "9374274")
    meta = json.loads((out / "benchmark-pwcnet.synth.json").read_text())["meta"]
    assert meta["latency"] == "median of 1 calls after 0 warm-up calls"


@pytest.mark.parametrize("argv, message", [
    (["benchmark", "nvae.mnist-cpu", "--size", "64", "64"], "takes 32x32 images"),
    (["benchmark", "pwcnet.synth", "--precision", "float16"], "needs a CUDA device"),
    (["benchmark", "pwcnet.synth", "--batch", "0"], "--batch must be >= 1"),
])
def test_benchmark_command_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and message in err
