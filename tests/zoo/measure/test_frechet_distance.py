"""The Frechet distance (float64) against answers derived by hand and against SciPy's ``sqrtm``; the
feature moments against ``np.cov``; statistics files as pytorch-fid and NVAE write them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from zoo.measure.fid import FeatureMoments, FIDStatistics, frechet_distance


def _stats(mu, sigma) -> FIDStatistics:
    return FIDStatistics(np.asarray(mu, np.float64), np.asarray(sigma, np.float64))


def _random_covariance(rng, dims: int, rank: int | None = None) -> np.ndarray:
    factor = rng.standard_normal((dims, rank or dims))
    return factor @ factor.T / (rank or dims)


def _scipy_fid(first: FIDStatistics, second: FIDStatistics) -> float:
    root = linalg.sqrtm(first.sigma @ second.sigma)
    diff = first.mu - second.mu
    return float(diff @ diff + np.trace(first.sigma) + np.trace(second.sigma) - 2 * np.trace(root).real)


def test_one_dimension_is_the_squared_differences_of_means_and_deviations():
    assert frechet_distance(_stats([1.0], [[4.0]]), _stats([-2.0], [[9.0]])) == pytest.approx(9 + (2 - 3) ** 2, abs=1e-12)


def test_commuting_covariances_give_the_closed_form():
    """Same eigenvectors U: tr sqrt(S1 S2) = sum sqrt(a_i b_i), so FID = |dmu|^2 + sum (sqrt a - sqrt b)^2."""
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    a, b = rng.uniform(0.1, 3, 30), rng.uniform(0.1, 3, 30)
    mu1, mu2 = rng.standard_normal(30), rng.standard_normal(30)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(_stats(mu1, rotation @ np.diag(a) @ rotation.T), _stats(mu2, rotation @ np.diag(b) @ rotation.T))
    assert got == pytest.approx(expected, rel=1e-12)


def test_singular_commuting_covariances_are_exact():
    """Disjoint supports: sqrt(S1 S2) = 0, FID = |dmu|^2 + tr S1 + tr S2 (sqrtm of the zero product fails)."""
    a = np.diag([2.0, 0.0, 3.0, 0.0])
    b = np.diag([0.0, 5.0, 0.0, 0.0])
    assert frechet_distance(_stats(np.zeros(4), a), _stats(np.ones(4), b)) == pytest.approx(4 + 5 + 5, abs=1e-12)


@pytest.mark.parametrize("eps", [0.0, 1e-12, 1e-8])
def test_rank_one_covariances_with_a_known_trace(eps):
    """S1 = u u^T, S2 = v v^T (plus eps I): tr sqrt(S1 S2) = |u . v| at eps = 0 (S1 S2 has the one
    non-zero eigenvalue (u . v)^2); a near-singular eps moves the answer by O(sqrt(eps))."""
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(64), rng.standard_normal(64)
    eye = eps * np.eye(64)
    got = frechet_distance(_stats(np.zeros(64), np.outer(u, u) + eye), _stats(np.zeros(64), np.outer(v, v) + eye))
    expected = u @ u + v @ v - 2 * abs(u @ v)
    assert got == pytest.approx(expected, abs=1e-9 + 64 * 4 * np.sqrt(eps) * max(u @ u, v @ v))


def test_full_rank_agrees_with_scipy_sqrtm():
    rng = np.random.default_rng(2)
    first = _stats(rng.standard_normal(100), _random_covariance(rng, 100))
    second = _stats(rng.standard_normal(100), _random_covariance(rng, 100))
    assert frechet_distance(first, second) == pytest.approx(_scipy_fid(first, second), rel=1e-9)
    assert frechet_distance(second, first) == pytest.approx(frechet_distance(first, second), rel=1e-12)


def test_near_singular_sample_covariances_agree_with_scipy():
    """Fewer samples than dimensions (as FID of a few images): rank 20 of 200, 1e-10 added to one of them."""
    rng = np.random.default_rng(3)
    first = _stats(rng.standard_normal(200), _random_covariance(rng, 200, rank=20) + 1e-10 * np.eye(200))
    second = _stats(rng.standard_normal(200), _random_covariance(rng, 200, rank=30))
    assert frechet_distance(first, second) == pytest.approx(_scipy_fid(first, second), rel=1e-6)


def test_identical_statistics_are_zero():
    rng = np.random.default_rng(4)
    stats = _stats(rng.standard_normal(50), _random_covariance(rng, 50, rank=10))
    assert abs(frechet_distance(stats, stats)) < 1e-9


def test_pooled_moments_are_np_cov_of_all_features_and_merge_exactly():
    """What DDP relies on: moments of two halves added = moments of the whole."""
    rng = np.random.default_rng(5)
    features = rng.uniform(0, 2, (300, 16)) + 5.0  # a large mean, as ReLU features have
    whole, first, second = FeatureMoments.zeros(16), FeatureMoments.zeros(16), FeatureMoments.zeros(16)
    for chunk in np.array_split(features, 7):
        whole.add(torch.from_numpy(chunk).float())
    first.add(torch.from_numpy(features[:123]).float())
    second.add(torch.from_numpy(features[123:]).float())
    merged = first.merge(second).statistics()
    stats = whole.statistics()
    as_float32 = features.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(stats.mu, as_float32.mean(0), rtol=1e-13)
    np.testing.assert_allclose(stats.sigma, np.cov(as_float32, rowvar=False), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(merged.sigma, stats.sigma, rtol=1e-12, atol=1e-12)
    assert merged.count == stats.count == 300


def test_statistics_files_of_pytorch_fid_and_nvae_read_back(tmp_path):
    rng = np.random.default_rng(6)
    mu, sigma = rng.standard_normal(8), _random_covariance(rng, 8)
    np.savez_compressed(tmp_path / "pytorch_fid.npz", mu=mu, sigma=sigma)  # pytorch-fid --save-stats
    np.savez(tmp_path / "nvae.npz", mu=mu.astype(np.float32), sigma=sigma.astype(np.float32))  # save_statistics
    for name in ("pytorch_fid.npz", "nvae.npz"):
        stats = FIDStatistics.load(tmp_path / name)
        np.testing.assert_allclose(stats.mu, mu, rtol=1e-6)
        np.testing.assert_allclose(stats.sigma, sigma, rtol=1e-6)
        assert stats.mu.dtype == np.float64
    saved = FIDStatistics(mu, sigma, 12).save(tmp_path / "ours.npz")
    with np.load(saved) as data:  # the keys other tools read
        np.testing.assert_array_equal(data["mu"], mu)
        np.testing.assert_array_equal(data["sigma"], sigma)
    assert FIDStatistics.load(saved).count == 12
