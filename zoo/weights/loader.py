"""``zoo.load`` and ``zoo.load_module``: from a name and a weight source to a ready model."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.catalog.registry import (
    Architecture,
    WeightsInfo,
    all_architectures,
    architecture,
    bundled_weights,
    list_weights,
    local_model,
    resolve_import,
    split_name,
    weights_info,
)
from zoo.datamodules.files.download import download, import_file
from zoo.weights.cache import cache_target, weights_file
from zoo.weights.checkpoint import load_state_dict_strict, read_checkpoint, to_state_dict
from zoo.weights.hf_hub import folder_weights, hub_weights, is_hub_name

__all__ = ["ModelRecord", "as_model", "check_names_weights", "import_weights", "load", "load_module", "load_trained",
           "load_weights_into", "weights_input"]


@dataclass(frozen=True)
class ModelRecord:
    """What :func:`load` knows about the network it built, kept as ``network.zoo_record``:
    enough to save it (:func:`zoo.save_pretrained`), export it or describe it (:mod:`zoo.publish.card`).

    Attributes:
        arch: architecture name.
        weights: the weight record; its ``config`` is the network's complete builder config. For
            weights outside the registry it is rebuilt from the file's metadata (name: the file
            or ``hf-hub:`` name).
        file: the local file the weights were read from (bundled, cached or the user's); None
            for an untrained network. Writers refuse to write onto it.
    """

    arch: str
    weights: WeightsInfo
    file: Path | None = None


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://"))


def _local_weights(path: Path) -> tuple[str, Path, WeightsInfo | None]:
    """(architecture, weight file, record) of a save_pretrained folder or a weight file that records its architecture."""
    if path.is_dir():
        return folder_weights(path)
    return _file_architecture(str(path)), path, None


def _registered_architecture(arch_name: str, source: str | os.PathLike) -> Architecture:
    """The architecture a local folder or file names; ValueError naming the source if it is unknown."""
    try:
        return architecture(arch_name)
    except KeyError as error:
        raise ValueError(f"{source}: names architecture {arch_name!r}, which this zoo does not have "
                         f"({error.args[0]})") from None


def _named_architecture(name: str) -> Architecture:
    try:
        return architecture(name)
    except KeyError as error:
        raise KeyError(f"{error.args[0]}; {name!r} is no local folder or weight file either") from None


def _resolve(name: str, weights: str | os.PathLike | None) -> tuple[Architecture, Path | None, WeightsInfo | None]:
    """The architecture, the local weight file (or None) and its record (registry, Hub or folder), if any."""
    local = local_model(name)
    if is_hub_name(name) or local is not None:
        if weights is not None:
            raise ValueError(f"give the weights either in the name ({name!r}) or as weights=, not both")
        arch_name, path, info = hub_weights(name) if local is None else _local_weights(local)
        return _registered_architecture(arch_name, name), path, info
    arch_name, tag = split_name(name)
    arch = _named_architecture(name)
    if weights is not None and tag is not None:
        raise ValueError(f"give the weights either in the name ({name!r}) or as weights=, not both")
    source = weights if weights is not None else (tag or arch.default_weights)
    if source is None:
        return arch, None, None
    source = str(source)
    if is_hub_name(source):
        hub_arch, path, info = hub_weights(source)
        if hub_arch != arch_name:
            raise ValueError(f"{source} holds {hub_arch!r} weights, not {arch_name!r}")
        return arch, path, info
    if _is_url(source):
        return arch, download(source), None
    path = Path(source).expanduser()
    if path.is_file():
        return arch, path, None
    if path.is_dir():  # a folder of another architecture is refused by to_state_dict, naming both
        return arch, *folder_weights(path)[1:]
    if os.sep in source or path.suffix in {".pth", ".tar", ".pt", ".ckpt", ".safetensors", ".pytorch"}:
        raise FileNotFoundError(f"weights file {source} does not exist")
    # "things" is a tag of arch_name; "pwcnet" or "pwcnet.things" is a full name (a bare architecture: its default)
    info = weights_info(source if "." in source or _is_architecture(source) else f"{arch_name}.{source}")
    if info.arch != arch_name:
        raise ValueError(f"weights {info.name!r} belong to {info.arch!r}, not {arch_name!r}")
    return arch, weights_file(info, bundled_alternatives=bundled_weights(arch_name)), info


def _is_architecture(name: str) -> bool:
    return name in {arch.name for arch in all_architectures()}


def _untrained_record(arch: str) -> WeightsInfo:
    return WeightsInfo(name=arch, layout="-", recipe="untrained: random initialisation")


def _file_record(path: Path, checkpoint: dict[str, Any]) -> WeightsInfo:
    """The record of a weight file outside the registry: the description saved with it by
    :func:`zoo.save_pretrained`, else its recipe."""
    saved = (checkpoint.get("zoo") or {}).get("info") or {}
    description = saved.get("record") or {"recipe": str(saved.get("recipe", ""))}
    return WeightsInfo.from_description(str(path), {"source": str(path), **description})


class _Weights:
    """Weights read from a file, ready to be checked and loaded: our state dict, the builder
    config the file implies (merged over its registry entry's), where they came from."""

    def __init__(self, arch: Architecture, path: Path, info: WeightsInfo | None) -> None:
        self.arch, self.info = arch, info
        self.source = str(path)
        checkpoint = read_checkpoint(path)
        self.state, file_config = to_state_dict(arch, checkpoint, source=self.source,
                                                expected_layout=info.layout if info else None)
        if info is not None:
            _check_config_matches(info, file_config, self.source)
        self.config = {**(info.config if info else {}), **file_config}
        self.record = info or _file_record(path, checkpoint)

    def load_into(self, network: torch.nn.Module, *, strict: bool = True) -> None:
        """Check ``network`` against the registry entry's parameter count (when ``strict``), then load."""
        if strict and self.info is not None and self.info.num_params:
            count = sum(p.numel() for p in network.parameters())
            if count != self.info.num_params:
                raise ValueError(f"{self.source}: the network these weights build has {count:,} parameters; "
                                 f"{self.info.name} has {self.info.num_params:,}")
        load_state_dict_strict(network, self.state, source=self.source, strict=strict)


def _check_config_matches(info: WeightsInfo, file_config: dict[str, Any], source: str) -> None:
    conflicts = [f"{key}: file {file_config[key]!r} vs {info.config[key]!r}"
                 for key in sorted(info.config.keys() & file_config.keys()) if file_config[key] != info.config[key]]
    if conflicts:
        raise ValueError(f"{source}: its network config does not match {info.name}'s: " + "; ".join(conflicts))


def _build(arch: Architecture, config: dict[str, Any], source: str) -> torch.nn.Module:
    try:
        return arch.build(**config)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def _read(name: str, weights: str | os.PathLike | None) -> tuple[Architecture, _Weights | None]:
    arch, path, info = _resolve(name, weights)
    return arch, (_Weights(arch, path, info) if path is not None else None)


def import_weights(name: str, source: str | os.PathLike) -> Path:
    """Check a hand-fetched file for the weight set ``name`` and copy it into the cache.

    Before anything is written, the file must match the entry's hash (where published), be in
    the entry's layout, imply the entry's network config, build a network with the entry's
    parameter count, and fit that network key for key with finite values.
    """
    info = weights_info(name)
    if info.bundled:
        raise ValueError(f"{name}: these weights ship with the package; nothing to import")
    arch = architecture(name)
    weights = _Weights(arch, Path(source), info)
    weights.load_into(_build(arch, weights.config, weights.source))
    return import_file(source, cache_target(info), info.sha256, info.file_size, git_sha1=info.git_sha1)


def load(name: str, weights: str | os.PathLike | None = None, *, map_location: Any = "cpu",
         strict: bool = True, **config: Any) -> torch.nn.Module:
    """The network ``name`` (``arch``, ``arch.tag`` or ``hf-hub:ORG/NAME[@REV]``) with its
    weights, in eval mode; ``network.zoo_record`` (:class:`ModelRecord`) says what it is.

    Args:
        name: registry name, e.g. ``"pwcnet.things"``; a bare ``"pwcnet"`` loads the default
            weights of the architecture, or none; ``"hf-hub:ORG/NAME"`` a Hugging Face Hub
            repository written by :func:`zoo.save_pretrained` (see :mod:`zoo.weights.hf_hub`).
        weights: a tag (``"sintel"``), a local file in any supported layout, a URL or an
            ``hf-hub:`` name.
        map_location: device for the weights.
        strict: refuse files with missing or unexpected keys.
        **config: builder keywords overriding the weights' own config.

    Raises:
        KeyError: unknown architecture or tag (the message lists what exists).
        ValueError: the file's layout or keys do not fit (the message lists them).
    """
    arch, found = _read(name, weights)
    config = {**arch.default_config, **(found.config if found else {}), **config}
    network = _build(arch, config, found.source if found else arch.name)
    if found is not None:
        found.load_into(network, strict=strict)
    if map_location is not None:
        network.to(map_location)
    record = found.record if found else _untrained_record(arch.name)
    network.zoo_record = ModelRecord(arch.name, WeightsInfo.from_description(
        record.name, {**record.description(), "config": config}, layout=record.layout),
        Path(found.source) if found else None)
    return network.eval()


def check_names_weights(name: str, weights: str | os.PathLike | None) -> None:
    """Refuse ``name`` + ``weights`` that :func:`load` would build untrained: a bare architecture
    name without default weights (``"nvae"``) and no ``weights``. The message lists the weight
    sets to choose from.

    Raises:
        ValueError: as above.
    """
    if weights is not None or is_hub_name(name) or local_model(name) is not None:
        return
    arch_name, tag = split_name(name)
    if tag is None and _named_architecture(name).default_weights is None:
        raise ValueError(f"{name!r} has no default weights and would run untrained (random initialisation); "
                         f"name a weight set: {', '.join(list_weights(arch_name)) or 'none registered'}, "
                         f"or give a weight file or hf-hub: name")


def load_trained(name: str, weights: str | os.PathLike | None = None, **options: Any) -> torch.nn.Module:
    """:func:`load` for what needs learned weights (every ``zoo`` command that samples, evaluates,
    reconstructs or publishes): ``name`` + ``weights`` must name weights (see
    :func:`check_names_weights`). ``options`` as :func:`load`'s."""
    check_names_weights(name, weights)
    return load(name, weights=weights, **options)


def weights_input(network: torch.nn.Module) -> list[tuple[str, Path]]:
    """``[("weights file", path)]``: the local file :func:`load` read ``network``'s weights from (a
    registry name's bundled or cached file too), as an input no writer may replace; ``[]`` for
    an untrained network."""
    record = getattr(network, "zoo_record", None)
    return [("weights file", record.file)] if record is not None and record.file is not None else []


def _file_architecture(path: str) -> str:
    """The architecture a weight file records (our safetensors and Lightning checkpoints do)."""
    arch = (read_checkpoint(path).get("zoo") or {}).get("arch")
    if not arch:
        raise ValueError(f"{path}: the file does not record its architecture; name it (arch=, or --arch)")
    return arch


def as_model(model_or_name: torch.nn.Module | str | os.PathLike, *, arch: str | None = None) -> torch.nn.Module:
    """A network with its :class:`ModelRecord`: one returned by :func:`load` as it is, or loaded
    from a registry / ``hf-hub:`` name or a weight file (``arch`` for files that do not record it).

    Raises:
        ValueError: a network that :func:`load` did not build (its config is unknown), a file
            whose architecture is unknown, or a name without weights (:func:`check_names_weights`).
    """
    if isinstance(model_or_name, torch.nn.Module):
        if not isinstance(getattr(model_or_name, "zoo_record", None), ModelRecord):
            raise ValueError(f"this {type(model_or_name).__name__} was not built by zoo.load, so its architecture and "
                             f"config are unknown; pass its registry name, hf-hub: name or weight file instead")
        return model_or_name
    source = str(model_or_name)
    if Path(source).expanduser().is_file():
        return load(arch or _file_architecture(source), weights=source)
    return load_trained(source)


def load_module(name: str, weights: str | os.PathLike | None = None, **hparams: Any):
    """The architecture's LightningModule with ``weights`` in its network, ready for
    ``Trainer.fit`` (fine-tuning).

    ``hparams`` are the module's training hyper-parameters; a ``config`` mapping among them
    overrides the network config implied by the weights.
    """
    arch, found = _read(name, weights)
    config = {**arch.default_config, **(found.config if found else {}), **hparams.pop("config", {})}
    named_weights = is_hub_name(name) or local_model(name) is not None or split_name(name)[1] is not None
    weights_name = str(weights) if weights is not None else (name if named_weights else None)
    module = arch.module_class()(config=config, weights=weights_name, **hparams)
    if found is not None:
        found.load_into(module.network)
    return module


def architecture_of_module(module: Any) -> Architecture:
    """The registered architecture whose LightningModule class ``module`` is an instance of."""
    for arch in all_architectures():
        if arch.module is not None and isinstance(module, resolve_import(arch.module)):
            return arch
    raise ValueError(f"{type(module).__name__} is not the LightningModule of a registered architecture")


def load_weights_into(module: Any, weights: str | os.PathLike) -> str:
    """Load ``weights`` (tag, registry name, path or URL) into ``module.network``, strictly, and
    say what was loaded in one line: the weights' name, the file they came from and the key report.

    This is how ``zoo fit --model.weights ...`` starts fine-tuning: the network was built from
    the run's config, and the weights must fit it. Settings the weights were published with that
    leave the parameters' shapes alone (PWC-Net's ``channel_order`` and ``pipeline``: RGB-ordered
    ptlflow weights trained as BGR would learn from swapped colours) are carried into the network
    and ``module.network_config`` (so checkpoints and exports record them), with a notice on
    stderr naming both values; settings that change shapes are left to the strict load to refuse.
    """
    arch = architecture_of_module(module)
    _, found = _read(arch.name, weights)
    current = _effective_config(arch, module.network_config)
    carried = {key: value for key, value in found.config.items() if current.get(key, _ABSENT) != value}
    if carried:
        config = {**module.network_config, **carried}
        network = _build(arch, config, found.source)
        if _shapes(network) == _shapes(module.network):
            print(f"zoo: --model.weights {weights}: the network takes the weights' "
                  + ", ".join(f"{key} {value!r} (the config gave {current.get(key, 'none')!r})"
                              for key, value in sorted(carried.items())), file=sys.stderr)
            module.network, module.network_config = network.to(_device_of(module.network)), config
    found.load_into(module.network)
    name = found.info.name if found.info is not None else str(weights)
    origin = "bundled with the package" if found.info is not None and found.info.bundled else "file"
    count = len(module.network.state_dict())
    return (f"weights: {name} ({origin} {found.source}): loaded all {count} tensors of the network, "
            f"none missing, none unexpected")


_ABSENT = object()


def _effective_config(arch: Architecture, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` completed with the architecture's defaults and the builder's own keyword defaults."""
    parameters = inspect.signature(resolve_import(arch.network)).parameters.values()
    defaults = {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    return {**defaults, **arch.default_config, **config}


def _shapes(network: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(value.shape) for name, value in network.state_dict().items()}


def _device_of(network: torch.nn.Module) -> torch.device:
    return next(network.parameters()).device
