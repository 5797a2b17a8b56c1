"""PWC-Net as supervision for other models: a frozen, differentiable flow network, warping,
occlusion masks, the warping error E_warp and temporal losses.

>>> from zoo.supervision import FlowSupervisor, TemporalConsistencyLoss, WarpingError  # doctest: +SKIP
>>> temporal = TemporalConsistencyLoss(FlowSupervisor("pwcnet.synth", grad=False))    # doctest: +SKIP
>>> loss = task_loss + 0.1 * temporal(outputs, frames)    # (B, T, 3, H, W) clips      # doctest: +SKIP

Conventions: frames (B, 3, H, W) RGB in [0, 1]; clips (T, 3, H, W) or (B, T, 3, H, W); flows
(B, 2, H, W) in pixels, (u, v) = (+x right, +y down), the flow of frame t to frame t + 1 being
defined on frame t's grid; masks (B, 1, H, W) bool, True where valid (not occluded).
:func:`warp` and :func:`occlusion_mask` are those of :mod:`zoo.datamodules.flow.warping`.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from zoo.datamodules.flow.warping import UNFLOW_ALPHA1, UNFLOW_ALPHA2, occlusion_mask, warp
from zoo.models.precision import resolve_precision

__all__ = [
    "DEFAULT_WEIGHTS",
    "FlowLoss",
    "FlowSupervisor",
    "TemporalConsistencyLoss",
    "WarpingError",
    "occlusion_mask",
    "warp",
]

#: The weights a supervisor loads when none are named: bundled with the package, so no download.
DEFAULT_WEIGHTS = "pwcnet.synth"
_AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


class FlowSupervisor(nn.Module):
    """A frozen PWC-Net: flow of frame pairs, differentiable with respect to the frames.

    The network runs the pipeline of the script its weights were published with (its
    ``forward``), in eval mode, with its input value check off (the check reads a min/max back to
    the host on every call; the supervisor's forward never synchronises). Its parameters never
    receive gradients, and they are not parameters of the supervisor: a host ``LightningModule``'s
    ``self.parameters()`` (hence its optimiser), ``state_dict()`` (hence its checkpoints),
    ``requires_grad_()`` and ``train()`` do not reach them. Device and dtype moves of the host
    (``.to``, ``.cuda``, ``.double``) do.

    Args:
        weights: a registry name or tag (``"pwcnet.sintel"``, ``"sintel"``), a weight file, a
            :func:`zoo.save_pretrained` folder, an ``hf-hub:`` name (all through :func:`zoo.load`),
            or a network :func:`zoo.load` returned (frozen in place). Default: :data:`DEFAULT_WEIGHTS`.
        grad: False runs the network under ``torch.no_grad`` (teacher or metric use: no
            activations are kept and the flow carries no gradient).
        precision: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (autocast of the convolutions;
            the flow is returned in float32), or ``"auto"`` (:func:`zoo.models.precision.resolve_precision`).
            It holds whatever autocast the caller runs under (a host's bf16 autocast does not
            reach a float32 supervisor).
        compile: run the network through ``torch.compile``. With gradient, frames under 64 px
            (padded inside the network) fail in inductor's backward of the padding on torch 2.13
            CPU; 72x100 frames compile and match eager to 3e-5 px.
        channels_last: keep the network's weights in the channels-last memory format.
        device: where the network runs (frames are moved there); default: where the weights were loaded (CPU).
    """

    def __init__(self, weights: str | os.PathLike | nn.Module = DEFAULT_WEIGHTS, *, grad: bool = True,
                 precision: str = "float32", compile: bool = False, channels_last: bool = False,
                 device: str | torch.device | None = None) -> None:
        super().__init__()
        network = weights if isinstance(weights, nn.Module) else _load_flow_network(weights)
        if not hasattr(network, "check_values"):
            raise ValueError(f"FlowSupervisor needs a PWC-Net, got a {type(network).__name__}")
        network.requires_grad_(False)
        network.eval()
        network.check_values = False
        if device is not None:
            network.to(device)
        if channels_last:
            network.to(memory_format=torch.channels_last)
        self.grad = grad
        self.precision = resolve_precision(precision, next(network.parameters()).device)
        # kept outside the module tree on purpose: see the class docstring
        object.__setattr__(self, "_network", network)
        object.__setattr__(self, "_run", torch.compile(network) if compile else network)

    @property
    def network(self) -> nn.Module:
        """The frozen network (eval mode, ``requires_grad`` False everywhere)."""
        return self._network

    @property
    def device(self) -> torch.device:
        return next(self._network.parameters()).device

    def _apply(self, fn: Any, recurse: bool = True) -> FlowSupervisor:
        super()._apply(fn, recurse)
        self._network._apply(fn, recurse)
        return self

    def train(self, mode: bool = True) -> FlowSupervisor:
        """Sets the ``training`` flag as a host's ``train()`` does; the network stays in eval mode."""
        super().train(mode)
        self._network.eval()
        return self

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        """Flow from ``image1`` to ``image2``.

        Args:
            image1, image2: (B, 3, H, W) RGB in [0, 1] (not checked), any float dtype; moved to
                the network's device.

        Returns:
            (B, 2, H, W) float32 flow in pixels (float64 when the network is float64), on the
            network's device; differentiable with respect to both frames unless ``grad`` is False.
        """
        device = self.device
        with torch.set_grad_enabled(self.grad and torch.is_grad_enabled()), \
                torch.autocast(device.type, dtype=_AUTOCAST_DTYPES.get(self.precision, torch.bfloat16),
                               enabled=self.precision in _AUTOCAST_DTYPES):
            flow = self._run(image1.to(device), image2.to(device))
        return flow.to(torch.promote_types(flow.dtype, torch.float32))

    def flows(self, first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward flow of pairs (first -> second, second -> first), in one batch.

        Args:
            first, second: (B, 3, H, W) RGB in [0, 1].

        Returns:
            ``(forward, backward)``, each (B, 2, H, W) px.
        """
        both = self(torch.cat([first, second]), torch.cat([second, first]))
        return both[:len(first)], both[len(first):]


def _load_flow_network(weights: str | os.PathLike) -> nn.Module:
    from zoo.weights.loader import load

    return load("pwcnet", weights=weights)


def _default_supervisor(supervisor: FlowSupervisor | None, grad: bool) -> FlowSupervisor:
    return FlowSupervisor(DEFAULT_WEIGHTS, grad=grad) if supervisor is None else supervisor


def as_clips(clip: torch.Tensor, name: str = "clip") -> torch.Tensor:
    """(T, C, H, W) or (B, T, C, H, W) float -> (B, T, C, H, W) with T >= 2; ValueError naming ``name`` otherwise."""
    if not isinstance(clip, torch.Tensor) or clip.dim() not in (4, 5) or not clip.is_floating_point():
        shape = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
        raise ValueError(f"{name} must be a float (T, C, H, W) clip or (B, T, C, H, W) batch of clips, got {shape}")
    clip = clip.unsqueeze(0) if clip.dim() == 4 else clip
    if clip.shape[1] < 2:
        raise ValueError(f"{name} must hold at least 2 frames, got {clip.shape[1]} (shape {tuple(clip.shape)})")
    return clip


def consecutive_pairs(clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, C, H, W) -> frames t and t + 1 of every pair, each (B * (T - 1), C, H, W), clip-major."""
    b, t = clips.shape[:2]
    return clips[:, :-1].reshape(b * (t - 1), *clips.shape[2:]), clips[:, 1:].reshape(b * (t - 1), *clips.shape[2:])


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per item mean of ``values`` (N, C, H, W) over the pixels ``mask`` (N, 1, H, W) keeps and
    the channels -> (N,); 0 for an item with no pixel kept (as Lai et al.'s evaluation code)."""
    kept = mask.to(values.dtype)
    return (values * kept).sum((1, 2, 3)) / (kept.sum((1, 2, 3)) * values.shape[1]).clamp_min(1)


def _check_same_shape(clip: torch.Tensor, reference: torch.Tensor, names: tuple[str, str]) -> None:
    if clip.shape != reference.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {tuple(clip.shape)} "
                         f"and {tuple(reference.shape)}")


class WarpingError(Metric):
    """The warping error E_warp of Lai et al. (ECCV 2018) over clips; sum states, so DDP gives the
    numbers of one process.

    For consecutive frames t, t + 1 of a clip ``V``, with the flow ``F`` of t to t + 1 and the
    non-occlusion mask ``M`` of t (forward-backward consistency, :func:`occlusion_mask`) both
    computed on the reference video (``reference``, the unprocessed input, as Lai et al. do;
    default the clip itself),

        E_pair(t) = sum_x M(x) |V_t(x) - V_{t+1}(x + F(x))|^2 / (3 sum_x M(x)),

    the mean squared difference over the visible pixels and the RGB channels (0 where no pixel is
    visible); a clip's error is the mean of E_pair over its T - 1 pairs, and :meth:`compute`
    returns the mean over clips. Units: squared [0, 1] intensities (multiply by 255^2 for 8-bit units).

    Args:
        supervisor: the flow network; default the bundled :data:`DEFAULT_WEIGHTS`, without gradient.
        alpha1, alpha2: the consistency tolerances (:func:`occlusion_mask`).
        with_occlusion_share: :meth:`compute` returns ``{"e_warp", "occlusion_share"}`` instead of
            E_warp alone; the share is the fraction of the pixels of frames t marked occluded.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, supervisor: FlowSupervisor | None = None, alpha1: float = UNFLOW_ALPHA1,
                 alpha2: float = UNFLOW_ALPHA2, with_occlusion_share: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supervisor = _default_supervisor(supervisor, grad=False)
        self.alpha1, self.alpha2 = alpha1, alpha2
        self.with_occlusion_share = with_occlusion_share
        for name in ("error_sum", "clips", "occluded", "pixels"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, clip: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        """Add clips.

        Args:
            clip: (T, 3, H, W) or (B, T, 3, H, W) RGB in [0, 1], T >= 2: the video measured.
            reference: the same shape: the video the flows and masks come from (default ``clip``).
        """
        clips = as_clips(clip)
        references = clips if reference is None else as_clips(reference, "reference")
        _check_same_shape(clips, references, ("clip", "reference"))
        with torch.no_grad():
            flow, visible = flow_and_visibility(self.supervisor, *consecutive_pairs(references), self.alpha1,
                                                self.alpha2)
            errors = pair_warping_errors(*consecutive_pairs(clips), flow, visible)
            b = clips.shape[0]
            self.error_sum += errors.view(b, -1).double().mean(1).sum().to(self.error_sum.device)
            self.clips += b
            self.occluded += (~visible).sum().to(self.occluded)
            self.pixels += visible.numel()

    def compute(self) -> torch.Tensor | dict[str, torch.Tensor]:
        e_warp = self.error_sum / self.clips.clamp_min(1)
        if not self.with_occlusion_share:
            return e_warp
        return {"e_warp": e_warp, "occlusion_share": self.occluded / self.pixels.clamp_min(1)}


def flow_and_visibility(supervisor: FlowSupervisor, first: torch.Tensor, second: torch.Tensor,
                        alpha1: float = UNFLOW_ALPHA1, alpha2: float = UNFLOW_ALPHA2,
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow of ``first`` to ``second`` (B, 2, H, W) px and the pixels of ``first`` visible in
    ``second`` (B, 1, H, W) bool (:func:`occlusion_mask`), from one batched forward of both directions."""
    forward, backward = supervisor.flows(first, second)
    return forward, occlusion_mask(forward, backward, alpha1, alpha2)


def pair_warping_errors(first: torch.Tensor, second: torch.Tensor, flow: torch.Tensor,
                        visible: torch.Tensor) -> torch.Tensor:
    """E_pair of frame pairs (see :class:`WarpingError`): the mean over the ``visible`` pixels and
    the channels of ``(first - warp(second, flow))^2``.

    Args:
        first, second: (N, C, H, W) frames t and t + 1, [0, 1].
        flow: (N, 2, H, W) flow of t to t + 1, px.
        visible: (N, 1, H, W) bool.

    Returns:
        (N,) squared [0, 1] intensities, 0 for a pair with no visible pixel.
    """
    warped, _ = warp(second.to(flow.device), flow)
    return masked_mean((first.to(warped) - warped).square(), visible.to(warped.device))


class TemporalConsistencyLoss(nn.Module):
    """Short-term temporal consistency (Lai et al., ECCV 2018): L1 between each output frame and
    the previous output frame warped onto it, over the pixels visible in both.

    The flow of input frame t to frame t - 1 and the mask (forward-backward consistency,
    :func:`occlusion_mask`) come from the input ``frames``, without gradient; the gradient
    reaches both output frames of a pair.

    Args:
        supervisor: the flow network; default the bundled :data:`DEFAULT_WEIGHTS`, without gradient.
        alpha1, alpha2: the consistency tolerances.
    """

    def __init__(self, supervisor: FlowSupervisor | None = None, alpha1: float = UNFLOW_ALPHA1,
                 alpha2: float = UNFLOW_ALPHA2) -> None:
        super().__init__()
        self.supervisor = _default_supervisor(supervisor, grad=False)
        self.alpha1, self.alpha2 = alpha1, alpha2

    def flows(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What :meth:`forward` computes from the input clip, for clips seen many times (compute once, pass as ``flows``).

        Args:
            frames: (B, T, 3, H, W) or (T, 3, H, W) RGB in [0, 1].

        Returns:
            ``(to_previous, visible)``: flow of frame t to t - 1, (B * (T - 1), 2, H, W) px, and the
            pixels of frame t visible in t - 1, (B * (T - 1), 1, H, W) bool; clip-major, t = 1 .. T - 1.
        """
        previous_frames, current_frames = consecutive_pairs(as_clips(frames, "frames"))
        with torch.no_grad():
            return flow_and_visibility(self.supervisor, current_frames, previous_frames, self.alpha1, self.alpha2)

    def forward(self, outputs: torch.Tensor, frames: torch.Tensor | None = None, *,
                flows: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Scalar loss: the mean over pairs of ``sum M |O_t - warp(O_{t-1})| / (C sum M)``.

        Args:
            outputs: (B, T, C, H, W) or (T, C, H, W) the model's output clip, any C.
            frames: (B, T, 3, H, W) or (T, 3, H, W) the input clip, RGB in [0, 1], same B, T, H, W.
            flows: instead of ``frames``, :meth:`flows` of them.
        """
        outputs = as_clips(outputs, "outputs")
        if (frames is None) == (flows is None):
            raise ValueError("give either frames or flows (from TemporalConsistencyLoss.flows)")
        if frames is not None:
            frames = as_clips(frames, "frames")
            if outputs.shape[:2] != frames.shape[:2] or outputs.shape[3:] != frames.shape[3:]:
                raise ValueError(f"outputs {tuple(outputs.shape)} and frames {tuple(frames.shape)} must share "
                                 "B, T, H and W")
            flows = self.flows(frames)
        to_previous, visible = flows
        previous, current = consecutive_pairs(outputs)
        if to_previous.shape[0] != previous.shape[0] or to_previous.shape[2:] != previous.shape[2:]:
            raise ValueError(f"flows {tuple(to_previous.shape)} do not fit outputs {tuple(outputs.shape)}")
        warped, _ = warp(previous, to_previous.to(previous.device))
        return masked_mean((current - warped).abs(), visible.to(current.device)).mean()


class FlowLoss(nn.Module):
    """Flow of generated clips against flow of reference clips: mean L1 of (u, v), pixels.

    The generated clip's flow is differentiable with respect to its frames; the reference's flow
    is computed without gradient.

    Args:
        supervisor: the flow network, with ``grad=True`` (default: the bundled :data:`DEFAULT_WEIGHTS`).
    """

    def __init__(self, supervisor: FlowSupervisor | None = None) -> None:
        super().__init__()
        self.supervisor = _default_supervisor(supervisor, grad=True)
        if not self.supervisor.grad:
            raise ValueError("FlowLoss needs a FlowSupervisor with grad=True: the loss back-propagates through it")

    def forward(self, generated: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Scalar: mean over pairs t -> t + 1, pixels and both components of |F_gen - F_ref| (px).

        Args:
            generated, reference: (B, T, 3, H, W) or (T, 3, H, W) RGB in [0, 1], one shape, T >= 2.
        """
        generated, reference = as_clips(generated, "generated"), as_clips(reference, "reference")
        _check_same_shape(generated, reference, ("generated", "reference"))
        with torch.no_grad():
            target = self.supervisor(*consecutive_pairs(reference))
        return (self.supervisor(*consecutive_pairs(generated)) - target).abs().mean()
