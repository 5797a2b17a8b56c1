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
import re
import tarfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from zoo.catalog.records import Architecture
from zoo.datamodules.files.atomic import atomic_output
from zoo.models.state_dict import check_fits, state_dict_of

__all__ = [
    "LIGHTNING_LAYOUT",
    "WEIGHT_DTYPES",
    "ZOO_LAYOUT",
    "load_state_dict_strict",
    "read_checkpoint",
    "read_zoo_metadata",
    "save_weights",
    "to_state_dict",
]

ZOO_LAYOUT = "zoo"
LIGHTNING_LAYOUT = "zoo-lightning"
_SAFE_GLOBALS = [argparse.Namespace]
_META_ARCH, _META_CONFIG, _META_INFO = "zoo.arch", "zoo.config", "zoo.info"


_TORCH_LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa85019")  # pickled magic number of torch.save
_SAFETENSORS_MAX_HEADER = 100_000_000  # the limit safetensors itself enforces on its JSON header
_INFLATION_SLACK = 64 << 20  # bytes a torch zip may inflate beyond its own size (headers, alignment)
_LOOKS_LIKE = (  # what a file that is no weight file may be instead, by its first bytes
    (b"PIEH", "a Middlebury .flo optical-flow file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"PF\n", "a PFM image"),
    (b"Pf\n", "a PFM image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"{", "a JSON file"),
)


def _file_kind(path: Path) -> str:
    """``"safetensors"``, ``"torch-zip"``, ``"torch-legacy"`` or ``"pickle"`` from a file's first
    bytes; raises ValueError naming what else the file looks like."""
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < _SAFETENSORS_MAX_HEADER:
        return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if head[:1] == b"\x80":
        return "pickle"
    if tarfile.is_tarfile(path):  # the format of torch.save before PyTorch 0.1.10
        return "torch-tar"
    looks = next((what for magic, what in _LOOKS_LIKE if head.startswith(magic)), None)
    raise ValueError(f"{path}: not a weight file: expected a PyTorch file (.pth, .pt, .ckpt, .tar), or "
                     f"safetensors" + (f"; this looks like {looks}" if looks else
                                       f"; it starts with bytes {head[:8].hex(' ')}"))


def _check_inflation(path: Path) -> None:
    """Refuse a zip whose members inflate far beyond the file's size (a zip bomb): ``torch.save``
    stores its members uncompressed."""
    try:
        with zipfile.ZipFile(path) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except zipfile.BadZipFile as error:
        raise ValueError(f"{path}: not a readable PyTorch zip file ({error})") from None
    size = path.stat().st_size
    if inflated > size + _INFLATION_SLACK:
        raise ValueError(f"{path}: refused: its zip members inflate to {inflated:,} bytes from a {size:,}-byte "
                         "file; torch.save does not compress, so this is no file it wrote")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping stored in a weight file.

    For safetensors: ``{"state_dict": tensors, "zoo": {"arch", "config", "info"}}``.
    For pickle-based files: whatever mapping the file holds (a bare state dict, or a dict with
    ``state_dict``, ``args``, ...), read with ``weights_only=True``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a weight file (the message says what it looks like), it is
            truncated or damaged, it inflates far beyond its size, or it holds objects other than
            tensors, plain containers and ``argparse.Namespace`` (it is never unpickled further).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    kind = _file_kind(path)
    if kind == "safetensors":
        return _read_safetensors(path)
    if kind == "torch-zip":
        _check_inflation(path)
    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise ValueError(f"{path}: not a readable PyTorch weight file ({_first_line(error)})") from None
        raise ValueError(
            f"{path}: refused to load: the file contains objects other than tensors and "
            f"argparse.Namespace{_refused_global(error)}, which could run code when unpickled; "
            "it is never unpickled further") from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"{path}: not a readable PyTorch weight file, truncated or damaged "
                         f"({type(error).__name__}: {_first_line(error)})") from None
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return dict(obj)


def _refused_global(error: BaseException) -> str:
    """`` (it asks for posix.system)`` from torch's refusal, or nothing."""
    match = re.search(r"GLOBAL ([\w.]+)", str(error))
    return f" (it asks for {match.group(1)})" if match else ""


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


def _json_metadata(path: Path, metadata: Mapping[str, str], key: str) -> dict[str, Any]:
    try:
        value = json.loads(metadata.get(key, "{}"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: metadata entry {key!r} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: metadata entry {key!r} must be a JSON object, found {type(value).__name__}")
    return value


def _zoo_metadata(path: Path, metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """Our ``{"arch", "config", "info"}`` from a safetensors metadata block, or None if absent."""
    if _META_ARCH not in metadata:
        return None
    return {
        "arch": metadata[_META_ARCH],
        "config": _json_metadata(path, metadata, _META_CONFIG),
        "info": _json_metadata(path, metadata, _META_INFO),
    }


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    tensors = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            for key in f.keys():  # noqa: SIM118 - safe_open is not iterable
                tensors[key] = f.get_tensor(key)
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or damaged ({_first_line(error)})") from None
    return {"state_dict": tensors, "zoo": _zoo_metadata(path, metadata)}


def read_zoo_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """``{"arch", "config", "info"}`` of one of our safetensors files, read from its header only;
    None for a safetensors file without our metadata.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not safetensors, or it is damaged (naming the file).
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    if _file_kind(path) != "safetensors":
        raise ValueError(f"{path}: not a safetensors file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(f"{path}: not a readable safetensors file, truncated or damaged ({_first_line(error)})") from None
    return _zoo_metadata(path, metadata)


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

    Raises:
        ValueError: a tensor holds NaN or infinity, or values beyond ``dtype``'s range (float16:
            |w| > 65504, which it would store as infinity), naming the key; nothing is written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {}
    for key, value in state_dict.items():
        value = value.detach().cpu()
        if value.is_floating_point():
            _check_storable(path, key, value, dtype)
            if dtype is not None:
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


def _check_storable(path: Path, key: str, value: torch.Tensor, dtype: torch.dtype | None) -> None:
    """Refuse to write a tensor that is not finite, or that ``dtype`` cannot hold."""
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{path}: not written: tensor {key!r} holds NaN or infinite values (a diverged run?)")
    if dtype is None or not dtype.is_floating_point:
        return
    largest = float(value.abs().max()) if value.numel() else 0.0
    limit = torch.finfo(dtype).max
    if largest > limit:
        raise ValueError(f"{path}: not written: tensor {key!r} holds values up to {largest:.6g}, beyond {dtype}'s "
                         f"largest {limit:g}, which it would store as infinity; keep float32 (zoo export --fp32, "
                         f"or dtype=None)")


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
        expected_layout: the layout the registry announces for this file, if any; a file in any
            other layout is refused (so a registry name always gets the file it promises).

    Raises:
        ValueError: the file holds another architecture, its layout is not the one expected, or
            no known layout fits its keys.
    """
    zoo_meta = checkpoint.get("zoo")
    if isinstance(zoo_meta, Mapping) and zoo_meta.get("arch") not in (None, arch.name):
        raise ValueError(f"{source}: holds {zoo_meta['arch']!r} weights, not {arch.name!r}")
    config = dict((zoo_meta or {}).get("config") or {})
    lightning_state = _lightning_network_state(checkpoint)
    if lightning_state is not None:
        _check_layout(source, LIGHTNING_LAYOUT, expected_layout)
        return lightning_state, config
    if isinstance(zoo_meta, Mapping):
        _check_layout(source, ZOO_LAYOUT, expected_layout)
        return dict(checkpoint["state_dict"]), config
    converter = arch.converter_module()
    layout = converter.detect_layout(checkpoint) if converter else None
    if layout is None:
        known = [ZOO_LAYOUT, LIGHTNING_LAYOUT, *(converter.LAYOUTS if converter else ())]
        keys = [str(k) for k in state_dict_of(checkpoint)]
        raise ValueError(
            f"{source}: no {arch.name} layout matches this file; known layouts: "
            f"{', '.join(known)}. The file has {len(keys)} keys, e.g. {', '.join(keys[:5])}"
        )
    _check_layout(source, layout, expected_layout)
    return converter.convert(checkpoint, layout)


def _check_layout(source: str, found: str, expected: str | None) -> None:
    if expected is not None and found != expected:
        raise ValueError(f"{source}: expected a file in layout {expected!r}, found layout {found!r}")


#: dtypes a floating-point entry of a network may be stored in: casting them to float32 keeps
#: their value. Integers would truncate, bool saturate, complex drop the imaginary part; float8
#: holds too little (and torch cannot test it for NaN).
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_dtypes(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor], source: str) -> None:
    """A stored tensor must be of the network entry's kind: a float of :data:`WEIGHT_DTYPES` for a
    floating-point entry, an integer for an integer one (``num_batches_tracked``)."""
    for key, value in state.items():
        if key not in own:
            continue
        if own[key].is_floating_point():
            if value.dtype not in WEIGHT_DTYPES:
                raise ValueError(f"{source}: tensor {key!r} is stored as {value.dtype}; weights must be "
                                 f"float16, bfloat16, float32 or float64 (a file re-saved in another type "
                                 f"has lost their values)")
        elif value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{source}: tensor {key!r} is stored as {value.dtype}; the network holds an "
                             f"integer count there ({own[key].dtype})")


def load_state_dict_strict(network: torch.nn.Module, state: Mapping[str, torch.Tensor], *,
                           source: str, strict: bool = True) -> None:
    """``network.load_state_dict`` with an error that lists every missing, unexpected or
    mis-shaped key, that names the first tensor of a dtype other than the entry's kind (see
    :data:`WEIGHT_DTYPES`) and the first tensor holding NaN or infinity (the tensors are cast to
    each entry's dtype)."""
    own = network.state_dict()
    check_fits({k: v.shape for k, v in own.items()}, state, what=f"{source}: weights do not fit the network",
               strict=strict)
    _check_dtypes(own, state, source)
    for key, value in state.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ValueError(f"{source}: tensor {key!r} holds NaN or infinite values (a corrupt file or a diverged run)")
    cast = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    network.load_state_dict(cast, strict=strict)
