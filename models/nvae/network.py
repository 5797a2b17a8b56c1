"""NVAE: the deep hierarchical VAE of Vahdat & Kautz (NeurIPS 2020), layer for layer as the
official implementation computes it.

Bottom-up (encoder): ``stem -> preprocess cells -> encoder tower``; the tower's feature before
each latent group is kept. Top-down (decoder): starting from a learned feature, each latent
group gets a prior from the decoder state and a posterior from the matching encoder feature
combined with that state (residual parameterisation: the posterior's raw parameters are added
to the prior's), its sample is merged into the state, and ``postprocess cells -> output conv``
give the parameters of the output distribution. Groups are numbered in decoder order: group 0
is the coarsest, whose prior is a fixed Gaussian (mu 0, sigma 1.01).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.nvae.cells import DecoderCombiner, EncoderCombiner, ResidualCell
from models.nvae.config import CHANNEL_MULT, NVAEConfig
from models.nvae.distributions import DiagonalNormal, output_distribution
from models.nvae.flows import FlowPair
from models.nvae.layers import WeightNormConv2d
from models.nvae.regularizers import SpectralNormRegularizer, batchnorm_scale_penalty

__all__ = ["NVAE", "NVAEOutput", "LatentGroup", "build_nvae"]


@dataclass
class LatentGroup:
    """One latent group of a posterior pass; per-image values are summed over (C, H, W), nats.

    Attributes:
        posterior: q(z | x, z_<g), post-clamp ``mu`` and ``sigma`` ``(B, C_z, h, w)``.
        prior: p(z | z_<g), the same shapes.
        z_before_flow: the posterior sample before the flow cells.
        z: the latent after the flows (what the decoder consumes).
        log_q: ``(B,)`` log q at ``z_before_flow`` (the flows are volume preserving).
        log_p: ``(B,)`` log p at ``z``.
        kl: ``(B,)`` analytic KL(q || p) without flows, ``log_q - log_p`` with flows.
        kl_per_channel: ``(C_z,)`` batch mean of the KL summed over space.
    """

    posterior: DiagonalNormal
    prior: DiagonalNormal
    z_before_flow: torch.Tensor
    z: torch.Tensor
    log_q: torch.Tensor
    log_p: torch.Tensor
    kl: torch.Tensor
    kl_per_channel: torch.Tensor


@dataclass
class NVAEOutput:
    """The result of a posterior pass ``NVAE.forward(x)``.

    Attributes:
        logits: ``(B, C_out, H, W)`` parameters of the output distribution (Bernoulli logits or
            the logistic-mixture / normal parameters); see ``NVAE.output_distribution``.
        groups: the latent groups in decoder order (coarsest first).
    """

    logits: torch.Tensor
    groups: list[LatentGroup]

    @property
    def log_q(self) -> torch.Tensor:
        """``(B,)`` log q(z | x) summed over groups, nats."""
        return torch.stack([g.log_q for g in self.groups]).sum(0)

    @property
    def log_p(self) -> torch.Tensor:
        """``(B,)`` log p(z) summed over groups, nats."""
        return torch.stack([g.log_p for g in self.groups]).sum(0)

    @property
    def kl_all(self) -> torch.Tensor:
        """``(G, B)`` KL per group, nats."""
        return torch.stack([g.kl for g in self.groups])

    @property
    def kl_diag(self) -> torch.Tensor:
        """``(G, C_z)`` batch-mean KL per group and latent channel, nats."""
        return torch.stack([g.kl_per_channel for g in self.groups])


def _decoder_scale_of_groups(config: NVAEConfig) -> list[int]:
    """For each group in decoder order, the index of its scale (0 = coarsest)."""
    counts = config.groups_per_scale[::-1]
    return [s for s, n in enumerate(counts) for _ in range(n)]


class NVAE(nn.Module):
    """The NVAE network for one :class:`~models.nvae.config.NVAEConfig`.

    Input images are ``(B, C, S, S)`` in [0, 1] with ``C = config.image_channels`` and
    ``S = config.image_size``; binary MNIST images are zero-padded to 32 x 32.
    """

    def __init__(self, config: NVAEConfig) -> None:
        super().__init__()
        self.config = cfg = config
        c_enc, c_dec, c_z = cfg.num_channels_enc, cfg.num_channels_dec, cfg.num_latent_per_group
        groups = cfg.groups_per_scale
        num_scales = cfg.num_latent_scales

        def cell(c_in: int, c_out: int, cell_type: str) -> ResidualCell:
            return ResidualCell(c_in, c_out, cell_type, cfg.cell_ops(cell_type), cfg.use_se)

        # Bottom-up.
        self.stem = WeightNormConv2d(cfg.image_channels, c_enc, 3, padding=1)
        mult = 1
        preprocess = []
        for _ in range(cfg.num_preprocess_blocks):
            for c in range(cfg.num_preprocess_cells):
                if c == cfg.num_preprocess_cells - 1:
                    preprocess.append(cell(c_enc * mult, c_enc * mult * CHANNEL_MULT, "down_pre"))
                    mult *= CHANNEL_MULT
                else:
                    preprocess.append(cell(c_enc * mult, c_enc * mult, "normal_pre"))
        self.preprocess = nn.ModuleList(preprocess)

        encoder_cells, encoder_downsamples, encoder_combiners = [], [], []
        for s in range(num_scales):
            for g in range(groups[s]):
                encoder_cells.extend(cell(c_enc * mult, c_enc * mult, "normal_enc")
                                     for _ in range(cfg.num_cell_per_cond_enc))
                if not (s == num_scales - 1 and g == groups[s] - 1):
                    encoder_combiners.append(EncoderCombiner(c_enc * mult, c_dec * mult))
            if s < num_scales - 1:
                encoder_downsamples.append(cell(c_enc * mult, c_enc * mult * CHANNEL_MULT, "down_enc"))
                mult *= CHANNEL_MULT
        self.encoder_cells = nn.ModuleList(encoder_cells)
        self.encoder_downsamples = nn.ModuleList(encoder_downsamples)
        # Stored in decoder order: combiner g-1 serves latent group g.
        self.encoder_combiners = nn.ModuleList(encoder_combiners[::-1])
        self.encoder_top = WeightNormConv2d(c_enc * mult, c_enc * mult, 1)

        # Top-down; ``mult`` is now the coarsest scale's channel factor.
        top_size = cfg.image_size // cfg.downsampling
        self.prior_feature = nn.Parameter(torch.rand(c_dec * mult, top_size, top_size))
        posterior_heads, prior_heads, flows = [], [], []
        decoder_cells, decoder_combiners, decoder_upsamples = [], [], []
        for s in range(num_scales):
            for g in range(groups[num_scales - 1 - s]):
                first = s == 0 and g == 0
                posterior_heads.append(WeightNormConv2d(c_enc * mult, 2 * c_z, 3, padding=1))
                flows.extend(FlowPair(c_z) for _ in range(cfg.num_nf))
                if not first:
                    prior_heads.append(WeightNormConv2d(c_dec * mult, 2 * c_z, 1))
                    decoder_cells.extend(cell(c_dec * mult, c_dec * mult, "normal_dec")
                                         for _ in range(cfg.num_cell_per_cond_dec))
                decoder_combiners.append(DecoderCombiner(c_dec * mult, c_z))
            if s < num_scales - 1:
                decoder_upsamples.append(cell(c_dec * mult, c_dec * mult // CHANNEL_MULT, "up_dec"))
                mult //= CHANNEL_MULT
        self.posterior_heads = nn.ModuleList(posterior_heads)
        self.prior_heads = nn.ModuleList(prior_heads)
        self.flows = nn.ModuleList(flows)
        self.decoder_cells = nn.ModuleList(decoder_cells)
        self.decoder_combiners = nn.ModuleList(decoder_combiners)
        self.decoder_upsamples = nn.ModuleList(decoder_upsamples)

        postprocess = []
        for _ in range(cfg.num_postprocess_blocks):
            for c in range(cfg.num_postprocess_cells):
                if c == 0:
                    postprocess.append(cell(c_dec * mult, c_dec * mult // CHANNEL_MULT, "up_post"))
                    mult //= CHANNEL_MULT
                else:
                    postprocess.append(cell(c_dec * mult, c_dec * mult, "normal_post"))
        self.postprocess = nn.ModuleList(postprocess)
        self.output_conv = WeightNormConv2d(c_dec * mult, cfg.output_channels, 3, padding=1)

        self._group_scales = _decoder_scale_of_groups(cfg)
        self.spectral_regularizer = SpectralNormRegularizer(
            [m for m in self.modules() if isinstance(m, nn.Conv2d)])
        self._batch_norms = tuple(m for m in self.modules() if isinstance(m, nn.BatchNorm2d))
        self.set_memory_format(torch.channels_last)

    def set_memory_format(self, memory_format: torch.memory_format) -> "NVAE":
        """Lay out kernels and activations as ``memory_format``. The default, channels-last,
        makes oneDNN's depthwise and 3x3 convolutions (and their backward passes) markedly
        faster on CPU (``benchmarks/nvae.py`` compares)."""
        self.memory_format = memory_format
        return self.to(memory_format=memory_format)

    # ----------------------------------------------------------------- shapes and checks
    @property
    def num_groups(self) -> int:
        return len(self.decoder_combiners)

    def latent_shape(self, group: int) -> tuple[int, int, int]:
        """``(C_z, h, w)`` of latent group ``group`` (decoder order)."""
        size = self.config.image_size // self.config.downsampling * 2 ** self._group_scales[group]
        return (self.config.num_latent_per_group, size, size)

    def check_images(self, x: torch.Tensor) -> None:
        """Raise ``ValueError`` unless ``x`` is ``(B, C, S, S)`` in [0, 1] for this config (the
        range is not checked under ``torch.compile`` / ``torch.export``)."""
        cfg = self.config
        expected = (cfg.image_channels, cfg.image_size, cfg.image_size)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"NVAE expects images of shape (B, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}) for this config, got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"NVAE expects floating-point images in [0, 1], got {x.dtype}")
        if torch.compiler.is_compiling():  # a value check is data-dependent control flow: not traceable
            return
        low, high = torch.aminmax(x)
        if low < 0 or high > 1:
            raise ValueError(f"NVAE expects pixel values in [0, 1], got range "
                             f"[{float(low):g}, {float(high):g}]")

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
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Bottom-up pass: the top feature ``(B, C, h0, w0)`` and the encoder features that the
        combiners of groups 1..G-1 use (decoder order)."""
        s = self.stem((2 * x - 1.0).contiguous(memory_format=self.memory_format))
        for cell in self.preprocess:
            s = cell(s)
        features, cells = [], iter(self.encoder_cells)
        counts = self.config.groups_per_scale
        for scale, count in enumerate(counts):
            for g in range(count):
                for _ in range(self.config.num_cell_per_cond_enc):
                    s = next(cells)(s)
                if not (scale == len(counts) - 1 and g == count - 1):
                    features.append(s)
            if scale < len(counts) - 1:
                s = self.encoder_downsamples[scale](s)
        features.reverse()
        return F.elu(self.encoder_top(F.elu(s))), features

    def _decode(self, batch_size: int,
                latent: Callable[[int, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Top-down pass; ``latent(g, state)`` returns group g's latent given the decoder state."""
        s = self.prior_feature.unsqueeze(0).expand(batch_size, -1, -1, -1)
        s = s.contiguous(memory_format=self.memory_format)
        cells = iter(self.decoder_cells)
        for g in range(self.num_groups):
            if g > 0:
                for _ in range(self.config.num_cell_per_cond_dec):
                    s = next(cells)(s)
            s = self.decoder_combiners[g](s, latent(g, s))
            scale = self._group_scales[g]
            if g + 1 < self.num_groups and self._group_scales[g + 1] != scale:
                s = self.decoder_upsamples[scale](s)
        for cell in self.postprocess:
            s = cell(s)
        return self.output_conv(F.elu(s))

    def _prior(self, g: int, state: torch.Tensor, temperature: float = 1.0) -> DiagonalNormal:
        if g == 0:
            return DiagonalNormal.standard((state.shape[0], *self.latent_shape(0)),
                                           dtype=state.dtype, device=state.device,
                                           temperature=temperature)
        mu, log_sigma = self.prior_heads[g - 1](F.elu(state)).chunk(2, dim=1)
        return DiagonalNormal.from_raw(mu, log_sigma, temperature)

    def _noise(self, g: int, like: torch.Tensor, noise: Sequence[torch.Tensor] | None,
               generator: torch.Generator | None) -> torch.Tensor:
        if noise is not None:
            eps = noise[g]
            if tuple(eps.shape) != tuple(like.shape):
                raise ValueError(f"noise for latent group {g} must have shape "
                                 f"{tuple(like.shape)}, got {tuple(eps.shape)}")
            return eps.to(dtype=like.dtype, device=like.device)
        return torch.randn(like.shape, dtype=like.dtype, device=like.device, generator=generator)

    def _check_noise(self, noise: Sequence[torch.Tensor] | None) -> None:
        if noise is not None and len(noise) != self.num_groups:
            raise ValueError(f"noise must hold one tensor per latent group ({self.num_groups}), "
                             f"got {len(noise)}")

    def forward(self, x: torch.Tensor, temperature: float = 1.0,
                noise: Sequence[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> NVAEOutput:
        """Posterior pass over images ``x (B, C, S, S)`` in [0, 1].

        Args:
            temperature: scales the reparameterisation noise of every posterior sample
                (``z = mu + temperature * eps * sigma``); 0 gives the posterior means. The
                densities use the unscaled sigma.
            noise: optional standard-normal ``eps`` per group (decoder order, shapes
                :meth:`latent_shape` with the batch in front) instead of fresh draws.
            generator: random generator for fresh draws.
        """
        self.check_images(x)
        self._check_noise(noise)
        top, features = self.encode(x)
        with_flows = self.config.num_nf > 0
        groups: list[LatentGroup] = []

        def latent(g: int, state: torch.Tensor) -> torch.Tensor:
            if g == 0:
                feature = top
                mu_q, log_sigma_q = self.posterior_heads[0](top).chunk(2, dim=1)
            else:
                mu_p, log_sigma_p = self.prior_heads[g - 1](F.elu(state)).chunk(2, dim=1)
                feature = self.encoder_combiners[g - 1](features[g - 1], state)
                mu_q, log_sigma_q = self.posterior_heads[g](feature).chunk(2, dim=1)
                if self.config.res_dist:
                    mu_q, log_sigma_q = mu_p + mu_q, log_sigma_p + log_sigma_q
            posterior = DiagonalNormal.from_raw(mu_q, log_sigma_q)
            eps = None if temperature == 0 else self._noise(g, posterior.mu, noise, generator)
            z_before_flow = posterior.sample(eps, temperature)
            log_q = posterior.log_prob(z_before_flow)
            z = z_before_flow
            for flow in self.flows[g * self.config.num_nf:(g + 1) * self.config.num_nf]:
                z = flow(z)
            if g == 0:
                prior = DiagonalNormal.standard(z.shape, dtype=z.dtype, device=z.device)
            else:
                prior = DiagonalNormal.from_raw(mu_p, log_sigma_p)
            log_p = prior.log_prob(z)
            kl = log_q - log_p if with_flows else posterior.kl(prior)
            groups.append(LatentGroup(
                posterior=posterior, prior=prior, z_before_flow=z_before_flow, z=z,
                log_q=log_q.sum(dim=(1, 2, 3)), log_p=log_p.sum(dim=(1, 2, 3)),
                kl=kl.sum(dim=(1, 2, 3)), kl_per_channel=kl.sum(dim=(2, 3)).mean(dim=0)))
            return z

        logits = self._decode(x.shape[0], latent)
        return NVAEOutput(logits=logits, groups=groups)

    def sample_logits(self, num_samples: int, temperature: float = 1.0,
                      noise: Sequence[torch.Tensor] | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling from the prior: the output distribution's parameters
        ``(N, C_out, S, S)``. ``temperature`` multiplies every prior sigma (0: prior means)."""
        self._check_noise(noise)

        def latent(g: int, state: torch.Tensor) -> torch.Tensor:
            prior = self._prior(g, state, temperature)
            eps = None if temperature == 0 else self._noise(g, prior.mu, noise, generator)
            return prior.sample(eps)

        return self._decode(num_samples, latent)

    @torch.no_grad()
    def sample(self, num_samples: int, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Images ``(N, C, S, S)`` in [0, 1] sampled at ``temperature``: Bernoulli
        probabilities for binary data (as the official code shows them), a draw from the
        logistic mixture or normal otherwise."""
        logits = self.sample_logits(num_samples, temperature, generator=generator)
        output = self.output_distribution(logits)
        if self.config.decoder_distribution == "bernoulli":
            return output.mean()
        return output.sample(generator=generator)

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
        ``logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K``. Run it in eval mode
        (as the official evaluation does)."""
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
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
    def readjust_bn(self, num_batches: int = 500, temperature: float = 1.0,
                    batch_size: int = 16, generator: torch.Generator | None = None) -> None:
        """Re-estimate the batch-norm running statistics from ``num_batches`` prior samples at
        ``temperature`` (batch norms in training mode), as the official evaluation's
        ``--readjust_bn`` does; leaves the network in eval mode."""
        self.train()
        for _ in range(num_batches):
            self.sample_logits(batch_size, temperature, generator=generator)
        self.eval()

    # ----------------------------------------------------------------- regularisers
    def spectral_norm_loss(self) -> torch.Tensor:
        """Sum of the spectral norms of all convolution kernels (power-iteration estimate)."""
        return self.spectral_regularizer()

    def batchnorm_loss(self) -> torch.Tensor:
        """Sum over batch norms of the largest absolute scale ``max |gamma|``."""
        return batchnorm_scale_penalty(self._batch_norms)


def build_nvae(**config: Any) -> NVAE:
    """The zoo's network builder: ``build_nvae(**NVAEConfig fields)``."""
    return NVAE(NVAEConfig(**config))
