"""The two towers of NVAE and the passes through them: which module runs where, built from the
network's :class:`~zoo.models.nvae.plan.NVAEPlan`, and the bottom-up and top-down walks over it.

Bottom-up (encoder): ``stem -> preprocess cells -> encoder tower``; the tower's feature before
each latent group is kept. Top-down (decoder): starting from a learned feature, each latent
group gets a prior from the decoder state and a posterior from the matching encoder feature
combined with that state (residual parameterisation: the posterior's raw parameters are added
to the prior's), its sample is merged into the state, and ``postprocess cells -> output conv``
give the parameters of the output distribution. Groups are numbered in decoder order: group 0
is the coarsest, whose prior is a fixed Gaussian (mu 0, sigma 1.01).

:class:`NVAETowers` holds the modules (their paths are the state-dict keys) and these passes;
:class:`zoo.models.nvae.network.NVAE` adds what a user calls: the posterior pass, sampling, the
latent API, likelihoods and the training regularisers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.models.nvae.cells import DecoderCombiner, EncoderCombiner, ResidualCell
from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.distributions import DiagonalNormal
from zoo.models.nvae.flows import FlowPair
from zoo.models.nvae.footprint import check_footprint
from zoo.models.nvae.latents import LatentGroup
from zoo.models.nvae.layers import WeightNormConv2d
from zoo.models.nvae.plan import Cell, GroupPoint, LatentGroupPlan, plan_nvae

__all__ = ["NVAETowers"]

_ENCODER_LISTS = ("encoder_cells", "encoder_downsamples", "encoder_combiners")
_DECODER_LISTS = ("posterior_heads", "prior_heads", "flows", "decoder_cells", "decoder_combiners",
                  "decoder_upsamples")


class NVAETowers(nn.Module):
    """The encoder and decoder towers of one :class:`~zoo.models.nvae.config.NVAEConfig`, laid out
    by its :class:`~zoo.models.nvae.plan.NVAEPlan` (``self.plan``), and the passes through them."""

    def __init__(self, config: NVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.plan = plan = plan_nvae(config)
        check_footprint(config, plan)  # before a single tensor is allocated
        top = plan.top
        self.stem = WeightNormConv2d(config.image_channels, plan.preprocess[0].in_channels, 3,
                                     padding=1)
        self.preprocess = nn.ModuleList(self._cell(cell) for cell in plan.preprocess)
        self._add_module_lists(self._encoder_modules(), _ENCODER_LISTS)
        self.encoder_top = WeightNormConv2d(top.encoder_channels, top.encoder_channels, 1)
        self.prior_feature = nn.Parameter(torch.rand(top.decoder_channels, top.size, top.size))
        self._add_module_lists(self._decoder_modules(), _DECODER_LISTS)
        self.postprocess = nn.ModuleList(self._cell(cell) for cell in plan.postprocess)
        self.output_conv = WeightNormConv2d(plan.postprocess[-1].out_channels,
                                            config.output_channels, 3, padding=1)
        self.memory_format = torch.contiguous_format

    # ----------------------------------------------------------------- building
    def _cell(self, cell: Cell) -> ResidualCell:
        return ResidualCell(cell.in_channels, cell.out_channels, cell.cell_type,
                            self.config.cell_ops(cell.cell_type), self.config.use_se)

    def _encoder_modules(self) -> dict[str, nn.Module]:
        """The encoder tower's cells and combiners by path, created in tower order."""
        modules: dict[str, nn.Module] = {}
        for step in self.plan.encoder:
            if isinstance(step, Cell):
                modules[step.name] = self._cell(step)
            else:
                group = self.plan.groups[step.group]
                modules[step.name] = EncoderCombiner(group.encoder_channels, group.decoder_channels)
        return modules

    def _decoder_modules(self) -> dict[str, nn.Module]:
        """The decoder tower's cells and combiners and every group's heads and flows, by path.

        The creation order fixes what a seeded initialisation draws; it is group by group, a
        group's heads and flows before its tower modules."""
        modules: dict[str, nn.Module] = {}
        for step in self.plan.decoder:
            group = self.plan.groups[step.group]
            if group.posterior_head not in modules:
                modules.update(self._latent_modules(group))
            if isinstance(step, Cell):
                modules[step.name] = self._cell(step)
            else:
                modules[step.name] = DecoderCombiner(group.decoder_channels, group.latent_channels)
        return modules

    @staticmethod
    def _latent_modules(group: LatentGroupPlan) -> dict[str, nn.Module]:
        """A group's posterior head, flow stages and prior head (none for group 0)."""
        c_z = group.latent_channels
        modules: dict[str, nn.Module] = {
            group.posterior_head: WeightNormConv2d(group.encoder_channels, 2 * c_z, 3, padding=1)}
        modules.update((name, FlowPair(c_z)) for name in group.flows)
        if group.prior_head is not None:
            modules[group.prior_head] = WeightNormConv2d(group.decoder_channels, 2 * c_z, 1)
        return modules

    def _add_module_lists(self, modules: dict[str, nn.Module], list_names: tuple[str, ...]) -> None:
        """Register ``modules`` (paths ``"<list>.<index>"``) as the ModuleLists ``list_names``."""
        for list_name in list_names:
            items = {int(path.split(".")[1]): module for path, module in modules.items()
                     if path.split(".")[0] == list_name}
            if sorted(items) != list(range(len(items))):
                raise RuntimeError(f"NVAE plan: {list_name} indices {sorted(items)} are not 0..n-1")
            self.add_module(list_name, nn.ModuleList(items[i] for i in range(len(items))))
        placed = sum(len(getattr(self, name)) for name in list_names)
        if placed != len(modules):
            raise RuntimeError(f"NVAE plan: modules outside {list_names}: {sorted(modules)}")

    def set_memory_format(self, memory_format: torch.memory_format) -> NVAETowers:
        """Lay out kernels and activations as ``memory_format``. The default, channels-last,
        makes oneDNN's depthwise and 3x3 convolutions (and their backward passes) markedly
        faster on CPU (``benchmarks/nvae.py`` compares)."""
        self.memory_format = memory_format
        return self.to(memory_format=memory_format)

    # ----------------------------------------------------------------- shapes and checks
    @property
    def num_groups(self) -> int:
        return len(self.plan.groups)

    def latent_shape(self, group: int) -> tuple[int, int, int]:
        """``(C_z, h, w)`` of latent group ``group`` (decoder order)."""
        return self.plan.groups[group].latent_shape

    # ----------------------------------------------------------------- passes
    def _bottom_up(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Encoder pass over images ``x`` in [0, 1]: each latent group's feature, ``(B,
        encoder_channels, size, size)`` of its scale (group 0's is ``encoder_top``'s output)."""
        s = self.stem((2 * x - 1.0).contiguous(memory_format=self.memory_format))
        for cell in self.preprocess:
            s = cell(s)
        features = {}
        for step in self.plan.encoder:
            if isinstance(step, GroupPoint):
                features[step.group] = s
            else:
                s = self.get_submodule(step.name)(s)
        features[0] = F.elu(self.encoder_top(F.elu(s)))
        return features

    def _top_down(self, batch_size: int,
                  latent: Callable[[LatentGroupPlan, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Decoder pass; ``latent(group, state)`` returns the group's latent ``(B, C_z, h, w)``
        given the decoder state. Returns the output distribution's parameters."""
        s = self.prior_feature.unsqueeze(0).expand(batch_size, -1, -1, -1)
        s = s.contiguous(memory_format=self.memory_format)
        for step in self.plan.decoder:
            if isinstance(step, GroupPoint):
                s = self.get_submodule(step.name)(s, latent(self.plan.groups[step.group], s))
            else:
                s = self.get_submodule(step.name)(s)
        for cell in self.postprocess:
            s = cell(s)
        return self.output_conv(F.elu(s))

    def _prior_parameters(self, group: LatentGroupPlan,
                          state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw ``(mu, log_sigma)`` of p(z_g | z_<g), each ``(B, C_z, h, w)``: the prior head of
        the decoder state; zeros (mu 0, sigma 1.01 after the clamp) for group 0."""
        if group.prior_head is None:
            zeros = torch.zeros((state.shape[0], *group.latent_shape), dtype=state.dtype,
                                device=state.device)
            return zeros, zeros
        return self.get_submodule(group.prior_head)(F.elu(state)).chunk(2, dim=1)

    def _posterior(self, group: LatentGroupPlan, features: dict[int, torch.Tensor],
                   state: torch.Tensor,
                   prior: tuple[torch.Tensor, torch.Tensor]) -> DiagonalNormal:
        """q(z_g | x, z_<g) from the group's encoder feature combined with the decoder state
        (group 0: the top feature alone); with ``res_dist`` its raw parameters are added to the
        prior's raw ``prior``."""
        feature = features[group.index]
        if group.index > 0:
            feature = self.get_submodule(group.encoder_combiner)(feature, state)
        mu, log_sigma = self.get_submodule(group.posterior_head)(feature).chunk(2, dim=1)
        if self.config.res_dist and group.index > 0:
            mu, log_sigma = prior[0] + mu, prior[1] + log_sigma
        return DiagonalNormal.from_raw(mu, log_sigma)

    def _apply_flows(self, group: LatentGroupPlan, z: torch.Tensor) -> torch.Tensor:
        for name in group.flows:
            z = self.get_submodule(name)(z)
        return z

    def _noise(self, g: int, like: torch.Tensor, noise: Sequence[torch.Tensor] | None,
               generator: torch.Generator | None) -> torch.Tensor:
        if noise is not None:
            eps = noise[g]
            if not isinstance(eps, torch.Tensor) or tuple(eps.shape) != tuple(like.shape):
                raise ValueError(f"noise for latent group {g} must be a tensor of shape "
                                 f"{tuple(like.shape)}, got {tuple(getattr(eps, 'shape', ())) or type(eps).__name__}")
            if not torch.compiler.is_compiling() and not bool(torch.isfinite(eps).all()):
                raise ValueError(f"noise for latent group {g} holds NaN or infinite values")
            return eps.to(dtype=like.dtype, device=like.device)
        return torch.randn(like.shape, dtype=like.dtype, device=like.device, generator=generator)

    def _check_noise(self, noise: Sequence[torch.Tensor] | None) -> None:
        if noise is not None and len(noise) != self.num_groups:
            raise ValueError(f"noise must hold one tensor per latent group ({self.num_groups}), "
                             f"got {len(noise)}")

    def _latent_group(self, posterior: DiagonalNormal, prior: DiagonalNormal,
                      z_before_flow: torch.Tensor, z: torch.Tensor) -> LatentGroup:
        """The densities and KL of one group's sample (analytic KL without flows)."""
        log_q = posterior.log_prob(z_before_flow)
        log_p = prior.log_prob(z)
        kl = log_q - log_p if self.config.num_nf > 0 else posterior.kl(prior)
        return LatentGroup(posterior=posterior, prior=prior, z_before_flow=z_before_flow, z=z,
                           log_q=log_q.sum(dim=(1, 2, 3)), log_p=log_p.sum(dim=(1, 2, 3)),
                           kl=kl.sum(dim=(1, 2, 3)), kl_per_channel=kl.sum(dim=(2, 3)).mean(dim=0))
