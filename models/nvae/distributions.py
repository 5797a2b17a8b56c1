"""NVAE's latent Gaussians and its output distributions (all log-densities in nats).

Latent Gaussians soft-clamp their raw parameters to [-5, 5] (``5 tanh(v / 5)``) and use
``sigma = exp(log_sigma) + 0.01``. Images are modelled on [-1, 1] (``2 x - 1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "BernoulliImage",
    "DiagonalNormal",
    "LogisticMixtureImage",
    "NormalImage",
    "output_distribution",
    "soft_clamp",
]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def soft_clamp(x: torch.Tensor, bound: float = 5.0) -> torch.Tensor:
    """Differentiable clamp to ``(-bound, bound)``: ``bound * tanh(x / bound)``."""
    return torch.tanh(x / bound) * bound


@dataclass
class DiagonalNormal:
    """A factorised Gaussian with post-clamp mean ``mu`` and ``sigma`` (same shape)."""

    mu: torch.Tensor
    sigma: torch.Tensor

    @classmethod
    def from_raw(cls, mu: torch.Tensor, log_sigma: torch.Tensor,
                 temperature: float = 1.0) -> DiagonalNormal:
        """From raw network outputs; ``temperature`` (if not 1) multiplies sigma."""
        sigma = torch.exp(soft_clamp(log_sigma)) + 1e-2
        if temperature != 1.0:
            sigma = sigma * temperature
        return cls(soft_clamp(mu), sigma)

    def sample(self, eps: torch.Tensor | None, scale: float = 1.0) -> torch.Tensor:
        """``mu + scale * eps * sigma``; ``eps=None`` or ``scale=0`` gives ``mu``."""
        if eps is None or scale == 0.0:
            return self.mu
        noise = eps * self.sigma
        return self.mu + (noise if scale == 1.0 else scale * noise)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Elementwise log-density of ``z`` in nats."""
        normalized = (z - self.mu) / self.sigma
        return -0.5 * normalized * normalized - _HALF_LOG_2PI - torch.log(self.sigma)

    def kl(self, other: DiagonalNormal) -> torch.Tensor:
        """Elementwise analytic ``KL(self || other)`` in nats."""
        term1 = (self.mu - other.mu) / other.sigma
        ratio = self.sigma / other.sigma
        return 0.5 * (term1 * term1 + ratio * ratio) - 0.5 - torch.log(ratio)


