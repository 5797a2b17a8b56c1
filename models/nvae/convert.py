"""Official NVlabs/NVAE checkpoints -> our NVAE state dict and config (pure functions on dicts).

An official ``checkpoint.pt`` holds ``state_dict`` (the ``AutoEncoder`` module tree, no
``module.`` prefix), ``args`` (the ``train.py`` namespace), ``epoch``, ``optimizer``, ... Two
traps in its keys:

* ``X.weight_normalized`` aliases: the plain (not weight-normalised) convolutions inside the
  inverted-residual cells register their weight a second time under that name. The entries are
  optional (older checkpoints lack them); when present they must equal ``X.weight`` and are
  dropped.
* batch norms created through the official sync-BN wrapper carry an extra ``.bn.`` level
  (``..._ops.0.conv.0.bn.weight``) while the fused BN-Swish layers do not (``..._ops.0.bn_act.weight``).
"""

from __future__ import annotations

import functools
import re
from argparse import Namespace
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import torch

from zoo.models.nvae.config import NVAEConfig
from zoo.models.nvae.plan import GroupPoint, TowerStep, plan_nvae
from zoo.models.state_dict import check_fits, state_dict_of, strip_prefix

__all__ = ["LAYOUTS", "config_from_args", "convert", "detect_layout", "official_key_map"]

LAYOUTS: tuple[str, ...] = ("nvae-official",)

# Defaults the official evaluate.py fills for checkpoints that predate these flags.
_OLD_CHECKPOINT_DEFAULTS = {"ada_groups": False, "min_groups_per_scale": 1, "num_mixture_dec": 10}
_ARCH_FIELDS = ("arch_instance", "num_channels_enc", "num_channels_dec", "num_latent_scales",
                "num_groups_per_scale", "num_latent_per_group", "ada_groups",
                "min_groups_per_scale", "num_preprocess_blocks", "num_preprocess_cells",
                "num_postprocess_blocks", "num_postprocess_cells", "num_cell_per_cond_enc",
                "num_cell_per_cond_dec", "num_nf", "num_mixture_dec", "num_x_bits", "use_se",
                "res_dist")
_BINARY_DATASETS = {"mnist", "omniglot"}
_SIGNATURE_KEYS = ("prior_ftr0", "stem.log_weight_norm", "enc_sampler.0.weight")


def detect_layout(checkpoint: Mapping[str, Any]) -> str | None:
    """``"nvae-official"`` when ``checkpoint`` (or its ``state_dict``) has the official
    AutoEncoder's keys, else None."""
    state = strip_prefix(state_dict_of(checkpoint))
    return "nvae-official" if all(k in state for k in _SIGNATURE_KEYS) else None


def _input_size(dataset: str) -> int:
    """Official ``get_input_size``."""
    if dataset in _BINARY_DATASETS or dataset == "cifar10":
        return 32
    if dataset == "ffhq":
        return 256
    if dataset.startswith(("celeba", "imagenet", "lsun")):
        return int(dataset.split("_")[-1])
    raise ValueError(f"NVAE checkpoint args: unsupported dataset {dataset!r}")


def config_from_args(args: Namespace | Mapping[str, Any]) -> NVAEConfig:
    """The network config an official ``train.py`` namespace describes.

    Missing ``ada_groups``, ``min_groups_per_scale`` and ``num_mixture_dec`` get the defaults
    the official evaluate.py uses for old checkpoints.
    """
    values = dict(vars(args) if isinstance(args, Namespace) else args)
    for name, default in _OLD_CHECKPOINT_DEFAULTS.items():
        values.setdefault(name, default)
    missing = [name for name in ("dataset", *_ARCH_FIELDS) if name not in values]
    if missing:
        raise ValueError(f"NVAE checkpoint args lack {', '.join(missing)}")
    dataset = values["dataset"]
    binary = dataset in _BINARY_DATASETS
    if binary:
        decoder = "bernoulli"
    else:
        decoder = "normal" if values["num_mixture_dec"] == 1 else "logistic_mixture"
    return NVAEConfig(image_size=_input_size(dataset), image_channels=1 if binary else 3,
                      decoder_distribution=decoder, crop_border=2 if binary else 0,
                      **{name: values[name] for name in _ARCH_FIELDS})


