"""NVAE's latent variables: what a posterior pass returns, the encoding users work with, and
the paths that interpolation follows.

Two coordinates describe latent group g (decoder order, shapes ``(B, C_z, h, w)``):

* the latent ``z_g`` itself, what the decoder consumes and the prior p(z_g | z_<g) is over (for
  models with flows, the posterior sample after its flow cells);
* its prior noise ``eps_g = (z_g - mu_p(z_<g)) / sigma_p(z_<g)``. Ancestral sampling is
  ``z_g = mu_p + sigma_p * eps_g`` with independent standard-normal ``eps_g``, so the noise of all
  groups describes the whole hierarchy invertibly, in independent N(0, I) coordinates.

Interpolation (``NVAE.interpolate``) moves along the prior noise. Interpolating ``z_g`` directly
ignores that z_g's prior depends on the earlier groups: once they change, an interpolated z_g
can sit far out in its new prior. The posterior's own noise ``(z_g - mu_q) / sigma_q`` is no
coordinate between two images either: q depends on the image, and the noise is zero for both
temperature-0 reconstructions. Along the prior noise every point is a valid input to the
generative model, each latent follows its interpolated context, and the path passes through both
reconstructions. The interpolation is spherical (:func:`slerp`) because N(0, I) puts its mass
near a sphere that a straight line between two points cuts inside.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import torch

from zoo.models.nvae.distributions import DiagonalNormal

__all__ = [
    "MAX_TEMPERATURE",
    "Encoding",
    "LatentGroup",
    "NVAEOutput",
    "PosteriorGroup",
    "checked_count",
    "checked_groups",
    "checked_temperature",
    "noise_path",
    "slerp",
]


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


@dataclass(frozen=True)
class PosteriorGroup:
    """Latent group g of an encoding: q(z_g | x, z_<g) and p(z_g | z_<g) at the decoder state
    that the samples of groups < g produced. Every tensor is ``(B, C_z, h, w)``, ``(C_z, h, w) =
    NVAE.latent_shape(g)``.

    Attributes:
        mean: the posterior mean (soft-clamped to (-5, 5)). It depends on the samples of the
            earlier groups: only at temperature 0, where every sample is its mean, are the
            means of all groups one consistent path.
        scale: the posterior standard deviation, > 0.01 (the density's; unaffected by the
            temperature).
        sample: ``mean + temperature * eps * scale`` with ``eps ~ N(0, I)``, before the flows.
        latent: ``sample`` after the group's flow cells, what the decoder consumes (equal to
            ``sample`` for models without flows).
        prior_mean: the prior mean at the same decoder state (0 for group 0).
        prior_scale: the prior standard deviation (1.01 for group 0).
    """

    mean: torch.Tensor
    scale: torch.Tensor
    sample: torch.Tensor
    latent: torch.Tensor
    prior_mean: torch.Tensor
    prior_scale: torch.Tensor

    @property
    def prior_noise(self) -> torch.Tensor:
        """``(latent - prior_mean) / prior_scale``: the standard-normal noise that ancestral
        sampling turns into this latent (``NVAE.sample_logits(B, 1.0, noise=...)``)."""
        return (self.latent - self.prior_mean) / self.prior_scale


@dataclass(frozen=True)
class Encoding:
    """``NVAE.encode(x, temperature)``: the posterior of every latent group, decoder order.

    Attributes:
        groups: one :class:`PosteriorGroup` per latent group, coarsest first.
        temperature: the temperature of the samples (0: every sample is its mean).
    """

    groups: tuple[PosteriorGroup, ...]
    temperature: float

    @property
    def means(self) -> list[torch.Tensor]:
        return [g.mean for g in self.groups]

    @property
    def scales(self) -> list[torch.Tensor]:
        return [g.scale for g in self.groups]

    @property
    def samples(self) -> list[torch.Tensor]:
        return [g.sample for g in self.groups]

    @property
    def latents(self) -> list[torch.Tensor]:
        """What ``NVAE.decode`` takes: the samples after the flows."""
        return [g.latent for g in self.groups]

    @property
    def prior_noise(self) -> list[torch.Tensor]:
        return [g.prior_noise for g in self.groups]

    @classmethod
    def of(cls, out: NVAEOutput, temperature: float) -> Encoding:
        """The user-facing view of a posterior pass (:class:`NVAEOutput`) at ``temperature``."""
        return cls(groups=tuple(
            PosteriorGroup(mean=g.posterior.mu, scale=g.posterior.sigma, sample=g.z_before_flow,
                           latent=g.z, prior_mean=g.prior.mu, prior_scale=g.prior.sigma)
            for g in out.groups), temperature=float(temperature))


#: the largest temperature: 1 is the model's own distribution; the paper and the official sampler
#: go below it (0.6 - 1.0) to trade diversity for quality, never above
MAX_TEMPERATURE = 1.0


def checked_temperature(temperature: float) -> float:
    """``temperature`` as a float; ValueError unless it is a number in [0, :data:`MAX_TEMPERATURE`]
    (NaN and infinities are refused)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not 0 <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be a number in [0, {MAX_TEMPERATURE:g}], got {temperature!r}")
    return float(temperature)