def _uniform(shape: torch.Size, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    u = torch.rand(shape, dtype=like.dtype, device=like.device, generator=generator)
    return u * (1 - 2e-5) + 1e-5


class BernoulliImage:
    """Independent Bernoulli pixels with ``logits (B, 1, H, W)`` (binary MNIST)."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel log-likelihood ``(B, 1, H, W)`` of ``x`` in {0, 1} (or [0, 1])."""
        return -F.binary_cross_entropy_with_logits(self.logits, x, reduction="none")

    def mean(self) -> torch.Tensor:
        """Pixel probabilities ``(B, 1, H, W)`` in [0, 1]."""
        return torch.sigmoid(self.logits)

    def sample(self, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(self.mean(), generator=generator)


class NormalImage:
    """A Gaussian per sub-pixel on [-1, 1]; ``params (B, 2C, H, W)`` = raw means, log-sigmas."""

    def __init__(self, params: torch.Tensor) -> None:
        mu, log_sigma = params.chunk(2, dim=1)
        self.dist = DiagonalNormal.from_raw(mu, log_sigma)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sub-pixel log-density ``(B, C, H, W)`` of ``x`` in [0, 1] (mapped to [-1, 1])."""
        return self.dist.log_prob(2 * x - 1)

    def mean(self) -> torch.Tensor:
        return torch.clamp(self.dist.mu, -1, 1) / 2 + 0.5

    def sample(self, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.dist.mu.shape, dtype=self.dist.mu.dtype,
                          device=self.dist.mu.device, generator=generator)
        return torch.clamp(self.dist.sample(eps), -1, 1) / 2 + 0.5


class LogisticMixtureImage:
    """Discretised mixture of logistics over RGB with linear channel dependencies
    (PixelCNN++), ``params (B, 10 M, H, W)``: M mixture logits, then for each of the 3 colours
    M means, M log-scales (clamped at -7) and M coefficients (tanh).

    The bin half-width is ``1 / (2^num_bits - 1)``. Edge bins follow the official code: the
    lower tail applies below -0.999 (pixel 0) and the upper tail above 0.99 (the two top values
    for 8 bits).
    """

    def __init__(self, params: torch.Tensor, num_mixtures: int, num_bits: int = 8) -> None:
        b, c, h, w = params.shape
        if c != 10 * num_mixtures:
            raise ValueError(f"logistic mixture of {num_mixtures} components needs "
                             f"{10 * num_mixtures} channels, got {c}")
        self.num_mixtures = m = num_mixtures
        self.logit_probs = params[:, :m]                                 # B, M, H, W
        rest = params[:, m:].reshape(b, 3, 3 * m, h, w)
        self.means = rest[:, :, :m]                                      # B, 3, M, H, W
        self.log_scales = torch.clamp(rest[:, :, m:2 * m], min=-7.0)     # B, 3, M, H, W
        self.coeffs = torch.tanh(rest[:, :, 2 * m:])                     # B, 3, M, H, W
        self.max_value = 2.0 ** num_bits - 1

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log-likelihood ``(B, H, W)`` of ``x (B, 3, H, W)`` in [0, 1], summed over colours."""
        x = (2 * x - 1).unsqueeze(2)                                     # B, 3, 1, H, W
        c = self.coeffs
        mean_r = self.means[:, 0]
        mean_g = self.means[:, 1] + c[:, 0] * x[:, 0]
        mean_b = self.means[:, 2] + c[:, 1] * x[:, 0] + c[:, 2] * x[:, 1]
        centered = x - torch.stack([mean_r, mean_g, mean_b], dim=1)      # B, 3, M, H, W
        inv_scale = torch.exp(-self.log_scales)
        plus_in = inv_scale * (centered + 1.0 / self.max_value)
        min_in = inv_scale * (centered - 1.0 / self.max_value)
        log_cdf_plus = plus_in - F.softplus(plus_in)
        log_one_minus_cdf_min = -F.softplus(min_in)
        cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
        mid_in = inv_scale * centered
        log_pdf_mid = mid_in - self.log_scales - 2.0 * F.softplus(mid_in)
        log_prob_mid = torch.where(cdf_delta > 1e-5,
                                   torch.log(torch.clamp(cdf_delta, min=1e-10)),
                                   log_pdf_mid - math.log(self.max_value / 2))
        log_probs = torch.where(x < -0.999, log_cdf_plus,
                                torch.where(x > 0.99, log_one_minus_cdf_min, log_prob_mid))
        log_probs = log_probs.sum(dim=1) + F.log_softmax(self.logit_probs, dim=1)
        return torch.logsumexp(log_probs, dim=1)

    def _select(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w = weights.unsqueeze(1)                                         # B, 1, M, H, W
        return ((self.means * w).sum(2), (self.log_scales * w).sum(2), (self.coeffs * w).sum(2))

    @staticmethod
    def _chain_colours(x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
        r = torch.clamp(x[:, 0], -1, 1)
        g = torch.clamp(x[:, 1] + coeffs[:, 0] * r, -1, 1)
        b = torch.clamp(x[:, 2] + coeffs[:, 1] * r + coeffs[:, 2] * g, -1, 1)
        return torch.stack([r, g, b], dim=1) / 2 + 0.5

    def sample(self, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """An image ``(B, 3, H, W)`` in [0, 1]: a Gumbel-max component choice, then a logistic
        draw whose scale is divided by ``temperature`` (official convention), not rounded."""
        gumbel = -torch.log(-torch.log(_uniform(self.logit_probs.shape, self.logit_probs, generator)))
        choice = torch.argmax(self.logit_probs / temperature + gumbel, dim=1)
        one_hot = F.one_hot(choice, self.num_mixtures).permute(0, 3, 1, 2).to(self.means.dtype)
        means, log_scales, coeffs = self._select(one_hot)
        u = _uniform(means.shape, means, generator)
        x = means + torch.exp(log_scales) / temperature * (torch.log(u) - torch.log(1 - u))
        return self._chain_colours(x, coeffs)

    def mean(self) -> torch.Tensor:
        """The mixture-weighted component means ``(B, 3, H, W)`` in [0, 1]."""
        means, _, coeffs = self._select(torch.softmax(self.logit_probs, dim=1))
        return self._chain_colours(means, coeffs)


def output_distribution(params: torch.Tensor, kind: str, num_mixtures: int = 10,
                        num_bits: int = 8) -> BernoulliImage | LogisticMixtureImage | NormalImage:
    """The decoder's output distribution of ``kind`` (``bernoulli``, ``logistic_mixture`` or
    ``normal``) for the decoder output ``params``."""
    if kind == "bernoulli":
        return BernoulliImage(params)
    if kind == "logistic_mixture":
        return LogisticMixtureImage(params, num_mixtures, num_bits)
    if kind == "normal":
        return NormalImage(params)
    raise ValueError(f"unknown decoder distribution {kind!r}")
