"""``zoo.load`` and ``zoo.load_module``: from a name and a weight source to a ready model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from datamodules.files.download import download, import_file
from zoo.checkpoint import load_state_dict_strict, read_checkpoint, to_state_dict
from zoo.hub import cache_target, weights_file
from zoo.registry import (
    Architecture,
    WeightsInfo,
    all_architectures,
    architecture,
    bundled_weights,
    resolve_import,
    split_name,
    weights_info,
)

__all__ = ["load", "load_module", "load_weights_into", "import_weights"]


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://", "file://"))


def import_weights(name: str, source: str | os.PathLike) -> Path:
    """Check a hand-fetched file for the weight set ``name`` and copy it into the cache.

    The file is verified against the registered hash and must convert to the architecture.
    """
    info = weights_info(name)
    if info.bundled:
        raise ValueError(f"{name}: these weights ship with the package; nothing to import")
    arch = architecture(name)
    to_state_dict(arch, read_checkpoint(source), source=str(source), expected_layout=info.layout)
    return import_file(source, cache_target(info), info.sha256, info.file_size, git_sha1=info.git_sha1)


def _resolve(name: str, weights: str | os.PathLike | None) -> tuple[Architecture, Path | None, WeightsInfo | None]:
    """The architecture, the local weight file (or None) and its registry entry (if any)."""
    arch_name, tag = split_name(name)
    arch = architecture(arch_name)
    if weights is not None and tag is not None:
        raise ValueError(f"give the weights either in the name ({name!r}) or as weights=, not both")
    source = weights if weights is not None else (tag or arch.default_weights)
    if source is None:
        return arch, None, None
    source = str(source)
    if _is_url(source):
        return arch, download(source), None
    path = Path(source).expanduser()
    if path.is_file():
        return arch, path, None
    if os.sep in source or path.suffix in {".pth", ".tar", ".pt", ".ckpt", ".safetensors", ".pytorch"}:
        raise FileNotFoundError(f"weights file {source} does not exist")
    info = weights_info(f"{arch_name}.{source}" if "." not in source else source)
    if info.arch != arch_name:
        raise ValueError(f"weights {info.name!r} belong to {info.arch!r}, not {arch_name!r}")
    return arch, weights_file(info, bundled_alternatives=bundled_weights(arch_name)), info


def _weights_and_config(name: str, weights: str | os.PathLike | None, map_location: Any,
                        ) -> tuple[Architecture, dict[str, torch.Tensor] | None, dict[str, Any], str]:
    arch, path, info = _resolve(name, weights)
    if path is None:
        return arch, None, {}, arch.name
    checkpoint = read_checkpoint(path)
    state, file_config = to_state_dict(
        arch, checkpoint, source=str(path), expected_layout=info.layout if info else None)
    config = {**(info.config if info else {}), **file_config}
    if map_location is not None:
        state = {k: v.to(map_location) for k, v in state.items()}
    return arch, state, config, info.name if info else str(path)


def load(name: str, weights: str | os.PathLike | None = None, *, map_location: Any = "cpu",
         strict: bool = True, **config: Any) -> torch.nn.Module:
    """The network ``name`` (``arch`` or ``arch.tag``) with its weights, in eval mode.

    Args:
        name: registry name, e.g. ``"pwcnet.things"``; a bare ``"pwcnet"`` loads the default
            weights of the architecture, or none.
        weights: a tag (``"sintel"``), a local file in any supported layout, or a URL.
        map_location: device for the weights.
        strict: refuse files with missing or unexpected keys.
        **config: builder keywords overriding the weights' own config.

    Raises:
        KeyError: unknown architecture or tag (the message lists what exists).
        ValueError: the file's layout or keys do not fit (the message lists them).
    """
    arch, state, file_config, source = _weights_and_config(name, weights, map_location)
    network = arch.build(**{**file_config, **config})
    if state is not None:
        load_state_dict_strict(network, state, source=source, strict=strict)
    if map_location is not None:
        network.to(map_location)
    return network.eval()


def load_module(name: str, weights: str | os.PathLike | None = None, **hparams: Any):
    """The architecture's LightningModule with ``weights`` in its network, ready for
    ``Trainer.fit`` (fine-tuning).

    ``hparams`` are the module's training hyper-parameters; a ``config`` mapping among them
    overrides the network config implied by the weights.
    """
    arch, state, file_config, source = _weights_and_config(name, weights, "cpu")
    config = {**arch.default_config, **file_config, **hparams.pop("config", {})}
    weights_name = str(weights) if weights is not None else (name if split_name(name)[1] else None)
    module = arch.module_class()(config=config, weights=weights_name, **hparams)
    if state is not None:
        load_state_dict_strict(module.network, state, source=source)
    return module


def architecture_of_module(module: Any) -> Architecture:
    """The registered architecture whose LightningModule class ``module`` is an instance of."""
    for arch in all_architectures():
        if arch.module is not None and isinstance(module, resolve_import(arch.module)):
            return arch
    raise ValueError(f"{type(module).__name__} is not the LightningModule of a registered architecture")


def load_weights_into(module: Any, weights: str | os.PathLike) -> None:
    """Load ``weights`` (tag, registry name, path or URL) into ``module.network``, strictly.

    This is how ``zoo fit --model.weights ...`` starts fine-tuning: the network was built from
    the run's config, and the weights must fit it.
    """
    arch = architecture_of_module(module)
    _, state, _, source = _weights_and_config(arch.name, weights, "cpu")
    load_state_dict_strict(module.network, state, source=source)
