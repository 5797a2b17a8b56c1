"""The lookup tables of the zoo: architectures and their weight sets.

Names follow timm's ``arch.tag`` convention: ``pwcnet.things`` is the PWC-Net architecture with
the ``things`` weights; a bare ``pwcnet`` is the architecture with its default weights (or none).

This module holds metadata only. Network code is referenced by import strings
(``"models.pwcnet.network:PWCNet"``) and imported on first use, so listing the registry stays
cheap. The catalog modules in :mod:`zoo.catalog` fill the tables; each weight set is one
:class:`WeightsInfo` entry there.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

__all__ = [
    "Architecture",
    "WeightsInfo",
    "register_architecture",
    "register_weights",
    "architecture",
    "weights_info",
    "list_models",
    "list_weights",
    "all_architectures",
    "split_name",
    "resolve_import",
]


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only copy of ``mapping`` (nested mappings are frozen too)."""
    items = {k: _frozen(v) if isinstance(v, Mapping) else v for k, v in (mapping or {}).items()}
    return MappingProxyType(items)


@dataclass(frozen=True)
class WeightsInfo:
    """One published (or bundled) weight set and everything a user needs to know about it.

    Attributes:
        name: full registry name, ``arch.tag``.
        urls: where the file can be downloaded, primary first, then mirrors; empty when the
            file cannot be fetched automatically (see ``manual_download``) or is bundled.
        sha256: full hex digest, a hex prefix where only that is published, or None.
        layout: the file's key layout, e.g. ``pwcnet-nvlabs``, ``nvae-official`` or ``zoo``.
        config: keyword arguments of the architecture's network builder for these weights.
        input_convention: what ``forward`` expects, e.g. ``{"channels": "RGB", "range": "[0, 1]"}``.
        license: licence of the weights.
        source: where the weights come from (repository or release page).
        paper: citation of the paper.
        num_params: number of network parameters.
        file_size: size of the published file in bytes, when known.
        metrics: published figures, ``{dataset: {metric: value}}``.
        metrics_source: where those figures come from.
        recipe: the training recipe in one line.
        manual_download: instructions shown when the file must be fetched by hand.
        bundled: file name inside ``zoo/weights/`` for weights shipped with the package.
        file_name: the published file name (used to name the cached copy).
    """

    name: str
    layout: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    input_convention: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""
    source: str = ""
    paper: str = ""
    num_params: int | None = None
    file_size: int | None = None
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    metrics_source: str = ""
    recipe: str = ""
    manual_download: str | None = None
    bundled: str | None = None
    file_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "urls", tuple(self.urls))
        for attr in ("config", "input_convention", "metrics"):
            object.__setattr__(self, attr, _frozen(getattr(self, attr)))
        if self.sha256 is not None and not _is_hex(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be hex digits, got {self.sha256!r}")

    @property
    def arch(self) -> str:
        return split_name(self.name)[0]

    @property
    def tag(self) -> str:
        return split_name(self.name)[1] or ""

    def as_rows(self) -> list[tuple[str, str]]:
        """(field, text) rows for a metadata table, as ``zoo info`` prints it."""
        metrics = "; ".join(
            f"{ds}: " + ", ".join(f"{m} {v:g}" for m, v in vals.items())
            for ds, vals in self.metrics.items()
        )
        rows = [
            ("name", self.name),
            ("layout", self.layout),
            ("urls", "\n".join(self.urls) or ("bundled with the package" if self.bundled else "-")),
            ("sha256", self.sha256 or ("-" if self.bundled else "not published (trust on first use)")),
            ("file size", f"{self.file_size:,} bytes" if self.file_size else "-"),
            ("parameters", f"{self.num_params:,}" if self.num_params else "-"),
            ("config", ", ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"),
            ("input", ", ".join(f"{k}: {v}" for k, v in self.input_convention.items()) or "-"),
            ("metrics", metrics or "-"),
            ("metrics source", self.metrics_source or "-"),
            ("recipe", self.recipe or "-"),
            ("licence", self.license or "-"),
            ("source", self.source or "-"),
            ("paper", self.paper or "-"),
        ]
        if self.manual_download:
            rows.append(("manual download", self.manual_download))
        return rows


@dataclass(frozen=True)
class Architecture:
    """How the zoo builds, trains and converts one architecture.

    Attributes:
        name: architecture name, the part of a registry name before the dot.
        network: import string of the builder, ``"package.module:callable"``; it is called as
            ``builder(**config)`` and returns a plain ``nn.Module``.
        module: import string of the LightningModule class, which takes the same ``config`` keys
            plus training hyper-parameters and keeps its network in ``self.network``; None if
            the architecture cannot be trained yet.
        converter: import string of a module with ``LAYOUTS: tuple[str, ...]``,
            ``detect_layout(checkpoint) -> str | None`` and
            ``convert(checkpoint, layout) -> (state_dict, config)``, where ``checkpoint`` is the
            top-level mapping read from a foreign file.
        default_config: builder keywords used when neither the weights nor the caller give one.
        default_weights: tag loaded for the bare architecture name, or None.
        description: one line for listings.
    """

    name: str
    network: str
    module: str | None = None
    converter: str | None = None
    default_config: Mapping[str, Any] = field(default_factory=dict)
    default_weights: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_config", _frozen(self.default_config))

    def build(self, **config: Any) -> Any:
        """The plain network for ``config`` (merged over ``default_config``)."""
        return resolve_import(self.network)(**{**self.default_config, **config})

    def module_class(self) -> type:
        if self.module is None:
            raise NotImplementedError(f"architecture {self.name!r} has no LightningModule yet")
        return resolve_import(self.module)

    def converter_module(self) -> Any | None:
        return importlib.import_module(self.converter) if self.converter else None


_ARCHITECTURES: dict[str, Architecture] = {}
_WEIGHTS: dict[str, WeightsInfo] = {}
_CATALOG_LOADED = False


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def resolve_import(target: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"import string {target!r} must look like 'package.module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)


def register_architecture(arch: Architecture) -> Architecture:
    if arch.name in _ARCHITECTURES:
        raise ValueError(f"architecture {arch.name!r} is registered twice")
    _ARCHITECTURES[arch.name] = arch
    return arch


def register_weights(info: WeightsInfo) -> WeightsInfo:
    arch, tag = split_name(info.name)
    if not tag:
        raise ValueError(f"weights name {info.name!r} must be 'arch.tag'")
    if arch not in _ARCHITECTURES:
        raise ValueError(f"weights {info.name!r} name an unregistered architecture {arch!r}")
    if info.name in _WEIGHTS:
        raise ValueError(f"weights {info.name!r} are registered twice")
    _WEIGHTS[info.name] = info
    return info


def _load_catalog() -> None:
    global _CATALOG_LOADED
    if not _CATALOG_LOADED:
        _CATALOG_LOADED = True
        importlib.import_module("zoo.catalog")


def split_name(name: str) -> tuple[str, str | None]:
    """``"pwcnet.things"`` -> ``("pwcnet", "things")``; ``"pwcnet"`` -> ``("pwcnet", None)``."""
    arch, dot, tag = name.partition(".")
    return arch, (tag if dot else None)


def architecture(name: str) -> Architecture:
    """The architecture of a registry name (``arch`` or ``arch.tag``)."""
    _load_catalog()
    arch = split_name(name)[0]
    if arch not in _ARCHITECTURES:
        raise KeyError(
            f"unknown architecture {arch!r}; available: {', '.join(sorted(_ARCHITECTURES))}"
        )
    return _ARCHITECTURES[arch]


def weights_info(name: str) -> WeightsInfo:
    """Metadata of the weight set ``arch.tag`` (a bare ``arch`` means its default weights)."""
    arch_name, tag = split_name(name)
    arch = architecture(arch_name)
    tag = tag or arch.default_weights
    if tag is None:
        raise KeyError(f"architecture {arch_name!r} has no default weights; name a tag: "
                       f"{', '.join(list_weights(arch_name)) or 'none registered'}")
    full = f"{arch_name}.{tag}"
    if full not in _WEIGHTS:
        raise KeyError(f"unknown weights {full!r}; available for {arch_name!r}: "
                       f"{', '.join(list_weights(arch_name)) or 'none'}")
    return _WEIGHTS[full]


def list_weights(arch: str) -> list[str]:
    """Full names of every weight set of ``arch``, sorted."""
    architecture(arch)
    return sorted(n for n in _WEIGHTS if split_name(n)[0] == arch)


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registry names matching the fnmatch ``pattern``.

    With ``pretrained=False`` the bare architecture names are listed too; with ``True`` only
    names that carry weights.
    """
    _load_catalog()
    names = list(_WEIGHTS) + ([] if pretrained else list(_ARCHITECTURES))
    return sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))


def all_architectures() -> list[Architecture]:
    """Every registered architecture, sorted by name."""
    _load_catalog()
    return sorted(_ARCHITECTURES.values(), key=lambda a: a.name)
