"""What the zoo knows about an architecture and a weight set: plain, frozen values.

:class:`WeightsInfo` is one published (or bundled) weight set with everything a user needs to
know about it; :class:`Architecture` says how to build, train and convert one architecture.
Network code is named by import strings (``"zoo.models.pwcnet.network:PWCNet"``) and imported on
first use, so reading the catalog stays cheap (no torch import).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "DESCRIPTION_FIELDS",
    "HUB_PREFIX",
    "IMAGE_GENERATION",
    "OPTICAL_FLOW",
    "TASKS",
    "Architecture",
    "WeightsInfo",
    "hub_name",
    "resolve_import",
    "split_name",
]

#: Task of a network whose ``forward(image1, image2)`` maps two (B, 3, H, W) RGB batches in [0, 1]
#: to their (B, 2, H, W) flow (u, v) in pixels: run by ``zoo flow``
#: (:func:`zoo.models.flow_inference.estimate_flow`), measured by ``zoo eval`` on the flow sets and
#: timed by ``zoo benchmark`` as task ``flow``.
OPTICAL_FLOW = "optical-flow"
#: Task of a likelihood model of images (``sample``, ``log_likelihood``, ``quantize``, ``config``
#: with ``image_size`` and ``image_channels``, as :class:`zoo.models.nvae.network.NVAE`): run by
#: ``zoo sample`` / ``reconstruct`` / ``interpolate``, measured by ``zoo eval`` on the image sets
#: (negative log-likelihood) and timed by ``zoo benchmark`` as tasks ``elbo`` and ``sample``.
IMAGE_GENERATION = "image-generation"
#: What a network can do, as :attr:`Architecture.task` names it.
TASKS = (OPTICAL_FLOW, IMAGE_GENERATION)


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
        git_sha1: the file's git blob id where it is published in a git repository (GitHub shows
            it for every file): SHA-1 of ``b"blob <size>\0" + content``.
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
        measured: figures ``zoo eval --record`` measured for bundled weights
            (:mod:`zoo.catalog.measured`), ``{dataset: {metric: value}}``.
        measured_source: how each of those was measured (command, samples, weights hash).
        recipe: the training recipe in one line.
        manual_download: instructions shown when the file must be fetched by hand.
        bundled: file name inside ``zoo/weights/`` for weights shipped with the package.
        file_name: the published file name (used to name the cached copy).
        hf_repo: Hugging Face Hub model repository ``ORG/NAME`` holding the weights as
            ``model.safetensors`` in our format (see :mod:`zoo.weights.hf_hub`); fetched through
            ``huggingface_hub`` and its cache instead of ``urls``.
        hf_revision: branch, tag or commit of ``hf_repo`` (default: ``main``); pin a commit for
            reproducible loads.
    """

    name: str
    layout: str
    urls: tuple[str, ...] = ()
    sha256: str | None = None
    git_sha1: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    input_convention: Mapping[str, Any] = field(default_factory=dict)
    license: str = ""
    source: str = ""
    paper: str = ""
    num_params: int | None = None
    file_size: int | None = None
    metrics: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    metrics_source: str = ""
    measured: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    measured_source: str = ""
    recipe: str = ""
    manual_download: str | None = None
    bundled: str | None = None
    file_name: str | None = None
    hf_repo: str | None = None
    hf_revision: str | None = None

    def __post_init__(self) -> None:
        _check_field_types(self)
        object.__setattr__(self, "urls", tuple(self.urls))
        for attr in ("config", "input_convention", "metrics", "measured"):
            object.__setattr__(self, attr, _frozen(getattr(self, attr)))
        if self.sha256 is not None and not _is_hex(self.sha256):
            raise ValueError(f"{self.name}: sha256 must be hex digits, got {self.sha256!r}")
        if self.git_sha1 is not None and not (_is_hex(self.git_sha1) and len(self.git_sha1) == 40):
            raise ValueError(f"{self.name}: git_sha1 must be 40 hex digits, got {self.git_sha1!r}")
        if self.hf_repo is not None and self.hf_repo.count("/") != 1:
            raise ValueError(f"{self.name}: hf_repo must be 'ORG/NAME', got {self.hf_repo!r}")
        if self.hf_repo is not None and self.urls:
            raise ValueError(f"{self.name}: give either urls or hf_repo, not both")

    @property
    def arch(self) -> str:
        return split_name(self.name)[0]

    @property
    def tag(self) -> str:
        return split_name(self.name)[1] or ""

    def description(self) -> dict[str, Any]:
        """The fields that describe the weights rather than locate a file (a plain, JSON-ready
        dict): what a model card and a Hub repository carry, see :meth:`from_description`."""
        return {name: _thaw(getattr(self, name)) for name in DESCRIPTION_FIELDS}

    @classmethod
    def from_description(cls, name: str, description: Mapping[str, Any], **fields: Any) -> WeightsInfo:
        """The record ``name`` with the descriptive fields of :meth:`description` (unknown keys
        are ignored) and the locating ``fields`` (``layout``, ``hf_repo``, ...; layout defaults to ours)."""
        known = {k: v for k, v in description.items() if k in DESCRIPTION_FIELDS}
        return cls(name=name, **{"layout": "zoo", **known, **fields})

    def as_rows(self) -> list[tuple[str, str]]:
        """(field, text) rows for a metadata table, as ``zoo info`` prints it."""
        hub = hub_name(self.hf_repo, self.hf_revision) if self.hf_repo else None
        rows = [
            ("name", self.name),
            ("layout", self.layout),
            ("urls", "\n".join(self.urls) or hub or ("bundled with the package" if self.bundled else "-")),
            ("sha256", self.sha256 or ("-" if self.bundled or self.git_sha1 or self.hf_repo else "not published (trust on first use)")),
            ("git blob id", self.git_sha1 or "-"),
            ("file size", f"{self.file_size:,} bytes" if self.file_size else "-"),
            ("parameters", f"{self.num_params:,}" if self.num_params else "-"),
            ("config", ", ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"),
            ("input", ", ".join(f"{k}: {v}" for k, v in self.input_convention.items()) or "-"),
            ("published", _figures(self.metrics) or "-"),
            ("published source", self.metrics_source or "-"),
            ("measured by zoo eval", _figures(self.measured) or "-"),
            ("measured source", self.measured_source or "-"),
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
        usage: Python lines that use a loaded network ``net`` (for model cards).
        command: a ``zoo`` command line that uses weights ``{weights}`` (for model cards).
        tags: Hugging Face Hub tags of its model cards (task, architecture).
        task: what the network does, one of :data:`TASKS` (None: no command runs it); the
            commands choose their workloads, datasets and protocols from it, never from the name.
        onnx_graphs: the graphs ``zoo export --format onnx`` writes, ``{part: import string}``,
            default part first. Each names a function ``graph(network, *, size, batch_size,
            dynamic, size_multiple)`` returning ``(module, example inputs, input names, output
            names, dynamic shapes or None)``; empty: no ONNX export.
        size_multiple: image sides the raw network takes are multiples of this (PWC-Net: 64, its
            pyramid's stride); a flow graph exported with free sizes takes sides in these steps.
    """

    name: str
    network: str
    module: str | None = None
    converter: str | None = None
    default_config: Mapping[str, Any] = field(default_factory=dict)
    default_weights: str | None = None
    description: str = ""
    usage: str = ""
    command: str = ""
    tags: tuple[str, ...] = ()
    task: str | None = None
    onnx_graphs: Mapping[str, str] = field(default_factory=dict)
    size_multiple: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "default_config", _frozen(self.default_config))
        object.__setattr__(self, "onnx_graphs", _frozen(self.onnx_graphs))
        object.__setattr__(self, "tags", tuple(self.tags))
        if self.task is not None and self.task not in TASKS:
            raise ValueError(f"architecture {self.name!r}: task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.size_multiple < 1:
            raise ValueError(f"architecture {self.name!r}: size_multiple must be >= 1, got {self.size_multiple}")

    def require_task(self, task: str, command: str) -> None:
        """ValueError naming ``command`` unless the architecture's task is ``task``."""
        if self.task != task:
            raise ValueError(f"{command} runs {task} models; {self.name!r} is "
                             + (f"an {self.task} model" if self.task else "a model without a task"))

    def build(self, **config: Any) -> Any:
        """The plain network for ``config`` (merged over ``default_config``).

        Raises:
            ValueError: a key the builder does not take (the message lists the ones it takes),
                or a value it refuses.
        """
        builder = resolve_import(self.network)
        parameters = inspect.signature(builder).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            unknown = sorted(set(config) - set(parameters))
            if unknown:
                raise ValueError(f"unknown {self.name} config key(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(parameters)}")
        return builder(**{**self.default_config, **config})

    def module_class(self) -> type:
        if self.module is None:
            raise NotImplementedError(f"architecture {self.name!r} has no LightningModule yet")
        return resolve_import(self.module)

    def converter_module(self) -> Any | None:
        return importlib.import_module(self.converter) if self.converter else None


_TEXT_FIELDS = ("name", "layout", "license", "source", "paper", "metrics_source", "measured_source", "recipe")
_OPTIONAL_TEXT_FIELDS = ("sha256", "git_sha1", "manual_download", "bundled", "file_name", "hf_repo", "hf_revision")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _check_field_types(info: WeightsInfo) -> None:
    """ValueError naming the record and the first field whose value is not of its type (a
    record read from a folder's or a Hub repository's metadata is untrusted JSON)."""
    def fail(name: str, expected: str) -> None:
        raise ValueError(f"{info.name}: {name} must be {expected}, got {_shown(getattr(info, name))}")

    for name in _TEXT_FIELDS:
        if not isinstance(getattr(info, name), str):
            fail(name, "a string")
    for name in _OPTIONAL_TEXT_FIELDS:
        if not isinstance(getattr(info, name), (str, type(None))):
            fail(name, "a string or null")
    for name in ("num_params", "file_size"):
        value = getattr(info, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            fail(name, "a whole number >= 0 or null")
    if not isinstance(info.urls, (list, tuple)) or not all(isinstance(url, str) for url in info.urls):
        fail("urls", "a list of strings")
    for name in ("config", "input_convention"):
        if not isinstance(getattr(info, name), Mapping):
            fail(name, "an object (a mapping of names to values)")
    for name in ("metrics", "measured"):
        figures = getattr(info, name)
        valid = isinstance(figures, Mapping) and all(
            isinstance(values, Mapping) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
            for values in figures.values())
        if not valid:
            fail(name, "an object {dataset: {metric: number}}")


def _figures(figures: Mapping[str, Mapping[str, float]]) -> str:
    """``{dataset: {metric: value}}`` as ``dataset: metric value, ...; ...``."""
    return "; ".join(f"{ds}: " + ", ".join(f"{m} {v:g}" for m, v in vals.items()) for ds, vals in figures.items())


#: Prefix of the names of weights on the Hugging Face Hub, ``hf-hub:ORG/NAME[@REVISION]``.
HUB_PREFIX = "hf-hub:"


def hub_name(repo_id: str, revision: str | None = None) -> str:
    """``"hf-hub:ORG/NAME"``, with ``@REVISION`` when given."""
    return f"{HUB_PREFIX}{repo_id}" + (f"@{revision}" if revision else "")


#: The :class:`WeightsInfo` fields that describe weights (as opposed to locating their file).
DESCRIPTION_FIELDS = ("config", "input_convention", "license", "source", "paper", "num_params", "metrics",
                      "metrics_source", "recipe")


def _thaw(value: Any) -> Any:
    """A frozen mapping (see :func:`_frozen`) as plain nested dicts."""
    return {k: _thaw(v) for k, v in value.items()} if isinstance(value, Mapping) else value


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def split_name(name: str) -> tuple[str, str | None]:
    """``"pwcnet.things"`` -> ``("pwcnet", "things")``; ``"pwcnet"`` -> ``("pwcnet", None)``."""
    arch, dot, tag = name.partition(".")
    return arch, (tag if dot else None)


def resolve_import(target: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"import string {target!r} must look like 'package.module:attribute'")
    return getattr(importlib.import_module(module_name), attribute)
