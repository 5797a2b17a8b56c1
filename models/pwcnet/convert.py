"""Converters from the three official PWC-Net weight layouts to ours (pure functions on dicts).

Layouts:

* ``pwcnet-nvlabs``: NVlabs/PWC-Net ``PyTorch/pwc_net*.pth.tar``; a bare state dict or one
  wrapped as ``{"state_dict": ...}``; 128 keys including the unused ``deconv2``, which is dropped.
* ``pwcnet-sniklaus``: sniklaus/pytorch-pwc ``network-*.pytorch``; a bare state dict whose names
  start with ``module`` as stored in the files (``moduleExtractor.moduleOne.0.weight``) or with
  ``net`` as renamed at run time (``netExtractor.netOne.0.weight``); both are accepted.
* ``pwcnet-ptlflow``: ptlflow Lightning checkpoints, ``{"state_dict": ..., "hyper_parameters": ...}``
  with the NVlabs names minus ``deconv2``; the ``pwcnet_nodc`` files also lack the context
  network (``dc_conv*``).

Every tensor is copied unchanged (no transposition or channel reordering). The config says what
the publishing script feeds the first convolution and how it processes frames and flow
(:func:`published_pipeline`): BGR for the NVlabs, sniklaus and ptlflow ``pwcnet_nodc`` files,
RGB for ptlflow's ``pwcnet`` (context) files, whose script flips its BGR frames.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from zoo.models.state_dict import check_fits, state_dict_of

__all__ = ["LAYOUTS", "convert", "detect_layout", "nvlabs_names", "ptlflow_names", "published_pipeline", "sniklaus_names"]

LAYOUTS: tuple[str, ...] = ("pwcnet-nvlabs", "pwcnet-sniklaus", "pwcnet-ptlflow")

_SNIKLAUS_LEVEL = {1: "One", 2: "Two", 3: "Thr", 4: "Fou", 5: "Fiv", 6: "Six"}
_SNIKLAUS_CONV = {0: "One", 1: "Two", 2: "Thr", 3: "Fou", 4: "Fiv"}
_UNUSED_NVLABS = ("deconv2.weight", "deconv2.bias")


def _parameters(prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}.weight", "weight"), (f"{prefix}.bias", "bias")]


def nvlabs_names(context: bool = True) -> dict[str, str]:
    """Our parameter name for every NVlabs name (without the unused ``deconv2``), in our order."""
    names: dict[str, str] = {}
    for level in range(1, 7):
        convs = ("aa", "a", "b") if level == 6 else ("a", "aa", "b")  # level 6 swaps the names
        for index, suffix in enumerate(convs):
            for theirs, kind in _parameters(f"conv{level}{suffix}.0"):
                names[theirs] = f"features.levels.{level - 1}.{index}.{kind}"
    for level in (6, 5, 4, 3, 2):
        for index in range(5):
            for theirs, kind in _parameters(f"conv{level}_{index}.0"):
                names[theirs] = f"decoders.{level}.convs.{index}.{kind}"
        for theirs, kind in _parameters(f"predict_flow{level}"):
            names[theirs] = f"decoders.{level}.predict_flow.{kind}"
        if level > 2:
            for theirs, kind in _parameters(f"deconv{level}"):
                names[theirs] = f"decoders.{level}.upsample_flow.{kind}"
            for theirs, kind in _parameters(f"upfeat{level}"):
                names[theirs] = f"decoders.{level}.upsample_features.{kind}"
    if context:
        for index in range(7):
            prefix = f"dc_conv{index + 1}" + ("" if index == 6 else ".0")
            for theirs, kind in _parameters(prefix):
                names[theirs] = f"context.{index}.{kind}"
    return names


def _nvlabs_to_sniklaus(name: str) -> str:
    """The sniklaus file name (``module...`` spelling) of an NVlabs name (RECIPE.md section 5)."""
    module, kind = name.rsplit(".", 1)
    module = module.removesuffix(".0")
    if module.startswith("conv") and "_" not in module:
        level = int(module[4])
        position = {"a": 0, "aa": 2, "b": 4} if level < 6 else {"aa": 0, "a": 2, "b": 4}
        return f"moduleExtractor.module{_SNIKLAUS_LEVEL[level]}.{position[module[5:]]}.{kind}"
    if module.startswith("conv"):
        level, index = (int(part) for part in module[4:].split("_"))
        return f"module{_SNIKLAUS_LEVEL[level]}.module{_SNIKLAUS_CONV[index]}.0.{kind}"
    if module.startswith("predict_flow"):
        return f"module{_SNIKLAUS_LEVEL[int(module[-1])]}.moduleSix.0.{kind}"
    if module.startswith("deconv"):
        return f"module{_SNIKLAUS_LEVEL[int(module[-1]) - 1]}.moduleUpflow.{kind}"
    if module.startswith("upfeat"):
        return f"module{_SNIKLAUS_LEVEL[int(module[-1]) - 1]}.moduleUpfeat.{kind}"
    if module.startswith("dc_conv"):
        return f"moduleRefiner.moduleMain.{2 * (int(module[7:]) - 1)}.{kind}"
    raise KeyError(name)


def sniklaus_names() -> dict[str, str]:
    """Our parameter name for every sniklaus name, in the ``module`` spelling of the files."""
    return {_nvlabs_to_sniklaus(theirs): ours for theirs, ours in nvlabs_names().items()}


def ptlflow_names(context: bool = True) -> dict[str, str]:
    """Our parameter name for every ptlflow name (``pwcnet``; ``pwcnet_nodc`` with context=False)."""
    return nvlabs_names(context)


def _sniklaus_file_spelling(name: str) -> str:
    """``netExtractor.netOne.0.weight`` (run-time spelling) -> ``moduleExtractor.moduleOne.0.weight``."""
    parts = name.split(".")
    return ".".join("module" + p[3:] if p.startswith("net") and p[3:4].isupper() else p for p in parts)


def detect_layout(checkpoint: Mapping[str, Any]) -> str | None:
    """Which of :data:`LAYOUTS` a foreign checkpoint is in, or None if it is no official PWC-Net file."""
    if not isinstance(checkpoint, Mapping):
        return None
    state = state_dict_of(checkpoint)
    keys = [key for key in state if isinstance(key, str)]
    if any(key.startswith(("moduleExtractor.", "netExtractor.")) for key in keys):
        return "pwcnet-sniklaus"
    if "conv1a.0.weight" in state and "conv6_0.0.weight" in state:
        return "pwcnet-nvlabs" if "deconv2.weight" in state else "pwcnet-ptlflow"
    return None


def _rename_strictly(state: Mapping[str, Any], names: Mapping[str, str], layout: str,
                     ignored: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """``state`` under our names; every name of ``names`` must be there, as a tensor, and nothing
    else but the optional ``ignored``."""
    check_fits(dict.fromkeys(names), {k: v for k, v in state.items() if k not in ignored},
               what=f"checkpoint does not fit layout {layout!r}")
    return {ours: state[theirs] for theirs, ours in names.items()}


def published_pipeline(layout: str, context: bool) -> dict[str, str]:
    """The colour order and :mod:`zoo.models.pwcnet.pipeline` of the script that published a file of
    ``layout``: NVlabs and sniklaus feed BGR; ptlflow 0.4.2 reads BGR frames and flips them, so
    its ``pwcnet`` (context network) feeds RGB, while its ``pwcnet_nodc`` keeps BGR."""
    if layout == "pwcnet-ptlflow":
        pipeline = "ptlflow" if context else "ptlflow-nodc"
    else:
        pipeline = layout.removeprefix("pwcnet-")
    return {"channel_order": "RGB" if pipeline == "ptlflow" else "BGR", "pipeline": pipeline}


def _implied_config(state: Mapping[str, torch.Tensor], layout: str) -> dict[str, Any]:
    """Builder config implied by converted weights of ``layout`` (the cost-volume size from the
    level-6 estimator, the pipeline from the publishing script)."""
    volume_channels = state["decoders.6.convs.0.weight"].shape[1]
    max_displacement = (math.isqrt(volume_channels) - 1) // 2
    if (2 * max_displacement + 1) ** 2 != volume_channels:
        raise ValueError(f"level-6 estimator takes {volume_channels} channels, not a square (2d+1)^2 cost volume")
    context = "context.0.weight" in state
    return {"context": context, "max_displacement": max_displacement, **published_pipeline(layout, context)}


def convert(checkpoint: Mapping[str, Any], layout: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Our state dict and builder config from an official checkpoint.

    Args:
        checkpoint: the top-level object read from the file (a bare state dict, or a dict holding
            ``state_dict`` plus e.g. ``hyper_parameters``, ``epoch``).
        layout: one of :data:`LAYOUTS`.

    Returns:
        (state dict with our names, tensors unchanged; config for ``PWCNet(**config)``).

    Raises:
        ValueError: unknown layout, or keys missing from / unexpected in the state dict.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown PWC-Net layout {layout!r}; expected one of {LAYOUTS}")
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"{layout}: expected a mapping, got {type(checkpoint).__name__}")
    state = state_dict_of(checkpoint)
    if layout == "pwcnet-nvlabs":
        converted = _rename_strictly(state, nvlabs_names(), layout, ignored=_UNUSED_NVLABS)
    elif layout == "pwcnet-sniklaus":
        state = {_sniklaus_file_spelling(key): value for key, value in state.items()}
        converted = _rename_strictly(state, sniklaus_names(), layout)
    else:
        converted = _rename_strictly(state, ptlflow_names(context="dc_conv1.0.weight" in state), layout)
    return converted, _implied_config(converted, layout)
