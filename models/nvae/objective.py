"""The terms of NVAE's training objective and its schedules, as pure functions.

NVAE (Vahdat & Kautz, 2020, section 3.2 and appendix) minimises

    loss = mean_b [ recon_b + beta * sum_g c_g * KL_{g,b} ] + lambda * (spectral + batchnorm)

with ``beta`` the KL warm-up coefficient (linear from ``min_coeff`` to 1 over the first 30 % of
the iterations), ``c_g`` the KL-balancing coefficients that are only used while ``beta < 1``,
and ``lambda`` the regulariser weight (``weight_decay_norm``), optionally interpolated
log-linearly from ``weight_decay_norm_init`` as ``beta`` rises. The learning rate warms up
linearly per step over ``warmup_epochs`` and then follows a per-epoch cosine decay. The
formulas follow the official ``train.py`` / ``utils.py`` so that runs are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "kl_balancer",
    "kl_balancer_coeff",
    "kl_coeff",
    "learning_rate",
    "regularizer_coeff",
]

BALANCE_FUNCTIONS = ("equal", "linear", "sqrt", "square")


def kl_coeff(step: int, anneal_steps: float, constant_steps: float, min_coeff: float) -> float:
    """KL warm-up coefficient ``beta`` in ``[min_coeff, 1]`` at optimiser step ``step``.

    ``beta = clip((step - constant_steps) / anneal_steps, min_coeff, 1)``: held at
    ``min_coeff`` for ``constant_steps``, then rising linearly, reaching 1 after
    ``constant_steps + anneal_steps`` steps (official: 0.01 % and 30 % of all iterations).
    """
    if anneal_steps <= 0:
        return 1.0
    return max(min((step - constant_steps) / anneal_steps, 1.0), min_coeff)


def kl_balancer_coeff(groups_per_scale: Sequence[int], fun: str = "square") -> torch.Tensor:
    """Per-group prior weights ``alpha_g`` of KL balancing, in decoder order (coarsest first).

    Args:
        groups_per_scale: latent groups per scale in *encoder* order (finest scale first), as
            ``NVAEConfig.groups_per_scale`` gives them.
        fun: how the weight grows with the spatial side of the scale: ``square`` (official:
            ``4^i / groups_i`` for the i-th coarsest scale, i.e. proportional to the latent
            size per group), ``sqrt``, ``linear`` (``sqrt(2)^i``, ``2^i``) or ``equal``.

    Returns:
        float32 ``(G,)`` weights normalised so that the smallest is 1.
    """
    if fun not in BALANCE_FUNCTIONS:
        raise ValueError(f"kl balancing function {fun!r} is not one of {BALANCE_FUNCTIONS}")
    parts = []
    for i, count in enumerate(reversed(list(groups_per_scale))):
        side = 2.0 ** i
        weight = {"equal": 1.0, "linear": side, "sqrt": math.sqrt(side),
                  "square": side ** 2 / count}[fun]
        parts.append(torch.full((count,), weight, dtype=torch.float64))
    coeff = torch.cat(parts)
    return (coeff / coeff.min()).float()


def kl_balancer(kl_all: torch.Tensor, beta: float, alpha: torch.Tensor | None = None,
                balance: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The weighted KL term of each image and the coefficients used.

    While ``beta < 1`` and ``balance`` is set, group ``g`` is weighted by
    ``c_g = G * k_g / alpha_g / sum_h (k_h / alpha_h)`` with ``k_g = mean_b |KL_{g,b}| + 0.01``
    (the official rule: groups that already carry much information are pushed harder, which
    keeps the rest from collapsing); the coefficients get no gradient and average to 1.
    Otherwise every group has weight 1.

    Args:
        kl_all: ``(G, B)`` KL per latent group and image, nats.
        beta: the KL warm-up coefficient.
        alpha: ``(G,)`` from :func:`kl_balancer_coeff`; required when balancing.
        balance: apply KL balancing during warm-up.

    Returns:
        ``beta * sum_g c_g KL_{g,b}`` ``(B,)``, the coefficients ``c`` ``(G,)`` and the batch-mean
        KL per group ``(G,)``.
    """
    if kl_all.dim() != 2:
        raise ValueError(f"kl_all must be (groups, batch), got shape {tuple(kl_all.shape)}")
    kl_vals = kl_all.mean(dim=1)
    if balance and beta < 1.0:
        if alpha is None or alpha.shape != kl_vals.shape:
            raise ValueError(f"KL balancing needs alpha of shape {tuple(kl_vals.shape)}, "
                             f"got {None if alpha is None else tuple(alpha.shape)}")
        with torch.no_grad():
            k = kl_all.abs().mean(dim=1) + 0.01
            coeffs = k / alpha.to(k) * k.sum()
            coeffs = coeffs / coeffs.mean()
    else:
        coeffs = torch.ones_like(kl_vals)
    weighted = (kl_all * coeffs.detach().unsqueeze(1)).sum(dim=0)
    return beta * weighted, coeffs.detach(), kl_vals


def regularizer_coeff(beta: float, final: float, initial: float | None = None) -> float:
    """The weight ``lambda`` of the spectral and batch-norm regularisers.

    Without ``initial`` it is ``final`` throughout. With it (official
    ``--weight_decay_norm_anneal``) it moves log-linearly from ``initial`` to ``final`` as the
    KL coefficient goes from 0 to 1: ``exp((1 - beta) log initial + beta log final)``.
    """
    if initial is None:
        return final
    if initial <= 0 or final <= 0:
        raise ValueError(f"annealing the regulariser weight needs positive initial and final "
                         f"values, got weight_decay_norm_init={initial}, weight_decay_norm={final}")
    return math.exp((1.0 - beta) * math.log(initial) + beta * math.log(final))


def learning_rate(step: int, steps_per_epoch: int, epochs: int, warmup_epochs: int,
                  base: float, minimum: float) -> float:
    """Learning rate at optimiser step ``step`` (0-based).

    Linear warm-up ``base * step / warmup_steps`` over the first ``warmup_epochs`` epochs, then
    a cosine from ``base`` down to ``minimum`` stepped once per epoch, reaching ``minimum`` in
    the last epoch (official: ``CosineAnnealingLR(T_max=epochs - warmup_epochs - 1)`` stepped at
    the start of every epoch after the warm-up).
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    warmup_steps = warmup_epochs * steps_per_epoch
    if step < warmup_steps:
        return base * step / warmup_steps
    epoch = step // steps_per_epoch
    period = epochs - warmup_epochs - 1
    if period <= 0:
        return base
    t = min(max(epoch - warmup_epochs, 0), period)
    return minimum + 0.5 * (base - minimum) * (1.0 + math.cos(math.pi * t / period))