def _renaming_kind(step: TowerStep) -> str:
    """How to rename the keys inside a tower step (see :func:`_official_modules`)."""
    if isinstance(step, GroupPoint):
        return "plain"
    return "up_cell" if step.cell_type.startswith("up") else "cell"


def _official_modules(cfg: NVAEConfig) -> Iterator[tuple[str, str, str]]:
    """``(official prefix, our prefix, kind)`` for each top-level module of the official tree.

    Walks the network's plan: a tower step's position is its official ``pre_process`` /
    ``enc_tower`` / ``dec_tower`` / ``post_process`` index, flows are numbered across groups.
    ``kind`` selects the renaming rules inside the module: ``cell``, ``up_cell`` (its
    inverted-residual op starts with an up-sampling layer, which shifts the indices), ``flow``
    or ``plain``.
    """
    plan = plan_nvae(cfg)
    yield "prior_ftr0", "prior_feature", "plain"
    yield "stem", "stem", "plain"
    for official, steps in (("pre_process", plan.preprocess), ("enc_tower", plan.encoder)):
        for i, step in enumerate(steps):
            yield f"{official}.{i}", step.name, _renaming_kind(step)
    yield "enc0.1", "encoder_top", "plain"
    for group in plan.groups:
        yield f"enc_sampler.{group.index}", group.posterior_head, "plain"
        if group.prior_head is not None:
            yield f"dec_sampler.{group.index - 1}.1", group.prior_head, "plain"
    flows = [name for group in plan.groups for name in group.flows]
    for k, name in enumerate(flows):
        yield f"nf_cells.{k}", name, "flow"
    for official, steps in (("dec_tower", plan.decoder), ("post_process", plan.postprocess)):
        for i, step in enumerate(steps):
            yield f"{official}.{i}", step.name, _renaming_kind(step)
    yield "image_conditional.1", "output_conv", "plain"


# Inside a cell: (pattern on the official remainder, replacement). The inverted residual's
# layers are numbered 0..4 (1..5 after an up-sampling layer): BN, 1x1 conv-BN-Swish,
# depthwise conv-BN-Swish, 1x1 conv, BN.
_MBCONV_LAYERS = (  # per layer: official sub-key -> ours
    {"bn.": "bn_in."},
    {"conv.0.": "expand.conv.", "conv.1.": "expand.bn."},
    {"conv.0.": "depthwise.conv.", "conv.1.": "depthwise.bn."},
    {"": "project."},
    {"bn.": "bn_out."},
)
_CELL_RULES = (
    (re.compile(r"^skip\.conv_([1-4])\."), lambda m: f"skip.convs.{int(m[1]) - 1}."),
    (re.compile(r"^skip\.1\."), lambda m: "skip.conv."),
    (re.compile(r"^_ops\.(\d+)\.bn_act\."), lambda m: f"ops.{m[1]}.bn."),
    (re.compile(r"^_ops\.(\d+)\.bn\.bn\."), lambda m: f"ops.{m[1]}.bn."),
    (re.compile(r"^_ops\.(\d+)\.conv_0\."), lambda m: f"ops.{m[1]}.conv."),
    (re.compile(r"^se\.se\.0\."), lambda m: "se.reduce."),
    (re.compile(r"^se\.se\.2\."), lambda m: "se.expand."),
)
_MBCONV_RULE = re.compile(r"^_ops\.(\d+)\.conv\.(\d+)\.(bn\.|conv\.0\.|conv\.1\.|)")
_FLOW_RULE = re.compile(r"^cell([12])\.(conv\.convz\.0|conv\.convz\.2|mu\.conv_0)\.")
_FLOW_PARTS = {"conv.convz.0": "expand", "conv.convz.2": "depthwise", "mu.conv_0": "mean"}


