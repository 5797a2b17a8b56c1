"""NVAE training: the objective's pure functions against hand computations, the Lightning
module (one real step, schedules, checkpoints), ``zoo fit`` end to end on real MNIST, fine-tuning
and resuming, the configs, and the bundled ``nvae.mnist-cpu`` model with its demo."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from models.nvae.objective import (kl_balancer, kl_balancer_coeff, kl_coeff, learning_rate,
                                   regularizer_coeff)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "nvae"

TINY = dict(image_size=32, image_channels=1, decoder_distribution="bernoulli", crop_border=2,
            arch_instance="res_bnswish", num_channels_enc=4, num_channels_dec=4,
            num_latent_scales=2, num_groups_per_scale=2, ada_groups=True, num_latent_per_group=2,
            num_preprocess_blocks=1, num_preprocess_cells=1, num_postprocess_blocks=1,
            num_postprocess_cells=1, num_cell_per_cond_enc=1, num_cell_per_cond_dec=1,
            use_se=True, res_dist=True, num_nf=0)


# ------------------------------------------------------------------------ objective


def test_kl_coeff_follows_the_official_warm_up():
    # 1000 iterations: constant for 0.1 steps, linear over 300 steps, floor 1e-4.
    assert kl_coeff(0, 300.0, 0.1, 1e-4) == 1e-4
    assert kl_coeff(151, 300.0, 0.1, 1e-4) == pytest.approx(150.9 / 300)
    assert kl_coeff(300, 300.0, 0.1, 1e-4) == pytest.approx(299.9 / 300)
    assert kl_coeff(301, 300.0, 0.1, 1e-4) == 1.0
    assert kl_coeff(5000, 300.0, 0.1, 1e-4) == 1.0
    assert kl_coeff(10, 0.0, 0.0, 1e-4) == 1.0


def test_kl_balancer_coeff_square_by_hand():
    # Encoder order [10, 5]: decoder order is 5 coarse groups (side 1), then 10 (side 2):
    # 1/5 and 4/10, divided by the minimum 1/5 -> 1 and 2.
    alpha = kl_balancer_coeff([10, 5], "square")
    assert alpha.tolist() == [1.0] * 5 + [2.0] * 10
    # Three scales [4, 2, 1]: 1/1, 4/2, 16/4 -> 1, 2, 4.
    assert kl_balancer_coeff([4, 2, 1], "square").tolist() == [1.0] + [2.0] * 2 + [4.0] * 4
    assert kl_balancer_coeff([2, 2], "linear").tolist() == [1.0, 1.0, 2.0, 2.0]
    assert kl_balancer_coeff([1, 1], "sqrt").tolist() == pytest.approx([1.0, math.sqrt(2)])
    assert kl_balancer_coeff([3, 2], "equal").tolist() == [1.0] * 5
    with pytest.raises(ValueError, match="cube"):
        kl_balancer_coeff([2], "cube")


def test_kl_balancer_matches_a_hand_computation():
    kl_all = torch.tensor([[1.0, 3.0], [-2.0, 6.0], [0.0, 0.0]], dtype=torch.float64)  # (G=3, B=2)
    alpha = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    beta = 0.5
    weighted, coeffs, kl_vals = kl_balancer(kl_all, beta, alpha)
    # k = mean |KL| + 0.01 = [2.01, 4.01, 0.01]; k / alpha = [2.01, 2.005, 0.005]
    ratio = torch.tensor([2.01, 2.005, 0.005], dtype=torch.float64)
    expected_coeffs = 3 * ratio / ratio.sum()
    assert torch.allclose(coeffs, expected_coeffs)
    assert coeffs.mean().item() == pytest.approx(1.0)
    assert torch.allclose(kl_vals, torch.tensor([2.0, 2.0, 0.0], dtype=torch.float64))
    expected = beta * (expected_coeffs[:, None] * kl_all).sum(0)
    assert torch.allclose(weighted, expected)


def test_kl_balancer_is_plain_sum_after_warm_up_and_passes_gradients():
    kl_all = torch.tensor([[1.0, 3.0], [2.0, 6.0]], requires_grad=True)
    weighted, coeffs, _ = kl_balancer(kl_all, 1.0, torch.ones(2))
    assert weighted.tolist() == [3.0, 9.0]
    assert coeffs.tolist() == [1.0, 1.0]
    weighted, coeffs, _ = kl_balancer(kl_all, 0.3, torch.tensor([1.0, 2.0]))
    weighted.sum().backward()
    # the coefficients are constants for the gradient: d/dKL_gb = beta * c_g
    assert torch.allclose(kl_all.grad, 0.3 * coeffs[:, None].expand(2, 2))
    with pytest.raises(ValueError, match="alpha"):
        kl_balancer(kl_all.detach(), 0.3, torch.ones(3))
    with pytest.raises(ValueError, match="groups, batch"):
        kl_balancer(torch.ones(3), 0.3, torch.ones(3))


def test_regularizer_coeff_log_interpolates():
    assert regularizer_coeff(0.3, 1e-2) == 1e-2
    assert regularizer_coeff(0.0, 1e-2, 1.0) == pytest.approx(1.0)
    assert regularizer_coeff(1.0, 1e-2, 1.0) == pytest.approx(1e-2)
    assert regularizer_coeff(0.5, 1e-2, 1.0) == pytest.approx(1e-1)  # geometric midpoint
    with pytest.raises(ValueError, match="weight_decay_norm_init"):
        regularizer_coeff(0.5, 0.0, 1.0)


def test_learning_rate_warm_up_then_epoch_cosine():
    # 10 steps per epoch, 12 epochs, 2 warm-up epochs: 20 warm-up steps, cosine period 9 epochs.
    lr = lambda step: learning_rate(step, 10, 12, 2, 1e-2, 1e-4)  # noqa: E731
    assert lr(0) == 0.0
    assert lr(5) == pytest.approx(1e-2 * 5 / 20)
    assert lr(19) == pytest.approx(1e-2 * 19 / 20)
    assert lr(20) == pytest.approx(1e-2)  # epoch 2: first epoch after warm-up, full rate
    assert lr(29) == pytest.approx(1e-2)  # constant within an epoch
    t = 4  # epoch 6
    assert lr(65) == pytest.approx(1e-4 + 0.5 * (1e-2 - 1e-4) * (1 + math.cos(math.pi * t / 9)))
    assert lr(110) == pytest.approx(1e-4)  # last epoch: the minimum
    assert lr(500) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        learning_rate(0, 0, 12, 2, 1e-2, 1e-4)
