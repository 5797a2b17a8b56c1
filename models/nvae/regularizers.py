"""NVAE's training regularisers: spectral regularisation and the batch-norm scale penalty.

Spectral regularisation (paper, section 3.2) sums the largest singular value of every
convolution kernel (reshaped to ``C_out x k k C_in``), estimated by power iteration. The
singular vector estimates persist between calls as (non-persistent) buffers, stacked per kernel
shape, so they follow the module across devices and dtypes and are not part of the weights.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.nvae.layers import WeightNormConv2d, normalize_weight

__all__ = ["SpectralNormRegularizer", "batchnorm_scale_penalty"]


def _kernel_matrix(kernel: torch.Tensor) -> torch.Tensor:
    """``(..., C_out, C_in, k, k)`` -> ``(..., C_out, k k C_in)``.

    The columns are ordered (kh, kw, C_in), which is a view of a channels-last kernel; the
    singular values do not depend on the column order.
    """
    return kernel.movedim(-3, -1).flatten(-3)


def _power_iteration(w: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                     iterations: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``iterations`` power steps on ``w (..., r, c)`` from ``u (..., r)``, ``v (..., c)``;
    returns ``sum(u^T w v)`` (differentiable in ``w``) and the new ``u``, ``v``."""
    with torch.no_grad():
        w_detached = w.detach()
        for _ in range(iterations):
            v = F.normalize((u.unsqueeze(-2) @ w_detached).squeeze(-2), dim=-1, eps=1e-3)
            u = F.normalize((w_detached @ v.unsqueeze(-1)).squeeze(-1), dim=-1, eps=1e-3)
    sigma = (u.unsqueeze(-2) @ (w @ v.unsqueeze(-1))).sum()
    return sigma, u, v


class SpectralNormRegularizer(nn.Module):
    """Power iteration over a fixed set of convolutions, state in buffers.

    On accelerators the kernels of one shape are stacked and iterated as one batched product
    (few large launches). On CPU stacking costs a copy of every kernel per call while the
    matrix-vector products are memory bound either way, so each kernel is iterated in place
    (``benchmarks/nvae.py`` measures both).

    Args:
        convs: the convolutions to regularise; weight-normalised ones contribute their
            normalised (and masked) kernel, plain ones their weight.
        num_power_iterations: iterations per call (the first call runs ten times as many).
        batched: force the batched (True) or per-kernel (False) path; None picks by device.
    """

    def __init__(self, convs: Sequence[nn.Conv2d], num_power_iterations: int = 4,
                 batched: bool | None = None) -> None:
        super().__init__()
        self.num_power_iterations = num_power_iterations
        self.batched = batched
        groups: dict[tuple[bool, int, int], list[nn.Conv2d]] = defaultdict(list)
        for conv in convs:
            rows, cols = conv.weight.shape[0], conv.weight[0].numel()
            groups[(isinstance(conv, WeightNormConv2d), rows, cols)].append(conv)
        # Plain attribute (not submodules): the convolutions belong to the network.
        self._groups = tuple((normalized, tuple(members))
                             for (normalized, _, _), members in groups.items())
        for i, ((_, rows, cols), members) in enumerate(groups.items()):
            self.register_buffer(f"u{i}", F.normalize(torch.randn(len(members), rows), dim=1, eps=1e-3),
                                 persistent=False)
            self.register_buffer(f"v{i}", F.normalize(torch.randn(len(members), cols), dim=1, eps=1e-3),
                                 persistent=False)
        self.register_buffer("warmed_up", torch.zeros((), dtype=torch.bool), persistent=False)

    @property
    def num_convs(self) -> int:
        return sum(len(members) for _, members in self._groups)

    @staticmethod
    def _kernel(conv: nn.Conv2d, normalized: bool) -> torch.Tensor:
        return conv.normalized_weight() if normalized else conv.weight

    def stacked_kernels(self, index: int) -> torch.Tensor:
        """The kernels of group ``index`` as matrices ``(N, C_out, k k C_in)``."""
        normalized, members = self._groups[index]
        weights = torch.stack([conv.raw_weight() if normalized else conv.weight
                               for conv in members])
        if normalized:
            weights = normalize_weight(weights, torch.stack([c.log_weight_norm for c in members]))
        return _kernel_matrix(weights)

    def forward(self) -> torch.Tensor:
        """Sum of the estimated spectral norms (a scalar with gradient w.r.t. the kernels)."""
        iterations = self.num_power_iterations * (1 if bool(self.warmed_up) else 10)
        batched = self.batched if self.batched is not None else self.u0.device.type != "cpu"
        total = 0.0
        for i, (normalized, members) in enumerate(self._groups):
            u_state, v_state = getattr(self, f"u{i}"), getattr(self, f"v{i}")
            if batched:
                sigma, u, v = _power_iteration(self.stacked_kernels(i), u_state, v_state, iterations)
                total = total + sigma
                u_state.copy_(u)
                v_state.copy_(v)
                continue
            for j, conv in enumerate(members):
                w = _kernel_matrix(self._kernel(conv, normalized))
                sigma, u, v = _power_iteration(w, u_state[j], v_state[j], iterations)
                total = total + sigma
                u_state[j].copy_(u)
                v_state[j].copy_(v)
        self.warmed_up.fill_(True)
        return total


def batchnorm_scale_penalty(norms: Sequence[nn.modules.batchnorm._BatchNorm]) -> torch.Tensor:
    """``sum_l max |gamma_l|`` over the affine batch norms (the official BN regulariser)."""
    weights = [bn.weight for bn in norms if bn.affine]
    return torch.stack(torch._foreach_norm(weights, float("inf"))).sum()