def _rename_inside(rest: str, kind: str) -> str | None:
    """Our name for the part of an official key below its top-level module, or None."""
    if kind == "plain":
        return rest
    if kind == "flow":
        m = _FLOW_RULE.match(rest)
        if not m:
            return None
        return f"cells.{int(m[1]) - 1}.{_FLOW_PARTS[m[2]]}." + rest[m.end():]
    for pattern, replace in _CELL_RULES:
        m = pattern.match(rest)
        if m:
            return replace(m) + rest[m.end():]
    m = _MBCONV_RULE.match(rest)
    if not m:
        return None
    layer = int(m[2]) - (1 if kind == "up_cell" else 0)
    if not 0 <= layer < len(_MBCONV_LAYERS) or m[3] not in _MBCONV_LAYERS[layer]:
        return None
    return f"ops.{m[1]}.{_MBCONV_LAYERS[layer][m[3]]}" + rest[m.end():]


def official_key_map(cfg: NVAEConfig, official_keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map official keys to ours for config ``cfg``: ``({official: ours}, unmapped official)``.

    ``weight_normalized`` aliases are neither mapped nor reported.
    """
    modules = {official: (ours, kind) for official, ours, kind in _official_modules(cfg)}
    mapping, unmapped = {}, []
    for key in official_keys:
        if key.endswith(".weight_normalized"):
            continue
        parts = key.split(".")
        target = None
        for depth in range(min(3, len(parts)), 0, -1):  # 'dec_sampler.0.1', 'enc_tower.3', 'prior_ftr0'
            prefix = ".".join(parts[:depth])
            if prefix in modules:
                ours, kind = modules[prefix]
                if len(parts) == depth:
                    target = ours
                else:
                    inside = _rename_inside(".".join(parts[depth:]) + ".", kind)
                    target = None if inside is None else f"{ours}.{inside[:-1]}"
                break
        if target is None:
            unmapped.append(key)
        else:
            mapping[key] = target
    return mapping, unmapped


def _describe_missing(cfg: NVAEConfig, ours: str) -> str:
    """``ours`` with the official module it would come from, e.g. ``posterior_heads.1.bias
    (official enc_sampler.1.*)``."""
    for official, our_prefix, _ in _official_modules(cfg):
        if ours == our_prefix or ours.startswith(our_prefix + "."):
            return f"{ours} (official {official}{'' if ours == our_prefix else '.*'})"
    return ours


def _same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors hold the same values (shape only for storage-less meta tensors)."""
    if a.shape != b.shape:
        return False
    if a.is_meta or b.is_meta:
        return a.is_meta and b.is_meta
    return torch.equal(a, b)


@functools.lru_cache(maxsize=8)
def _expected_state(cfg: NVAEConfig) -> Mapping[str, torch.Size]:
    """Our state-dict keys and shapes for ``cfg`` (built on the meta device: no memory;
    cached, as building the tree takes seconds for the large configs)."""
    from zoo.models.nvae.network import NVAE

    with torch.device("meta"):
        network = NVAE(cfg)
    return MappingProxyType({k: v.shape for k, v in network.state_dict().items()})


def convert(checkpoint: Mapping[str, Any], layout: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Our NVAE state dict and builder config from an official checkpoint.

    Raises:
        ValueError: unknown layout, missing ``args``, an alias that differs from its weight,
            or keys that do not fit (missing / unexpected / wrong shape, all listed).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"NVAE converter: unknown layout {layout!r}; known: {LAYOUTS}")
    args = checkpoint.get("args")
    if args is None:
        raise ValueError("official NVAE checkpoint has no 'args' entry: the network's "
                         "hyper-parameters cannot be known")
    cfg = config_from_args(args)
    state = strip_prefix(state_dict_of(checkpoint))
    for key, value in state.items():
        if key.endswith(".weight_normalized"):
            weight = state.get(key[: -len("_normalized")])
            if weight is None or not _same_values(value, weight):
                raise ValueError(f"NVAE checkpoint: alias {key!r} does not equal "
                                 f"{key[: -len('_normalized')]!r}")
    mapping, unmapped = official_key_map(cfg, list(state))
    expected = _expected_state(cfg)
    converted = {ours: state[official] for official, ours in mapping.items()}
    check_fits(expected, {**converted, **{official: state[official] for official in unmapped}},
               what=f"official NVAE checkpoint does not fit the config its args describe "
                    f"({sum(cfg.groups_per_scale)} latent groups, arch {cfg.arch_instance})",
               describe=functools.partial(_describe_missing, cfg))
    return {k: converted[k] for k in expected if k in converted}, cfg.to_dict()
