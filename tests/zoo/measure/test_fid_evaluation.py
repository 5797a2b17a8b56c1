"""``zoo eval NVAE --data fid``: the samples are the official ``test_vae_fid``'s (prior at temperature 1,
the output distribution's mean), the figure is the Frechet distance of their pytorch-fid statistics,
computed here independently (``np.cov``, ``scipy.linalg.sqrtm``, float64); 64-d reference statistics keep
the Inception cheap. Tolerance 1e-6 relative: the same float32 features, statistics formed by two float64
routes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import linalg

import zoo
from tests.support.fid_fixtures import write_random_inception
from zoo.cli import main
from zoo.measure.fid import load_inception


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> Path:
    return write_random_inception(tmp_path_factory.mktemp("inception") / "pt_inception-random.pth")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mu, factor = rng.uniform(0, 0.5, 64), rng.standard_normal((64, 64)) * 0.05
    path = tmp_path_factory.mktemp("stats") / "mnist_stats.npz"
    np.savez(path, mu=mu, sigma=factor @ factor.T)  # as NVAE's save_statistics writes it
    return path, mu, factor @ factor.T


def _independent_fid(inception_file, seeds_and_counts, mu, sigma) -> float:
    network = zoo.load("nvae.mnist-cpu").eval()
    inception = load_inception(inception_file)
    features = []
    for seed, batches in seeds_and_counts:  # one generator per process, drawing batch after batch
        generator = torch.Generator().manual_seed(seed)
        for count in batches:
            with torch.no_grad():
                logits = network.sample_logits(count, 1.0, generator=generator)
                images = torch.sigmoid(logits)  # the Bernoulli decoder's mean, what test_vae_fid feeds
                features.append(inception.features(images.expand(-1, 3, -1, -1), 64).double().numpy())
    features = np.concatenate(features)
    m, s = features.mean(0), np.cov(features, rowvar=False)
    root = linalg.sqrtm(s @ sigma)
    return float((m - mu) @ (m - mu) + np.trace(s) + np.trace(sigma) - 2 * np.trace(root).real)


def test_fid_row_is_the_distance_of_the_official_samples(inception_file, reference, tmp_path, capsys):
    path, mu, sigma = reference
    assert main(["eval", "nvae.mnist-cpu", "--data", "fid", "--fid-stats", str(path), "--num-samples", "30",
                 "--batch-size", "20", "--inception-weights", str(inception_file), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    (row,) = json.loads((tmp_path / "eval-nvae.mnist-cpu.json").read_text())["rows"]
    assert (row["dataset"], row["metric"], row["count"]) == ("mnist-fid", "fid", 30)
    assert row["ours"] == pytest.approx(_independent_fid(inception_file, [(0, [20, 10])], mu, sigma), rel=1e-6)


def test_torchrun_pools_the_features_of_every_process(inception_file, reference, tmp_path):
    path, mu, sigma = reference
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(29500 + os.getpid() % 1000), "-m", "zoo.cli", "eval", "nvae.mnist-cpu", "--data", "fid",
               "--fid-stats", str(path), "--num-samples", "9", "--inception-weights", str(inception_file),
               "--out", str(tmp_path)]
    result = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads((tmp_path / "eval-nvae.mnist-cpu.json").read_text())["rows"]
    assert row["count"] == 9
    # rank 0 draws 5 with seed 0, rank 1 draws 4 with seed 1 (seed * 1_000_003 + rank)
    assert row["ours"] == pytest.approx(_independent_fid(inception_file, [(0, [5]), (1, [4])], mu, sigma), rel=1e-6)
    assert result.stdout.count("zoo eval nvae.mnist-cpu") == 1  # rank 0 alone prints


def test_fid_needs_the_reference_statistics(capsys):
    assert main(["eval", "nvae.mnist-cpu", "--data", "fid"]) == 1
    assert "--fid-stats FILE, or --fid-dataset NAME" in capsys.readouterr().err
    assert main(["eval", "nvae.mnist-cpu", "--data", "fid", "--fid-dataset", "mnist"]) == 1
    assert "needs --data-dir" in capsys.readouterr().err


def test_fid_rows_take_the_published_figure_and_are_recorded(tmp_path):
    from zoo.catalog.measured import measured_fields
    from zoo.catalog.registry import weights_info
    from zoo.measure.evaluation import EvalRow, record_measured, with_published

    (row,) = with_published([EvalRow("celebahq256-fid", "fid", 31.5, 50_000, "celebahq256-fid")],
                            weights_info("nvae.celebahq256").metrics)
    assert (row.published, row.published_as) == (29.76, "celebahq256-fid: fid")
    assert row.as_dict()["diff"] == pytest.approx(31.5 - 29.76)
    weights, store = tmp_path / "w.safetensors", tmp_path / "measured.json"
    weights.write_bytes(b"w")
    record_measured("nvae.x", weights, [EvalRow("mnist-fid", "fid", 12.345678, 1000, "mnist-fid")],
                    "zoo eval nvae.x --data fid", store)
    fields = measured_fields("nvae.x", store)
    assert fields["measured"] == {"mnist-fid": {"fid": 12.3457}}
    assert "(1,000 samples; weights sha256" in fields["measured_source"]


def test_training_statistics_are_of_the_unbinarised_training_digits_and_cached(shared_dir, inception_file, tmp_path,
                                                                              monkeypatch):
    """The first 12 training-split digits as the IDX file holds them (padded to 32, in [0, 1], not
    binarised), once; the second call reads the cached .npz."""
    from zoo.datamodules.images import readers
    from zoo.datamodules.images.datamodule import seeded_split
    from zoo.measure import fid_evaluation
    from zoo.measure.fid_evaluation import training_statistics

    inception = load_inception(inception_file)
    mnist = shared_dir / "data" / "mnist"
    stats, path = training_statistics("mnist", str(mnist), inception, max_images=12, dims=64,
                                      cache_dir=str(tmp_path / "cache"))
    digits = readers.read_idx(next(mnist.glob("train-images-idx3-ubyte*")))
    rows = seeded_split(60_000, 5_000, 0)[0][:12]
    images = torch.from_numpy(np.pad(digits[rows], ((0, 0), (2, 2), (2, 2)))).float().div(255)[:, None]
    with torch.no_grad():
        features = inception.features(images.expand(-1, 3, -1, -1), 64).double().numpy()
    np.testing.assert_allclose(stats.mu, features.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(features, rowvar=False), rtol=1e-8, atol=1e-12)
    assert stats.count == 12 and path.is_file()

    def not_again(*args, **kwargs):
        raise AssertionError("statistics computed twice")

    monkeypatch.setattr(fid_evaluation, "statistics_of_batches", not_again)
    again, same_path = training_statistics("mnist", str(mnist), inception, max_images=12, dims=64,
                                           cache_dir=str(tmp_path / "cache"))
    assert same_path == path
    np.testing.assert_array_equal(again.sigma, stats.sigma)


@pytest.mark.parametrize("readjust", [False, True])
def test_batch_norms_are_readjusted_at_temperature_one_only_when_asked(inception_file, readjust, monkeypatch):
    from zoo.measure.fid import FIDStatistics
    from zoo.measure.fid_evaluation import evaluate_fid

    network = zoo.load("nvae.mnist-cpu")
    calls = []
    monkeypatch.setattr(network, "readjust_bn", lambda **kwargs: calls.append(kwargs))
    reference = FIDStatistics(np.zeros(64), np.eye(64))
    evaluate_fid(network, reference, load_inception(inception_file), reference_name="x", num_samples=2,
                 batch_size=2, generator=torch.Generator().manual_seed(5), readjust_bn=readjust, readjust_seed=3)
    assert [call["temperature"] for call in calls] == ([1.0] if readjust else [])
    if readjust:  # seeded alike on every process (readjust_seed), not with the process's own generator
        assert torch.equal(calls[0]["generator"].get_state(), torch.Generator().manual_seed(3).get_state())
    assert not network.training


def test_fid_dataset_takes_the_training_statistics_of_that_set(inception_file, tmp_path, monkeypatch, capsys):
    from zoo.measure import fid_evaluation
    from zoo.measure.fid import FIDStatistics

    asked = []

    def fake_statistics(name, data_dir, inception, **kwargs):
        asked.append((name, data_dir))
        return FIDStatistics(np.zeros(64), np.eye(64)), tmp_path / "x.npz"

    monkeypatch.setattr(fid_evaluation, "training_statistics", fake_statistics)
    assert main(["eval", "nvae.mnist-cpu", "--data", "fid", "--fid-dataset", "mnist", "--data-dir", str(tmp_path),
                 "--num-samples", "4", "--inception-weights", str(inception_file), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert asked == [("mnist", str(tmp_path))]
    (row,) = json.loads((tmp_path / "eval-nvae.mnist-cpu.json").read_text())["rows"]
    assert (row["dataset"], row["count"]) == ("mnist-fid", 4)
    assert "--fid-dataset mnist" in json.loads((tmp_path / "eval-nvae.mnist-cpu.json").read_text())["meta"]["command"]
