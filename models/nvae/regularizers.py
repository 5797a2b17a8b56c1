"""NVAE's training regularisers: spectral regularisation and the batch-norm scale penalty.

Spectral regularisation (paper, section 3.2) sums the largest singular value of every
convolution kernel (reshaped to ``C_out x C_in k k``), estimated by power iteration. Kernels of
one shape are stacked so that every step runs as one batched matrix product; the singular
vector estimates persist between calls as (non-persistent) buffers, so they follow the module
across devices and dtypes and are not part of the weights.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.nvae.layers import WeightNormConv2d, normalize_weight

__all__ = ["SpectralNormRegularizer", "batchnorm_scale_penalty"]


class SpectralNormRegularizer(nn.Module):
    """Batched power iteration over a fixed set of convolutions.

    Args:
        convs: the convolutions to regularise; weight-normalised ones contribute their
            normalised (and masked) kernel, plain ones their weight.
        num_power_iterations: iterations per call (the first call runs ten times as many).
    """

    def __init__(self, convs: Sequence[nn.Conv2d], num_power_iterations: int = 4) -> None:
        super().__init__()
        self.num_power_iterations = num_power_iterations
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

    def stacked_kernels(self, index: int) -> torch.Tensor:
        """The kernels of group ``index`` as matrices ``(N, C_out, C_in k k)``."""
        normalized, members = self._groups[index]
        weights = torch.stack([conv.raw_weight() if normalized else conv.weight
                               for conv in members])
        if normalized:
            weights = normalize_weight(weights, torch.stack([c.log_weight_norm for c in members]))
        return weights.flatten(2)

    def forward(self) -> torch.Tensor:
        """Sum of the estimated spectral norms (a scalar with gradient w.r.t. the kernels)."""
        iterations = self.num_power_iterations * (1 if bool(self.warmed_up) else 10)
        total = 0.0
        for i in range(len(self._groups)):
            w = self.stacked_kernels(i)
            u, v = getattr(self, f"u{i}"), getattr(self, f"v{i}")
            with torch.no_grad():
                w_detached = w.detach()
                for _ in range(iterations):
                    v = F.normalize(torch.bmm(u.unsqueeze(1), w_detached).squeeze(1), dim=1, eps=1e-3)
                    u = F.normalize(torch.bmm(w_detached, v.unsqueeze(2)).squeeze(2), dim=1, eps=1e-3)
                getattr(self, f"u{i}").copy_(u)
                getattr(self, f"v{i}").copy_(v)
            sigma = torch.bmm(u.unsqueeze(1), torch.bmm(w, v.unsqueeze(2)))
            total = total + sigma.sum()
        self.warmed_up.fill_(True)
        return total


def batchnorm_scale_penalty(norms: Sequence[nn.modules.batchnorm._BatchNorm]) -> torch.Tensor:
    """``sum_l max |gamma_l|`` over the affine batch norms (the official BN regulariser)."""
    weights = [bn.weight for bn in norms if bn.affine]
    return torch.stack(torch._foreach_norm(weights, float("inf"))).sum()
