"""NVAE network behaviour beyond the fixtures: likelihood bound, sampling, BN re-estimation,
regularisers and input checks, each against an independent computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.support.nvae_networks import TINY, tiny_binary_nvae, tiny_mixture_nvae
from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.distributions import DiagonalNormal, LogisticMixtureImage
from zoo.models.nvae.flows import AutoregressiveShift
from zoo.models.nvae.layers import MaskedWeightNormConv2d, WeightNormConv2d, autoregressive_mask, normalize_weight
from zoo.models.nvae.network import NVAE


@pytest.fixture(scope="module")
def mnist_net() -> NVAE:
    return tiny_binary_nvae()


@pytest.fixture(scope="module")
def rgb_net() -> NVAE:
    return tiny_mixture_nvae()


def _binary_images(n: int = 3) -> torch.Tensor:
    return (torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(5)) > 0.5).double()


@torch.no_grad()
def test_one_sample_bound_is_the_single_importance_weight(mnist_net: NVAE) -> None:
    x = _binary_images()
    bound = mnist_net.log_likelihood(x, num_samples=1, generator=torch.Generator().manual_seed(3))
    out = mnist_net(x, generator=torch.Generator().manual_seed(3))
    expected = mnist_net.reconstruction_log_likelihood(out.logits, x) - out.log_q + out.log_p
    torch.testing.assert_close(bound, expected, rtol=1e-12, atol=1e-9)


@torch.no_grad()
def test_bound_is_the_log_mean_of_the_weights(mnist_net: NVAE) -> None:
    x = _binary_images(2)
    generator = torch.Generator().manual_seed(11)
    weights = []
    for _ in range(4):
        out = mnist_net(x, generator=generator)
        weights.append(mnist_net.reconstruction_log_likelihood(out.logits, x) - out.log_q + out.log_p)
    w = torch.stack(weights, 1)
    expected = w.max(1).values + torch.log(torch.exp(w - w.max(1, keepdim=True).values).mean(1))
    bound = mnist_net.log_likelihood(x, num_samples=4, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(bound, expected, rtol=1e-12, atol=1e-9)
    assert mnist_net.bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)


@torch.no_grad()
def test_reconstruction_sums_the_central_crop_only(mnist_net: NVAE) -> None:
    x = _binary_images(1)
    logits = torch.randn(1, 1, 32, 32, dtype=torch.float64)
    per_pixel = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    expected = per_pixel[..., 2:30, 2:30].sum()
    assert mnist_net.reconstruction_log_likelihood(logits, x).item() == pytest.approx(expected.item(), rel=1e-12)


@torch.no_grad()
def test_temperature_zero_is_deterministic_and_scales_only_the_noise(rgb_net: NVAE) -> None:
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a, b = rgb_net(x, temperature=0.0), rgb_net(x, temperature=0.0)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)
    for group in a.groups:
        torch.testing.assert_close(group.z_before_flow, group.posterior.mu, rtol=0, atol=0)
    noise = [torch.randn(2, *rgb_net.latent_shape(g), dtype=torch.float64) for g in range(rgb_net.num_groups)]
    half = rgb_net(x, temperature=0.5, noise=noise)
    first = half.groups[0]
    torch.testing.assert_close(first.z_before_flow, first.posterior.mu + 0.5 * noise[0] * first.posterior.sigma)
    expected = DiagonalNormal(first.posterior.mu, first.posterior.sigma).log_prob(first.z_before_flow).sum((1, 2, 3))
    torch.testing.assert_close(first.log_q, expected)


@torch.no_grad()
def test_samples_at_temperature_zero_are_identical_and_images_in_range(rgb_net: NVAE) -> None:
    logits = rgb_net.sample_logits(3, temperature=0.0)
    torch.testing.assert_close(logits[0], logits[2], rtol=0, atol=0)
    images = rgb_net.sample(4, 0.7, generator=torch.Generator().manual_seed(0))
    assert images.shape == (4, 3, 16, 16) and images.min() >= 0 and images.max() <= 1


def test_readjust_bn_averages_prior_sample_batches_with_equal_weights(rgb_net: NVAE) -> None:
    """The re-estimated statistics are the plain mean over batches of each batch's mean and
    unbiased variance (computed here in float64 from the batch norm's inputs); the stored
    statistics play no part, the batch norms that sampling does not run keep theirs, and all
    keep their momentum."""
    net = NVAE(rgb_net.config)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1, 1)
    before = {name: buffer.clone() for name, buffer in net.named_buffers()}
    bn = net.postprocess[1].ops[0].bn_in
    seen = []
    bn.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach().double()))
    bn.running_mean.fill_(100.0)
    bn.running_var.fill_(100.0)
    bn.num_batches_tracked.fill_(1000)  # as after training
    wrapped = []
    net.readjust_bn(num_batches=3, temperature=0.6, batch_size=5, generator=torch.Generator().manual_seed(0),
                    progress=lambda batches: wrapped.append(batches) or batches)
    assert not net.training and len(seen) == 3 and seen[0].shape[0] == 5 and wrapped == [range(3)]
    mean = torch.stack([batch.mean((0, 2, 3)) for batch in seen]).mean(0)
    var = torch.stack([batch.var((0, 2, 3), unbiased=True) for batch in seen]).mean(0)
    # float32 running sums of three terms against float64: a few ulps of values of order 1
    torch.testing.assert_close(bn.running_mean.double(), mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(bn.running_var.double(), var, rtol=1e-5, atol=1e-6)
    assert {m.momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {0.05}
    encoder = [name for name in before if name.startswith("encoder") and "running_mean" in name]
    assert encoder and all(torch.equal(net.get_buffer(name), before[name]) for name in encoder)


def test_spectral_loss_converges_to_the_largest_singular_values(rgb_net: NVAE) -> None:
    net = NVAE(rgb_net.config)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    exact = 0.0
    for conv in convs:
        kernel = conv.normalized_weight() if hasattr(conv, "normalized_weight") else conv.weight
        exact += torch.linalg.matrix_norm(kernel.detach().flatten(1).double(), 2).item()
    assert net.spectral_regularizer.num_convs == len(convs)
    for _ in range(10):
        loss = net.spectral_norm_loss()
    assert loss.item() == pytest.approx(exact, rel=1e-3)
    loss.backward()
    conv = net.stem  # d sigma / d W = u v^T through the weight normalisation
    assert conv.log_weight_norm.grad is not None and conv.log_weight_norm.grad.abs().sum() > 0


def test_batched_and_per_kernel_power_iterations_agree(rgb_net: NVAE) -> None:
    regularizer = NVAE(rgb_net.config).spectral_regularizer
    start = {name: buffer.clone() for name, buffer in regularizer.named_buffers()}
    regularizer.batched = True
    batched = regularizer()
    for name, buffer in regularizer.named_buffers():
        buffer.copy_(start[name])
    regularizer.batched = False
    assert regularizer().item() == pytest.approx(batched.item(), rel=1e-5)


def test_batchnorm_loss_is_the_sum_of_max_abs_scales(rgb_net: NVAE) -> None:
    net = NVAE(rgb_net.config)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for i, bn in enumerate(norms):
            bn.weight.copy_(torch.linspace(-i - 1.0, 0.5, bn.num_features))
    expected = sum(float(i + 1) for i in range(len(norms)))
    loss = net.batchnorm_loss()
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert norms[0].weight.grad[0].item() == -1.0 and norms[0].weight.grad[1:].abs().sum() == 0


def test_autoregressive_mask_is_causal() -> None:
    mask = autoregressive_mask(3, 2, 4, groups=1, zero_diagonal=True, mirror=False)
    assert mask[:, :, 2].sum() == 0 and mask[:, :, 1, 2].sum() == 0  # nothing below / right
    assert mask[:, :, 0].all() and mask[:, :, 1, 0].all()            # everything above / left
    assert mask[:, :, 1, 1].tolist() == [[0, 0], [0, 0], [1, 0], [1, 0]]
    mirrored = autoregressive_mask(3, 2, 4, groups=1, zero_diagonal=True, mirror=True)
    torch.testing.assert_close(mirrored, mask.flip(2, 3))


@pytest.mark.parametrize("c_in, c_out, groups, zero_diagonal, centre", [
    # official ``channel_mask``: output block i sees input channels <= i (< i with zero_diag)
    (2, 4, 1, False, [[1, 0], [1, 0], [1, 1], [1, 1]]),
    (2, 4, 1, True, [[0, 0], [0, 0], [1, 0], [1, 0]]),
    (3, 3, 1, False, [[1, 0, 0], [1, 1, 0], [1, 1, 1]]),
    # fewer outputs than inputs: output i sees the input blocks <= i (< i with zero_diag)
    (4, 2, 1, False, [[1, 1, 0, 0], [1, 1, 1, 1]]),
    (4, 2, 1, True, [[0, 0, 0, 0], [1, 1, 0, 0]]),
    # depthwise: each channel sees itself, or nothing with zero_diag
    (3, 3, 3, False, [[1], [1], [1]]),
    (3, 3, 3, True, [[0], [0], [0]]),
])
def test_autoregressive_mask_centre_taps(c_in, c_out, groups, zero_diagonal, centre) -> None:
    mask = autoregressive_mask(3, c_in, c_out, groups, zero_diagonal, mirror=False)
    assert mask.shape == (c_out, c_in // groups, 3, 3)
    assert mask[:, :, 1, 1].tolist() == centre
    assert mask[:, :, 0].all() and mask[:, :, 1, 0].all() and not mask[:, :, 2].any() and not mask[:, :, 1, 2].any()


def test_autoregressive_mask_refuses_what_it_cannot_order() -> None:
    with pytest.raises(ValueError, match="^a masked convolution needs an odd kernel size, got 4$"):
        autoregressive_mask(4, 2, 2, 1, False, False)
    with pytest.raises(ValueError, match="^masked convolution supports groups 1 or 4, got 2$"):
        autoregressive_mask(3, 4, 4, 2, False, False)


def test_masked_convolution_starts_at_the_norm_of_its_masked_kernel() -> None:
    """Official ARConv2d: log_weight_norm = log(||w * mask|| + 0.01) per output filter; unmirrored
    unless asked; the mask is not saved with the weights."""
    torch.manual_seed(3)
    conv = MaskedWeightNormConv2d(2, 4, 3, zero_diagonal=True)
    torch.testing.assert_close(conv.mask, autoregressive_mask(3, 2, 4, 1, True, mirror=False))
    masked = (conv.weight * conv.mask).detach().double()
    expected = torch.log(masked.flatten(1).norm(dim=1) + 0.01).view(4, 1, 1, 1)
    torch.testing.assert_close(conv.log_weight_norm.detach().double(), expected)
    assert "mask" not in conv.state_dict()


def test_weight_norm_convolution_starts_at_the_norm_of_its_kernel() -> None:
    """Official Conv2D: log_weight_norm = log(||w|| + 0.01) per output filter."""
    torch.manual_seed(5)
    conv = WeightNormConv2d(3, 4, 3)
    expected = torch.log(conv.weight.detach().double().flatten(1).norm(dim=1) + 0.01).view(4, 1, 1, 1)
    torch.testing.assert_close(conv.log_weight_norm.detach().double(), expected)


def test_weight_norm_kernel_cache_is_reused_only_while_the_parameters_stay_the_same() -> None:
    torch.manual_seed(6)
    conv = WeightNormConv2d(2, 3, 3).eval()
    x = torch.randn(1, 2, 5, 5)
    with torch.no_grad():
        cached = conv.normalized_weight()
        assert conv.normalized_weight() is cached
        conv.weight.add_(torch.randn_like(conv.weight))
        torch.testing.assert_close(conv.normalized_weight(), normalize_weight(conv.weight, conv.log_weight_norm))
        conv.log_weight_norm.add_(1.0)
        torch.testing.assert_close(conv.normalized_weight(), normalize_weight(conv.weight, conv.log_weight_norm))
    # eval mode with autograd on: a fresh kernel for every pass, so each backward has its own graph
    first = torch.autograd.grad(conv(x).square().sum(), conv.weight)[0]
    second = torch.autograd.grad(conv(x).square().sum(), conv.weight)[0]
    torch.testing.assert_close(first, second)


def test_flow_cell_mean_starts_at_a_tenth_of_its_weight_norm() -> None:
    """Official CellAR: the 1x1 mean convolution has weight_init_coeff 0.1, so z' = z - mu(z)
    starts close to the identity."""
    torch.manual_seed(4)
    cell = AutoregressiveShift(4, mirror=False)
    masked = (cell.mean.weight * cell.mean.mask).detach().double()
    expected = torch.log(masked.flatten(1).norm(dim=1) + 0.01).view(-1, 1, 1, 1) + math.log(0.1)
    torch.testing.assert_close(cell.mean.log_weight_norm.detach().double(), expected)


def test_logistic_mixture_of_one_sharp_component_is_a_bin_probability() -> None:
    """A single effective component: log p equals log(sigmoid(b+) - sigmoid(b-)) per colour."""
    m, mean, log_scale = 2, 0.1, -3.0
    params = torch.zeros(1, 10 * m, 1, 1, dtype=torch.float64)
    params[0, 0], params[0, 1] = 50.0, -50.0            # component 0 only
    rest = params[0, m:].view(3, 3 * m)
    rest[:, 0], rest[:, m] = mean, log_scale            # means and log-scales of component 0
    x = torch.full((1, 3, 1, 1), 140 / 255, dtype=torch.float64)
    centred = (2 * x - 1 - mean) / math.exp(log_scale)
    half = (1 / 255) / math.exp(log_scale)
    expected = torch.log(torch.sigmoid(centred + half) - torch.sigmoid(centred - half)).sum()
    got = LogisticMixtureImage(params, m).log_prob(x)
    assert got.item() == pytest.approx(expected.item(), rel=1e-9)


@torch.no_grad()
def test_normal_decoder_density_on_the_minus_one_one_scale() -> None:
    net = NVAE(NVAEConfig(image_size=16, decoder_distribution="normal", num_mixture_dec=1, **TINY)).eval()
    x = torch.rand(2, 3, 16, 16)
    out = net(x)
    assert out.logits.shape == (2, 6, 16, 16)
    mu, log_sigma = out.logits[:, :3], out.logits[:, 3:]
    mu, sigma = 5 * torch.tanh(mu / 5), torch.exp(5 * torch.tanh(log_sigma / 5)) + 0.01
    expected = torch.distributions.Normal(mu, sigma).log_prob(2 * x - 1).sum((1, 2, 3))
    torch.testing.assert_close(net.reconstruction_log_likelihood(out.logits, x), expected)


def test_quantize_to_five_bits_as_the_official_pipeline() -> None:
    net = NVAE(NVAEConfig(image_size=16, num_x_bits=5, **TINY))
    x = torch.tensor([0, 7, 8, 247, 255], dtype=torch.float64) / 255
    assert (net.quantize(x) * 31).tolist() == [0, 0, 1, 30, 31]
    assert net.quantize(x) is not x and NVAE(NVAEConfig(image_size=16, **TINY)).quantize(x) is x


def test_bad_inputs_are_refused_clearly(mnist_net: NVAE, rgb_net: NVAE) -> None:
    with pytest.raises(ValueError, match=r"shape \(B, 1, 32, 32\)"):
        mnist_net(torch.zeros(1, 3, 32, 32, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(B, 3, 16, 16\)"):
        rgb_net(torch.zeros(1, 3, 32, 32, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rgb_net(torch.full((1, 3, 16, 16), 255.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="one tensor per latent group"):
        rgb_net.sample_logits(1, noise=[torch.zeros(1)])
    with pytest.raises(ValueError, match="image_size"):
        NVAEConfig(image_size=30, **TINY)
