"""Turn a training checkpoint of any zoo architecture (or a named weight set) into a shippable
safetensors weight file; ONNX export is :mod:`zoo.publish.onnx_export`.

>>> from zoo.publish.safetensors_export import export_weights
>>> export_weights("runs/synth/checkpoints/best.ckpt", "zoo/weights/pwcnet-synth.safetensors",
...                info={"recipe": "..."})                       # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from zoo.catalog.registry import architecture
from zoo.datamodules.files.outputs import check_output_file, check_outputs, local_files
from zoo.weights.checkpoint import load_state_dict_strict, read_checkpoint, save_weights, to_state_dict
from zoo.weights.loader import as_model

__all__ = ["export_weights"]


def export_weights(ckpt_path: str | os.PathLike, out_path: str | os.PathLike,
                   info: Mapping[str, Any] | None = None, *, arch: str | None = None,
                   dtype: torch.dtype | None = torch.float16) -> Path:
    """Write the network weights held in ``ckpt_path`` to ``out_path`` (safetensors, atomically).

    Args:
        ckpt_path: a Lightning ``.ckpt`` of one of our modules (it records its architecture and
            network config under ``"zoo"``), or any file :func:`zoo.load` reads; or a registry /
            ``hf-hub:`` name, whose record is then stored under ``info["record"]``.
        out_path: destination ``.safetensors`` file.
        info: provenance stored in the file's metadata (recipe, iterations, metrics, ...); the
            checkpoint's ``global_step`` and ``epoch`` are added when present.
        arch: architecture name, needed only when the file does not record it.
        dtype: floating-point type of the stored tensors (``None`` keeps the checkpoint's).

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: the file names no architecture and ``arch`` is not given, its keys do not fit
            the architecture, a tensor holds NaN or infinity, or values beyond ``dtype``'s range
            (float16: 65504), naming the key (nothing is written); ``out_path`` does not end in
            ``.safetensors`` or names the same file as ``ckpt_path`` (:mod:`zoo.datamodules.files.outputs`).
    """
    check_output_file("out_path", out_path, (".safetensors",), local_files({"ckpt_path": ckpt_path}))
    if not Path(ckpt_path).expanduser().is_file():
        return _export_named(str(ckpt_path), out_path, info, dtype)
    checkpoint = read_checkpoint(ckpt_path)
    zoo_meta = checkpoint.get("zoo") or {}
    arch_name = arch or zoo_meta.get("arch")
    if arch_name is None:
        raise ValueError(f"{ckpt_path}: the file does not record its architecture; pass arch=")
    spec = architecture(arch_name)
    state, config = to_state_dict(spec, checkpoint, source=str(ckpt_path))
    config = {**spec.default_config, **config}
    network = spec.build(**config)  # proves that the weights fit before anything is written
    load_state_dict_strict(network, state, source=str(ckpt_path))
    meta = dict(info or {})
    for key in ("global_step", "epoch"):
        if key in checkpoint and key not in meta:
            meta[key] = int(checkpoint[key])
    return save_weights(out_path, network.state_dict(), arch=arch_name, config=config, info=meta, dtype=dtype)


def _export_named(name: str, out_path: str | os.PathLike, info: Mapping[str, Any] | None,
                  dtype: torch.dtype | None) -> Path:
    """:func:`export_weights` of a registry or ``hf-hub:`` name: the loaded network and its record."""
    network = as_model(name)
    record = network.zoo_record
    if record.file is not None:  # the name's bundled or cached file (zoo export pwcnet.synth -o zoo/weights/...)
        check_outputs({"out_path": out_path}, {f"ckpt_path {name}:": record.file})
    meta = {"record": record.weights.description(), **(info or {})}
    return save_weights(out_path, network.state_dict(), arch=record.arch, config=record.weights.config,
                        info=meta, dtype=dtype)
