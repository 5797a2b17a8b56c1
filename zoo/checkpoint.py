"""Reading and writing weight files safely, and turning any supported file into our state dict.

* Pickle-based files (``.pth``, ``.pth.tar``, ``.pt``, ``.ckpt``, ``.pytorch``) are read with
  ``torch.load(weights_only=True)``; the only non-tensor type allowed is ``argparse.Namespace``
  (official NVAE checkpoints store their ``args`` so). Anything else is refused: no fall-back to
  unsafe unpickling.
* Our own files are safetensors with a JSON metadata block (architecture, config, provenance).
* :func:`to_state_dict` finds a file's layout: ours (safetensors, or a Lightning ``.ckpt`` of one
  of our modules) or one of the architecture's foreign layouts, via its converter module.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

import torch

from datamodules.files.atomic import atomic_output
from zoo.registry import Architecture

__all__ = [
    "ZOO_LAYOUT",
    "LIGHTNING_LAYOUT",
    "read_checkpoint",
    "read_zoo_metadata",
    "save_weights",
    "to_state_dict",
    "load_state_dict_strict",
]

ZOO_LAYOUT = "zoo"
LIGHTNING_LAYOUT = "zoo-lightning"
_SAFE_GLOBALS = [argparse.Namespace]
_META_ARCH, _META_CONFIG, _META_INFO = "zoo.arch", "zoo.config", "zoo.info"


def _is_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    header_len = int.from_bytes(head[:8], "little")
    return 0 < header_len < 100_000_000 and head[8:9] == b"{"


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping stored in a weight file.

    For safetensors: ``{"state_dict": tensors, "zoo": {"arch", "config", "info"}}``.
    For pickle-based files: whatever mapping the file holds (a bare state dict, or a dict with
    ``state_dict``, ``args``, ...), read with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a weight file, or it holds objects other than tensors,
            plain containers and ``argparse.Namespace`` (it is never unpickled further).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    if _is_safetensors(path):
        return _read_safetensors(path)
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{path}: refused to load: the file contains objects other than tensors and "
            f"argparse.Namespace, which could run code when unpickled ({error})"
        ) from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for a non-weight file
        raise ValueError(f"{path}: not a readable PyTorch or safetensors weight file ({error})") from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return dict(obj)


def _zoo_metadata(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """Our ``{"arch", "config", "info"}`` from a safetensors metadata block, or None if absent."""
    if _META_ARCH not in metadata:
        return None
    return {
        "arch": metadata[_META_ARCH],
        "config": json.loads(metadata.get(_META_CONFIG, "{}")),
        "info": json.loads(metadata.get(_META_INFO, "{}")),
    }


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return {"state_dict": tensors, "zoo": _zoo_metadata(metadata)}


def read_zoo_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """``{"arch", "config", "info"}`` of one of our safetensors files, read from its header only;
    None for a safetensors file without our metadata.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not safetensors.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    if not _is_safetensors(path):
        raise ValueError(f"{path}: not a safetensors file")
    with safe_open(str(path), framework="pt") as f:
        return _zoo_metadata(f.metadata() or {})


def save_weights(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], *, arch: str,
                 config: Mapping[str, Any], info: Mapping[str, Any] | None = None,
                 dtype: torch.dtype | None = None) -> Path:
    """Write a network's weights as safetensors with our metadata, atomically.

    Args:
        path: destination file.
        state_dict: the network's ``state_dict()``.
        arch: architecture name (``pwcnet``, ``nvae``).
        config: the builder keywords that rebuild the network.
        info: provenance, recipe, metrics (JSON-serialisable).
        dtype: cast floating-point tensors to this type (e.g. ``torch.float16``) to save space.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {}
    for key, value in state_dict.items():
        value = value.detach().cpu()
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[key] = value.contiguous()
    metadata = {
        _META_ARCH: arch,
        _META_CONFIG: json.dumps(dict(config), sort_keys=True),
        _META_INFO: json.dumps(dict(info or {}), sort_keys=True),
    }
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def _lightning_network_state(checkpoint: Mapping[str, Any]) -> dict[str, torch.Tensor] | None:
    """The ``network.*`` entries of a Lightning checkpoint of one of our modules, unprefixed."""
    state = checkpoint.get("state_dict")
    if not isinstance(state, Mapping) or "pytorch-lightning_version" not in checkpoint:
        return None
    prefix = "network."
    network_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return network_state or None


def to_state_dict(arch: Architecture, checkpoint: Mapping[str, Any], *, source: str,
                  expected_layout: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Our network state dict and the builder config the file implies.

    Args:
        arch: the architecture the file should hold.
        checkpoint: what :func:`read_checkpoint` returned.
        source: the file's name, for error messages.
        expected_layout: the layout the registry announces for this file, if any.

    Raises:
        ValueError: the file holds another architecture, or no known layout fits its keys.
    """
    zoo_meta = checkpoint.get("zoo")
    if isinstance(zoo_meta, Mapping) and zoo_meta.get("arch") not in (None, arch.name):
        raise ValueError(f"{source}: holds {zoo_meta['arch']!r} weights, not {arch.name!r}")
    config = dict((zoo_meta or {}).get("config") or {})
    lightning_state = _lightning_network_state(checkpoint)
    if lightning_state is not None:
        return lightning_state, config
    if isinstance(zoo_meta, Mapping):
        return dict(checkpoint["state_dict"]), config
    converter = arch.converter_module()
    layout = converter.detect_layout(checkpoint) if converter else None
    if layout is None:
        known = [ZOO_LAYOUT, LIGHTNING_LAYOUT, *(converter.LAYOUTS if converter else ())]
        keys = list(_state_keys(checkpoint))
        raise ValueError(
            f"{source}: no {arch.name} layout matches this file; known layouts: "
            f"{', '.join(known)}. The file has {len(keys)} keys, e.g. {', '.join(keys[:5])}"
        )
    if expected_layout not in (None, layout, ZOO_LAYOUT):
        raise ValueError(f"{source}: expected layout {expected_layout!r}, found {layout!r}")
    return converter.convert(checkpoint, layout)


def _state_keys(checkpoint: Mapping[str, Any]) -> list[str]:
    state = checkpoint.get("state_dict", checkpoint)
    return [str(k) for k in state] if isinstance(state, Mapping) else [str(k) for k in checkpoint]


def load_state_dict_strict(network: torch.nn.Module, state: Mapping[str, torch.Tensor], *,
                           source: str, strict: bool = True) -> None:
    """``network.load_state_dict`` with an error that lists every missing, unexpected or
    mis-shaped key (the tensors are cast to each parameter's dtype)."""
    own = network.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(
        f"{k}: file {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
        for k in set(own) & set(state) if tuple(state[k].shape) != tuple(own[k].shape)
    )
    problems = []
    if strict and missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing)}")
    if strict and unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatches ({len(wrong_shape)}): {'; '.join(wrong_shape)}")
    if problems:
        raise ValueError(f"{source}: weights do not fit the network:\n  " + "\n  ".join(problems))
    cast = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    network.load_state_dict(cast, strict=strict)