def checked_count(name: str, value: int) -> int:
    """``value`` unless it is not a positive ``int`` (a bool, a float such as 2.5 or 2.0, 0 or
    -1 are refused): ValueError naming ``name``."""
    if isinstance(value, torch.SymInt):  # a symbolic batch size of torch.export (dynamic ONNX graphs)
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def slerp(start: torch.Tensor, end: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between ``start`` and ``end`` ``(B, ...)``, one vector per image.

    ``sin((1 - t) W) / sin W * start + sin(t W) / sin W * end`` with ``W`` the angle between the
    two vectors; t = 0 and t = 1 give ``start`` and ``end`` exactly. Where the angle is
    (numerically) 0 or pi, or a vector is zero, the path is the straight line
    ``(1 - t) start + t end``.
    """
    a, b = start.flatten(1).double(), end.flatten(1).double()
    norms = a.norm(dim=1) * b.norm(dim=1)
    cos = ((a * b).sum(dim=1) / norms.clamp_min(1e-300)).clamp(-1.0, 1.0)
    angle = torch.arccos(cos)
    sin = torch.sin(angle)
    spherical = (sin > 1e-6) & (norms > 0)
    safe_sin = torch.where(spherical, sin, torch.ones_like(sin))
    w_start = torch.where(spherical, torch.sin((1 - t) * angle) / safe_sin,
                          torch.full_like(sin, 1 - t))
    w_end = torch.where(spherical, torch.sin(t * angle) / safe_sin, torch.full_like(sin, t))
    shape = (-1,) + (1,) * (start.dim() - 1)
    path = w_start.view(shape) * start.double() + w_end.view(shape) * end.double()
    return path.to(start.dtype)


def noise_path(start: Sequence[torch.Tensor], end: Sequence[torch.Tensor],
               times: Sequence[float], groups: Collection[int]) -> list[torch.Tensor]:
    """Prior noise along a path, per group: the frames at ``times`` stacked along the batch,
    ``(len(times) * B, C_z, h, w)`` (time-major). Groups in ``groups`` go from ``start[g]`` to
    ``end[g]`` by :func:`slerp`; the others keep ``start[g]``."""
    return [torch.cat([slerp(a, b, t) if g in groups else a for t in times])
            for g, (a, b) in enumerate(zip(start, end))]


def checked_groups(groups: Iterable[int] | None, num_groups: int) -> frozenset[int]:
    """``groups`` as a set of latent group indices (None: all ``num_groups``); raises
    ``ValueError`` unless they are distinct integers in ``[0, num_groups)``, at least one."""
    if groups is None:
        return frozenset(range(num_groups))
    chosen = list(groups)
    valid = all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < num_groups
                for g in chosen)
    if not chosen or not valid or len(set(chosen)) != len(chosen):
        raise ValueError(f"groups must be distinct latent group indices in [0, {num_groups - 1}] "
                         f"(decoder order, 0 = coarsest), got {chosen}")
    return frozenset(chosen)
