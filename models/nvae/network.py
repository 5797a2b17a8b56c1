"""NVAE: the deep hierarchical VAE of Vahdat & Kautz (NeurIPS 2020), layer for layer as the
official implementation computes it.

The modules and the bottom-up / top-down passes through them are :class:`~zoo.models.nvae.towers.NVAETowers`
(see :mod:`zoo.models.nvae.towers` for the architecture); :class:`NVAE` adds what a user calls:
the posterior pass (``forward``), ancestral sampling, the latent API (encode, decode, reconstruct,
interpolate), likelihoods, the batch-norm re-estimation of the official evaluation and the
training regularisers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from zoo.models.nvae.config import READJUST_BATCH_SIZE, READJUST_BATCHES, NVAEConfig
from zoo.models.nvae.distributions import DiagonalNormal, output_distribution
from zoo.models.nvae.latents import (
    Encoding,
    LatentGroup,
    NVAEOutput,
    checked_count,
    checked_groups,
    checked_temperature,
    noise_path,
)
from zoo.models.nvae.plan import LatentGroupPlan
from zoo.models.nvae.regularizers import SpectralNormRegularizer, batchnorm_scale_penalty
from zoo.models.nvae.towers import NVAETowers

__all__ = ["NVAE", "build_nvae"]

#: how far (in levels) a pixel of a likelihood's input may sit from the num_x_bits grid: k / 255 in
#: float32 is off by ~255 * 6e-8 = 1.5e-5 levels; an unquantised value is off by up to 0.5
_GRID_TOLERANCE = 1e-3


class NVAE(NVAETowers):
    """The NVAE network for one :class:`~zoo.models.nvae.config.NVAEConfig`, laid out by its
    :class:`~zoo.models.nvae.plan.NVAEPlan` (``self.plan``).

    Input images are ``(B, C, S, S)`` in [0, 1] with ``C = config.image_channels`` and
    ``S = config.image_size``; binary MNIST images are zero-padded to 32 x 32.
    """

    def __init__(self, config: NVAEConfig) -> None:
        super().__init__(config)
        self.spectral_regularizer = SpectralNormRegularizer(
            [m for m in self.modules() if isinstance(m, nn.Conv2d)])
        self._batch_norms = tuple(m for m in self.modules() if isinstance(m, nn.BatchNorm2d))
        self.set_memory_format(torch.channels_last)

    # ----------------------------------------------------------------- inputs
    def check_images(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is a tensor ``(B, C, S, S)``, B >= 1, for this config,
        of the network's dtype (float32 unless converted), with values in [0, 1] (no NaN; the
        values are not checked under ``torch.compile`` / ``torch.export``)."""
        cfg = self.config
        expected = (cfg.image_channels, cfg.image_size, cfg.image_size)
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"NVAE expects a tensor of images, got {type(x).__name__}")
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"NVAE expects images of shape (B, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}) for this config, got {tuple(x.shape)}")
        if x.shape[0] == 0:
            raise ValueError("NVAE expects at least one image, got an empty batch (0, "
                             f"{', '.join(map(str, expected))})")
        dtype = self.prior_feature.dtype
        if x.dtype != dtype:
            raise ValueError(f"NVAE expects images of the network's dtype {dtype}, got {x.dtype}"
                             + (" (floating-point images in [0, 1])" if not x.is_floating_point() else
                                f"; convert them with x.to({dtype}) or the network with .to({x.dtype})"))
        if torch.compiler.is_compiling():  # a value check is data-dependent control flow: not traceable
            return
        low, high = torch.aminmax(x)
        if not (low >= 0 and high <= 1):  # NaN fails both comparisons
            raise ValueError(f"NVAE expects pixel values in [0, 1], got range "
                             f"[{float(low):g}, {float(high):g}]"
                             + (" (NaN)" if bool(torch.isnan(x).any()) else ""))

    def check_likelihood_images(self, x: torch.Tensor) -> None:
        """:meth:`check_images`, and the values a likelihood is defined for: a Bernoulli decoder's
        p(x | z) is a probability of binary images, {0, 1} only (binarise grey digits as NVAE's
        MNIST does, ``torch.bernoulli(x)``); a logistic mixture's of images on the grid of
        ``num_x_bits`` levels, ``k / (2^bits - 1)`` (:meth:`quantize` 8-bit images). Raises
        ``ValueError`` saying which, with the first offending value."""
        self.check_images(x)
        cfg = self.config
        if torch.compiler.is_compiling() or cfg.decoder_distribution == "normal":
            return
        if cfg.decoder_distribution == "bernoulli":
            off = (x != 0) & (x != 1)
            if bool(off.any()):
                raise ValueError(f"a Bernoulli decoder's likelihood needs binary images (0 or 1), got the value "
                                 f"{float(x[off][0]):g}: binarise grey images first, torch.bernoulli(x) as "
                                 f"NVAE's MNIST (a threshold, (x > 0.5).float(), for a fixed result)")
            return
        levels = 2 ** cfg.num_x_bits - 1
        scaled = x.double() * levels
        off = (scaled - scaled.round()).abs() > _GRID_TOLERANCE
        if bool(off.any()):
            raise ValueError(f"this decoder's likelihood needs images on the grid of {cfg.num_x_bits}-bit levels "
                             f"k / {levels}, got the value {float(x[off][0]):g}: pass 8-bit images (integers / "
                             f"255) through quantize(x)")

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """8-bit images in [0, 1] reduced to ``num_x_bits`` levels, as the official data
        pipeline does before the network (identity for 8 bits): ``floor(255 x / 2^(8-b)) /
        (2^b - 1)``. Apply it to the data of 5-bit models (CelebA-HQ, FFHQ) before
        :meth:`forward` or :meth:`log_likelihood`."""
        bits = self.config.num_x_bits
        if bits == 8:
            return x
        return torch.floor(x * 255 / 2 ** (8 - bits)) / (2 ** bits - 1)

    # ----------------------------------------------------------------- passes
    def forward(self, x: torch.Tensor, temperature: float = 1.0,
                noise: Sequence[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> NVAEOutput:
        """Posterior pass over images ``x (B, C, S, S)`` in [0, 1].

        Args:
            temperature: in [0, 1], scales the reparameterisation noise of every posterior
                sample (``z = mu + temperature * eps * sigma``); 0 gives the posterior means. The
                densities use the unscaled sigma.
            noise: optional standard-normal ``eps`` per group (decoder order, shapes
                :meth:`latent_shape` with the batch in front) instead of fresh draws.
            generator: random generator for fresh draws.
        """
        self.check_images(x)
        temperature = checked_temperature(temperature)
        self._check_noise(noise)
        features = self._bottom_up(x)
        groups: list[LatentGroup] = []

        def latent(group: LatentGroupPlan, state: torch.Tensor) -> torch.Tensor:
            prior = self._prior_parameters(group, state)
            posterior = self._posterior(group, features, state, prior)
            eps = None if temperature == 0 else self._noise(group.index, posterior.mu, noise,
                                                            generator)
            z_before_flow = posterior.sample(eps, temperature)
            z = self._apply_flows(group, z_before_flow)
            groups.append(self._latent_group(posterior, DiagonalNormal.from_raw(*prior),
                                             z_before_flow, z))
            return z

        logits = self._top_down(x.shape[0], latent)
        return NVAEOutput(logits=logits, groups=groups)

    def sample_logits(self, num_samples: int, temperature: float = 1.0,
                      noise: Sequence[torch.Tensor] | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling from the prior: the output distribution's parameters
        ``(N, C_out, S, S)`` for ``num_samples`` N >= 1 (an ``int``). ``temperature`` in [0, 1]
        multiplies every prior sigma (0: prior means)."""
        num_samples = checked_count("num_samples", num_samples)
        temperature = checked_temperature(temperature)
        self._check_noise(noise)

        def latent(group: LatentGroupPlan, state: torch.Tensor) -> torch.Tensor:
            prior = DiagonalNormal.from_raw(*self._prior_parameters(group, state), temperature)
            eps = None if temperature == 0 else self._noise(group.index, prior.mu, noise,
                                                            generator)
            return prior.sample(eps)

        return self._top_down(num_samples, latent)

    @torch.no_grad()
    def sample(self, num_samples: int, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Images ``(N, C, S, S)`` in [0, 1] sampled at ``temperature`` in [0, 1] (N =
        ``num_samples`` >= 1, an ``int``): Bernoulli probabilities for binary data (as the official
        code shows them), a draw from the logistic mixture or normal otherwise."""
        logits = self.sample_logits(num_samples, temperature, generator=generator)
        output = self.output_distribution(logits)
        if self.config.decoder_distribution == "bernoulli":
            return output.mean()
        return output.sample(generator=generator)

    # ----------------------------------------------------------------- latent API
    def encode(self, x: torch.Tensor, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> Encoding:
        """The posterior of every latent group for images ``x (B, C, S, S)`` in [0, 1].

        Group g's posterior is conditioned on the samples of groups < g, drawn at
        ``temperature`` >= 0 (it scales the reparameterisation noise; 0 gives the means, so
        ``encode(x, 0).latents`` is the posterior-mean path that :meth:`reconstruct` decodes).
        """
        return Encoding.of(self(x, checked_temperature(temperature), generator=generator),
                         temperature)

    def decode(self, latents: Sequence[torch.Tensor]) -> Any:
        """The output distribution p(x | z) for one latent per group (decoder order, each
        ``(B, *latent_shape(g))``: ``Encoding.latents``, or ``Encoding.means`` of a model
        without flows). Its ``mean()`` is ``(B, C, S, S)`` in [0, 1]; ``log_prob(x)`` and
        ``sample()`` as for :meth:`output_distribution`."""
        if len(latents) != self.num_groups:
            raise ValueError(f"latents must hold one tensor per latent group ({self.num_groups}), "
                             f"got {len(latents)}")
        batch = latents[0].shape[0] if isinstance(latents[0], torch.Tensor) and latents[0].dim() == 4 else -1
        for g, z in enumerate(latents):
            shape = self.latent_shape(g)
            if not isinstance(z, torch.Tensor) or tuple(z.shape) != (batch, *shape) or batch < 1:
                raise ValueError(f"latents[{g}] must be a tensor of shape (B, {', '.join(map(str, shape))}), B >= 1, "
                                 f"with the batch B of latents[0], got {tuple(getattr(z, 'shape', ())) or type(z)}")
            if not torch.compiler.is_compiling() and not bool(torch.isfinite(z).all()):
                raise ValueError(f"latents[{g}] holds NaN or infinite values")
        logits = self._top_down(batch, lambda group, state: latents[group.index].to(state))
        return self.output_distribution(logits)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, temperature: float = 0.0,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Images ``(B, C, S, S)`` in [0, 1] decoded from the posterior of ``x`` (temperature 0:
        the posterior-mean path, deterministic), ``decode(encode(x, temperature).latents)
        .mean()``: the Bernoulli probabilities of binary models, the mixture-weighted component
        means of the logistic mixture (as the official FID sampler shows images; its training
        logs draw a sample instead), the clamped mean of a normal decoder."""
        out = self(x, checked_temperature(temperature), generator=generator)
        return self.output_distribution(out.logits).mean()

    @torch.no_grad()
    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int = 8,
                    groups: Iterable[int] | None = None) -> torch.Tensor:
        """Images ``(B, steps, C, S, S)`` in [0, 1] along a latent path from ``x1`` to ``x2``
        (each ``(B, C, S, S)`` in [0, 1]); frame k is at ``t = k / (steps - 1)``.

        Both images are encoded at temperature 0 and described by their prior noise (the
        independent standard-normal coordinates of the hierarchy, :mod:`zoo.models.nvae.latents`).
        The noise of each group in ``groups`` (decoder order, 0 = coarsest; default all) is
        interpolated by :func:`~zoo.models.nvae.latents.slerp`, the others keep x1's, and each frame
        is decoded by ancestral sampling, ``z_g = mu_p(z_<g) + sigma_p(z_<g) eps_g``, so every
        latent stays consistent with its interpolated context. Frame 0 is exactly
        ``reconstruct(x1)`` and, when every group is interpolated, the last frame exactly
        ``reconstruct(x2)`` (the path meets them up to rounding). ``steps`` >= 2. Use eval
        mode: the frames between the ends are decoded as one batch.
        """
        self.check_images(x1)
        self.check_images(x2)
        if x1.shape != x2.shape:
            raise ValueError(f"x1 and x2 must have the same shape, got {tuple(x1.shape)} and "
                             f"{tuple(x2.shape)}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2 (endpoints included), got {steps!r}")
        selected = checked_groups(groups, self.num_groups)
        start, end = self(x1, 0.0), self(x2, 0.0)
        ends_at_x2 = len(selected) == self.num_groups
        times = [k / (steps - 1) for k in range(1, steps - 1 if ends_at_x2 else steps)]
        frames = [self.output_distribution(start.logits).mean()]
        if times:
            noise = noise_path(Encoding.of(start, 0.0).prior_noise, Encoding.of(end, 0.0).prior_noise,
                               times, selected)
            path = self.sample_logits(len(noise[0]), 1.0, noise)
            frames.extend(self.output_distribution(path).mean().chunk(len(times)))
        if ends_at_x2:
            frames.append(self.output_distribution(end.logits).mean())
        return torch.stack(frames, dim=1)

    # ----------------------------------------------------------------- likelihoods
    def output_distribution(self, logits: torch.Tensor) -> Any:
        """The output distribution for decoder output ``logits`` (``log_prob``, ``sample``,
        ``mean``)."""
        cfg = self.config
        return output_distribution(logits, cfg.decoder_distribution, cfg.num_mixture_dec,
                                   cfg.num_x_bits)

    def reconstruction_log_likelihood(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(B,)`` log p(x | z) in nats, summed over the (cropped) image."""
        log_prob = self.output_distribution(logits).log_prob(x)
        b = self.config.crop_border
        if b:
            log_prob = log_prob[..., b:-b, b:-b]
        return log_prob.flatten(1).sum(1)

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, num_samples: int = 1000,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Importance-weighted lower bound on log p(x), ``(B,)`` nats per image:
        ``logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K`` with K =
        ``num_samples`` >= 1. Run it in eval mode (as the official evaluation does).

        ``x (B, C, S, S)`` must be what the decoder's likelihood is defined for (see
        :meth:`check_likelihood_images`): binary {0, 1} images for a Bernoulli decoder (MNIST),
        images on the ``num_x_bits`` grid (:meth:`quantize`) for a logistic mixture; anything else
        raises ``ValueError`` rather than return a number that is no likelihood."""
        num_samples = checked_count("num_samples", num_samples)
        self.check_likelihood_images(x)
        log_weights = []
        for _ in range(num_samples):
            out = self(x, generator=generator)
            log_weights.append(self.reconstruction_log_likelihood(out.logits, x)
                               - out.log_q + out.log_p)
        return torch.logsumexp(torch.stack(log_weights, dim=1), dim=1) - math.log(num_samples)

    def bits_per_dim(self, nats: torch.Tensor | float) -> torch.Tensor | float:
        """Convert a negative log-likelihood in nats per image to bits per sub-pixel."""
        return nats / (math.log(2.0) * self.config.likelihood_dims)

    # ----------------------------------------------------------------- evaluation helpers
    @torch.no_grad()
    def readjust_bn(self, num_batches: int = READJUST_BATCHES, temperature: float = 1.0,
                    batch_size: int = READJUST_BATCH_SIZE, generator: torch.Generator | None = None,
                    progress: Callable[[range], Iterable[int]] | None = None) -> None:
        """Re-estimate the batch-norm running statistics from ``num_batches`` batches of
        ``batch_size`` prior samples at ``temperature``, as the official evaluation's
        ``--readjust_bn`` does, and leave the network in eval mode.

        The official code runs 500 batches of 36 through the moving average (momentum 0.05),
        which forgets all but about the last (2 - 0.05) / 0.05 = 39 batches. Here every batch
        counts equally (``momentum=None`` from a zero batch count, so the first batch replaces
        the stored statistics), and the default 40 batches of 36 give estimates of the same
        variance in 1/12 of the passes. Batch norms that sampling does not run (the encoder's)
        keep their statistics; every batch norm keeps its momentum.

        Args:
            progress: wraps the range of batch indices (e.g. a progress bar); none by default.
        """
        checked_count("num_batches", num_batches)
        checked_count("batch_size", batch_size)
        checked_temperature(temperature)
        settings = [(bn.momentum, bn.num_batches_tracked.clone()) for bn in self._batch_norms]
        for bn in self._batch_norms:
            bn.momentum = None
            bn.num_batches_tracked.zero_()
        self.train()
        try:
            for _ in (progress or iter)(range(num_batches)):
                self.sample_logits(batch_size, temperature, generator=generator)
        finally:
            for bn, (momentum, count) in zip(self._batch_norms, settings, strict=True):
                bn.momentum = momentum
                bn.num_batches_tracked += count
            self.eval()

    # ----------------------------------------------------------------- regularisers
    def spectral_norm_loss(self) -> torch.Tensor:
        """Sum of the spectral norms of all convolution kernels (power-iteration estimate)."""
        return self.spectral_regularizer()

    def batchnorm_loss(self) -> torch.Tensor:
        """Sum over batch norms of the largest absolute scale ``max |gamma|``."""
        return batchnorm_scale_penalty(self._batch_norms)


def build_nvae(**config: Any) -> NVAE:
    """The zoo's network builder: ``build_nvae(**NVAEConfig fields)``.

    Raises:
        ValueError: a key that is no NVAEConfig field (the message lists the fields), or a value
            the config refuses.
    """
    fields = [f.name for f in dataclasses.fields(NVAEConfig)]
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise ValueError(f"unknown nvae config key(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    return NVAE(NVAEConfig(**config))
