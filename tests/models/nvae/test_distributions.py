"""NVAE's output distributions against float64 transcriptions of their definitions.

The discretised logistic mixture is PixelCNN++'s (Salimans et al. 2017, eq. 2 and its edge cases)
with NVAE's conventions: images on [-1, 1], bins of half-width 1 / (2^bits - 1), log-scales
clamped at -7, channel coefficients through tanh, the lower tail below -0.999 and the upper tail
above 0.99, and the bin probability replaced by the density times the bin width where it falls
below 1e-5. Every expectation below is computed pixel by pixel with ``math``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from zoo.models.nvae.distributions import (
    BernoulliImage,
    DiagonalNormal,
    LogisticMixtureImage,
    NormalImage,
    output_distribution,
)

M = 3  # mixture components: enough that a wrong axis or a dropped component shows


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def _softplus(v: float) -> float:
    return max(v, 0.0) + math.log1p(math.exp(-abs(v)))


def _components(params: torch.Tensor, b: int, y: int, x: int):
    """(logit, [mean, log_scale, coefficient] per colour) of every component at one pixel."""
    p = params[b, :, y, x].tolist()
    logits, rest = p[:M], p[M:]
    out = []
    for k in range(M):
        colours = []
        for c in range(3):
            block = rest[c * 3 * M:(c + 1) * 3 * M]
            colours.append((block[k], max(block[M + k], -7.0), math.tanh(block[2 * M + k])))
        out.append((logits[k], colours))
    return out


def _log_prob_pixel(params: torch.Tensor, image: torch.Tensor, b: int, y: int, x: int, bits: int = 8) -> float:
    """log p of one RGB pixel in [0, 1] under the mixture (float64, scalar arithmetic)."""
    top = 2 ** bits - 1
    v = [2 * image[b, c, y, x].item() - 1 for c in range(3)]
    components = _components(params, b, y, x)
    log_norm = math.log(sum(math.exp(logit) for logit, _ in components))
    terms = []
    for logit, colours in components:
        (m_r, s_r, _), (m_g, s_g, _), (m_b, s_b, _) = colours
        coeff = [c for _, _, c in colours]  # coefficients: g from r, b from r, b from g
        means = [m_r, m_g + coeff[0] * v[0], m_b + coeff[1] * v[0] + coeff[2] * v[1]]
        total = logit - log_norm
        for value, mean, log_scale in zip(v, means, (s_r, s_g, s_b)):
            inv = math.exp(-log_scale)
            plus, minus = inv * (value - mean + 1 / top), inv * (value - mean - 1 / top)
            if value < -0.999:
                total += plus - _softplus(plus)                      # log CDF of the upper bin edge
            elif value > 0.99:
                total += -_softplus(minus)                           # log (1 - CDF of the lower edge)
            elif _sigmoid(plus) - _sigmoid(minus) > 1e-5:
                total += math.log(_sigmoid(plus) - _sigmoid(minus))  # the bin probability
            else:
                mid = inv * (value - mean)
                total += mid - log_scale - 2 * _softplus(mid) - math.log(top / 2)  # density x bin width
        terms.append(total)
    peak = max(terms)
    return peak + math.log(sum(math.exp(t - peak) for t in terms))


def _params(seed: int, height: int = 2, width: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 10 * M, height, width, generator=generator, dtype=torch.float64)


def test_logistic_mixture_log_prob_matches_the_definition_pixel_by_pixel():
    params = _params(0)
    params[:, M:].view(2, 3, 3 * M, 2, 3)[:, :, M:2 * M] -= 2.0   # sharper components
    params[0, M:].view(3, 3 * M, 2, 3)[:, M + 1, 0, 0] = -9.0     # a log-scale below the -7 clamp
    image = torch.tensor([0, 255, 254, 128, 3, 77], dtype=torch.float64).div(255)
    image = image[torch.randperm(6, generator=torch.Generator().manual_seed(1))].view(1, 1, 2, 3)
    image = torch.cat([image.expand(1, 3, 2, 3), image.flip(2, 3).expand(1, 3, 2, 3)]).contiguous()
    image[1, 1] = image[1, 1].roll(1, dims=1)
    got = LogisticMixtureImage(params, M).log_prob(image)
    assert got.shape == (2, 2, 3)
    for b in range(2):
        for y in range(2):
            for x in range(3):
                assert got[b, y, x].item() == pytest.approx(_log_prob_pixel(params, image, b, y, x), rel=1e-10, abs=1e-10)


def test_logistic_mixture_density_branch_where_the_bin_probability_is_tiny():
    """A sharp component far from the pixel: the bin probability is below 1e-5 for all of them."""
    params = torch.zeros(1, 10 * M, 1, 1, dtype=torch.float64)
    rest = params[0, M:].view(3, 3 * M)
    rest[:, :M] = 0.9      # means far from the pixel at -0.5
    rest[:, M:2 * M] = -6  # scale e^-6
    image = torch.full((1, 3, 1, 1), 0.25, dtype=torch.float64)
    got = LogisticMixtureImage(params, M).log_prob(image).item()
    assert got == pytest.approx(_log_prob_pixel(params, image, 0, 0, 0), rel=1e-10)
    assert got < 3 * math.log(1e-5)


@pytest.mark.parametrize("value", [0.0005, 0.995])  # 2 x - 1 = -0.999 and 0.99 exactly: both are bins
def test_logistic_mixture_tails_start_strictly_beyond_their_thresholds(value):
    params = _params(2, 1, 1)[:1]
    image = torch.full((1, 3, 1, 1), value, dtype=torch.float64)
    got = LogisticMixtureImage(params, M).log_prob(image).item()
    assert got == pytest.approx(_log_prob_pixel(params, image, 0, 0, 0), rel=1e-10)


def test_logistic_mixture_of_other_bit_depths():
    params = _params(3, 1, 2)[:1]
    image = torch.tensor([0, 11, 31, 17, 30, 1], dtype=torch.float64).div(31).view(1, 3, 1, 2)
    got = LogisticMixtureImage(params, M, num_bits=5).log_prob(image)
    for x in range(2):
        assert got[0, 0, x].item() == pytest.approx(_log_prob_pixel(params, image, 0, 0, x, bits=5), rel=1e-10)


def _chain(values: list[float], coeff: list[float]) -> list[float]:
    """Colours on [-1, 1] -> [0, 1]: r, then g + c0 r, then b + c1 r + c2 g, each clamped."""
    r = min(max(values[0], -1.0), 1.0)
    g = min(max(values[1] + coeff[0] * r, -1.0), 1.0)
    b = min(max(values[2] + coeff[1] * r + coeff[2] * g, -1.0), 1.0)
    return [r / 2 + 0.5, g / 2 + 0.5, b / 2 + 0.5]


def test_logistic_mixture_mean_is_the_chained_softmax_weighted_component_mean():
    params = _params(4)
    params[0, M:].view(3, 3 * M, 2, 3)[:, :M, 1, 2] = torch.tensor([-3.0, 2.5, 0.4]).view(3, 1)  # clamps
    got = LogisticMixtureImage(params, M).mean()
    assert got.shape == (2, 3, 2, 3)
    for b in range(2):
        for y in range(2):
            for x in range(3):
                components = _components(params, b, y, x)
                weights = np.exp([logit for logit, _ in components])
                weights /= weights.sum()
                means = [sum(w * colours[c][0] for w, (_, colours) in zip(weights, components)) for c in range(3)]
                coeff = [sum(w * colours[c][2] for w, (_, colours) in zip(weights, components)) for c in range(3)]
                np.testing.assert_allclose(got[b, :, y, x].numpy(), _chain(means, coeff), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_logistic_mixture_sample_is_the_inverse_cdf_of_the_generators_uniforms(temperature):
    """Official sampler: component = argmax(logits / t + Gumbel), x = mu + s / t * logit(u), with
    both uniforms drawn on [1e-5, 1 - 1e-5] (the component's first, same generator), then chained."""
    params = _params(5, 4, 6)
    params[:, M - 1] = -50.0  # the last component is never drawn (so a one-hot of M - 1 classes would not fit)
    dist = LogisticMixtureImage(params, M)
    got = dist.sample(temperature, generator=torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)
    gumbel_u = torch.rand(2, M, 4, 6, generator=replay, dtype=torch.float64) * (1 - 2e-5) + 1e-5
    logistic_u = torch.rand(2, 3, 4, 6, generator=replay, dtype=torch.float64) * (1 - 2e-5) + 1e-5
    chosen = set()
    for b in range(2):
        for y in range(4):
            for x in range(6):
                components = _components(params, b, y, x)
                scores = [logit / temperature - math.log(-math.log(gumbel_u[b, k, y, x].item()))
                          for k, (logit, _) in enumerate(components)]
                k = int(np.argmax(scores))
                chosen.add(k)
                colours = components[k][1]
                values = []
                for c, (mean, log_scale, _) in enumerate(colours):
                    u = logistic_u[b, c, y, x].item()
                    values.append(mean + math.exp(log_scale) / temperature * (math.log(u) - math.log(1 - u)))
                expected = _chain(values, [coefficient for _, _, coefficient in colours])
                np.testing.assert_allclose(got[b, :, y, x].numpy(), expected, rtol=1e-10, atol=1e-12)
    assert chosen == set(range(M - 1))


def test_logistic_mixture_sample_defaults_to_temperature_1():
    dist = LogisticMixtureImage(_params(6), M)
    torch.testing.assert_close(dist.sample(generator=torch.Generator().manual_seed(0)),
                               dist.sample(1.0, generator=torch.Generator().manual_seed(0)), rtol=0, atol=0)


def test_logistic_mixture_needs_ten_channels_per_component():
    with pytest.raises(ValueError, match=r"^logistic mixture of 3 components needs 30 channels, got 29$"):
        LogisticMixtureImage(torch.zeros(1, 29, 1, 1), 3)


def test_normal_image_mean_and_sample_on_the_minus_one_one_scale():
    """mu and sigma as the latent Gaussians (5 tanh(v / 5), exp(5 tanh(v / 5)) + 0.01), mapped
    from [-1, 1] to [0, 1] and clamped; a sample is mu + sigma eps with eps from the generator."""
    raw_mu = torch.tensor([[-7.0, -0.4], [0.3, 6.0]], dtype=torch.float64).view(1, 1, 2, 2)
    raw_log_sigma = torch.tensor([[-2.0, -1.0], [0.0, -3.0]], dtype=torch.float64).view(1, 1, 2, 2)
    dist = NormalImage(torch.cat([raw_mu, raw_log_sigma], dim=1))
    mu = [5 * math.tanh(v / 5) for v in raw_mu.flatten().tolist()]
    sigma = [math.exp(5 * math.tanh(v / 5)) + 0.01 for v in raw_log_sigma.flatten().tolist()]
    clamp = [min(max(m, -1.0), 1.0) / 2 + 0.5 for m in mu]
    np.testing.assert_allclose(dist.mean().flatten().numpy(), clamp, rtol=1e-12)
    eps = torch.randn(1, 1, 2, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64).flatten().tolist()
    drawn = [min(max(m + s * e, -1.0), 1.0) / 2 + 0.5 for m, s, e in zip(mu, sigma, eps)]
    sample = dist.sample(generator=torch.Generator().manual_seed(3))
    np.testing.assert_allclose(sample.flatten().numpy(), drawn, rtol=1e-12)
    assert sample.dtype == torch.float64 and sample.shape == (1, 1, 2, 2)


def test_bernoulli_image_sample_draws_each_pixel_with_its_probability():
    logits = torch.tensor([-30.0, 30.0, 0.0, 1.5]).view(1, 1, 2, 2).expand(1, 1, 2, 2).repeat(4000, 1, 1, 1)
    dist = BernoulliImage(logits)
    sample = dist.sample(generator=torch.Generator().manual_seed(0))
    assert sample.shape == logits.shape and set(sample.unique().tolist()) <= {0.0, 1.0}
    frequency = sample.mean(0).flatten()
    p = torch.sigmoid(torch.tensor([-30.0, 30.0, 0.0, 1.5]))
    assert frequency[0] == 0 and frequency[1] == 1
    assert (frequency[2:] - p[2:]).abs().max() < 4 * math.sqrt(0.25 / 4000)  # 4 standard errors
    torch.testing.assert_close(dist.sample(generator=torch.Generator().manual_seed(0)), sample, rtol=0, atol=0)


def test_output_distribution_by_name():
    params = torch.zeros(1, 100, 1, 1)
    assert isinstance(output_distribution(params[:, :1], "bernoulli"), BernoulliImage)
    mixture = output_distribution(params[:, :30], "logistic_mixture", num_mixtures=3, num_bits=5)
    assert isinstance(mixture, LogisticMixtureImage) and mixture.max_value == 31
    default = output_distribution(params, "logistic_mixture")  # NVAE's defaults: 10 components, 8 bits
    assert default.num_mixtures == 10 and default.max_value == 255
    assert isinstance(output_distribution(params[:, :6], "normal"), NormalImage)
    with pytest.raises(ValueError, match="^unknown decoder distribution 'beta'$"):
        output_distribution(params, "beta")


def test_latent_gaussian_temperature_scales_sigma_and_sample_scale_the_noise():
    """sigma = exp(5 tanh(v / 5)) + 0.01, times the temperature; a sample is mu + scale eps sigma."""
    raw = torch.tensor([0.3, -8.0], dtype=torch.float64)
    sigma = torch.exp(5 * torch.tanh(raw / 5)) + 0.01
    for temperature in (1.0, 2.0, 0.5):
        torch.testing.assert_close(DiagonalNormal.from_raw(raw, raw, temperature).sigma, sigma * temperature)
    dist = DiagonalNormal.from_raw(raw, raw)
    eps = torch.tensor([1.5, -0.5], dtype=torch.float64)
    mu = 5 * torch.tanh(raw / 5)
    for scale in (1.0, 2.0, 0.7):
        torch.testing.assert_close(dist.sample(eps, scale), mu + scale * eps * sigma)
    assert dist.sample(eps, 0.0) is dist.mu and dist.sample(None) is dist.mu
