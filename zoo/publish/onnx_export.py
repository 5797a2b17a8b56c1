"""ONNX export of the zoo's networks (``zoo export NAME --format onnx``), through ``torch.export``.

>>> export_onnx("pwcnet.synth", "pwcnet.onnx", size=(384, 512))            # doctest: +SKIP
>>> export_onnx("nvae.mnist-cpu", "nvae-sample.onnx", part="sample")       # doctest: +SKIP

Graphs (inputs -> outputs, float32):

* PWC-Net ``flow``: ``image1, image2 (B, 3, H, W)`` RGB in [0, 1] -> ``flow (B, 2, H, W)`` pixels:
  the whole :meth:`PWCNet.forward` (resize to multiples of 64, feature pyramid, cost volume,
  warping with ``GridSample``, estimators, context network, flow rescaling).
* NVAE ``sample`` (:class:`~zoo.models.nvae.graphs.SamplingGraph`): ``noise_0 .. noise_{G-1}`` -> ``logits``.
* NVAE ``posterior`` (:class:`~zoo.models.nvae.graphs.PosteriorGraph`): ``x, noise_0 ..`` -> ``logits, log_q, log_p, kl``.

Opset: :data:`OPSET` (18). ``GridSample`` needs opset 16; 18 is the oldest opset that the
``torch.export``-based exporter targets natively (older ones go through a version converter).
Running the files needs ``onnxruntime`` >= 1.14 (opset 18).

Each architecture's record names its graphs (``onnx_graphs``: part -> builder); flow networks
share :func:`flow_graph`.

``dynamic=True`` makes the batch size free, and for flow networks also the image size, in
multiples of the record's ``size_multiple`` (PWC-Net: 64 pixels, 64 .. 4096 per side): the graph
then has no resize, so other sizes must be resized by the caller
(:func:`zoo.models.flow_inference.downscaled_size` and bilinear resizing, or export at a fixed
``size``). Without it, every input shape is the exported one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from zoo.datamodules.files.atomic import atomic_output
from zoo.datamodules.files.outputs import check_output_file, check_outputs, local_files
from zoo.weights.loader import as_model

__all__ = ["DEFAULT_SIZE", "OPSET", "export_onnx", "flow_graph", "onnx_graph"]

OPSET = 18
#: Default size (H, W) of exported flow graphs.
DEFAULT_SIZE = (384, 512)
_MAX_DYNAMIC_STEPS = 4096  # dynamic sides up to 4096 px (64 steps of PWC-Net's 64 px)


def flow_graph(network: torch.nn.Module, *, size: tuple[int, int] | None, batch_size: int, dynamic: bool,
               size_multiple: int = 1) -> tuple[torch.nn.Module, tuple, list[str], list[str], Any]:
    """The graph of an optical-flow network (task ``optical-flow``): ``image1, image2 (B, 3, H, W)``
    -> ``flow (B, 2, H, W)``, traced at ``size`` (default :data:`DEFAULT_SIZE`); with ``dynamic``
    the sides are free in steps of ``size_multiple`` px (the traced ``size`` must be such a multiple)."""
    height, width = size or DEFAULT_SIZE
    if min(height, width) < 1:
        raise ValueError(f"--size must be positive, got {height} {width}")
    if dynamic and (height % size_multiple or width % size_multiple):
        raise ValueError(f"--dynamic exports this network for sides that are multiples of {size_multiple}; "
                         f"--size {height} {width} is not")
    if dynamic:  # a traced side of one step would be fixed to it, as a batch of 1 would be
        height, width = max(height, 2 * size_multiple), max(width, 2 * size_multiple)
    generator = torch.Generator().manual_seed(0)
    images = tuple(torch.rand(batch_size, 3, height, width, generator=generator) for _ in range(2))
    shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=1024)
        steps = _MAX_DYNAMIC_STEPS // size_multiple
        rows, cols = (torch.export.Dim(f"{name}_{size_multiple}", min=1, max=steps) for name in ("height", "width"))
        axes = {0: batch, 2: size_multiple * rows, 3: size_multiple * cols}
        shapes = {"image1": axes, "image2": axes}
    return network, images, ["image1", "image2"], ["flow"], shapes


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Mute the exporter's notices that concern neither the zoo nor its users (absent torchvision
    operators, a deprecation inside torch.export, and, with dynamic shapes, that an axis name is
    seen twice: PWC-Net's two images share their Dims on purpose, as their sizes must be equal)."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
            warnings.filterwarnings("ignore", message="# The axis name: .* shares the same shape constraints",
                                    category=UserWarning)
            yield
    finally:
        registration.setLevel(level)


def onnx_graph(network: torch.nn.Module, arch: str, *, part: str | None = None, size: tuple[int, int] | None = None,
               batch_size: int = 1, dynamic: bool = False) -> tuple[torch.nn.Module, tuple, list[str], list[str], Any]:
    """What :func:`export_onnx` traces: (module, example inputs, input names, output names,
    dynamic shapes or None), built by the graph the architecture's record names for ``part``
    (:attr:`zoo.catalog.records.Architecture.onnx_graphs`). The example inputs are seeded random
    tensors of the exported shapes."""
    from zoo.catalog.registry import architecture, resolve_import

    record = architecture(arch)
    parts = tuple(record.onnx_graphs)
    if not parts:
        raise ValueError(f"no ONNX export for architecture {arch!r}: its record names no graphs")
    part = part or parts[0]
    if part not in parts:
        raise ValueError(f"--part {part!r} is not a graph of {arch}; choose from {', '.join(parts)}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    batch_size = max(batch_size, 2) if dynamic else batch_size  # a traced batch of 1 would be fixed to 1
    graph = resolve_import(record.onnx_graphs[part])
    return graph(network, size=size, batch_size=batch_size, dynamic=dynamic, size_multiple=record.size_multiple)


def export_onnx(model_or_name: torch.nn.Module | str | os.PathLike, path: str | os.PathLike, *,
                part: str | None = None, size: tuple[int, int] | None = None, batch_size: int = 1,
                dynamic: bool = False, opset: int = OPSET, arch: str | None = None) -> Path:
    """Export a network's inference graph to an ONNX file (written atomically, weights inside).

    Args:
        model_or_name: a network from :func:`zoo.load`, or a registry / ``hf-hub:`` name or a
            weight file (see :func:`zoo.weights.loader.as_model`).
        path: destination ``.onnx``.
        part: the graph, one of the record's ``onnx_graphs`` (default: its first).
        size: flow networks: input (H, W) in pixels, default (384, 512); with ``dynamic`` only the
            traced example's size (multiples of the record's ``size_multiple``, traced at two or more).
        batch_size: batch of the example inputs (the fixed batch unless ``dynamic``).
        dynamic: free batch size (and flow sides in multiples of ``size_multiple``), see the module docstring.
        opset: ONNX opset.
        arch: architecture of a weight file that does not record it.

    Raises:
        ValueError: an unknown part, a size for NVAE, a dynamic flow size not a multiple of ``size_multiple``,
            or a ``path`` that does not end in ``.onnx`` or names the source file.
        ImportError: ``onnx`` / ``onnxscript`` are not installed (``pip install -e ".[export]"``).

    The network is put in eval mode and traced in its own dtype (float32 as loaded).
    """
    check_output_file("path", path, (".onnx",), local_files({"model_or_name": model_or_name}))
    network = as_model(model_or_name, arch=arch).eval()
    if network.zoo_record.file is not None:  # a name's bundled or cached file, or the file the network came from
        check_outputs({"path": path}, {"weights file": network.zoo_record.file})
    module, inputs, input_names, output_names, shapes = onnx_graph(
        network, network.zoo_record.arch, part=part, size=size, batch_size=batch_size, dynamic=dynamic)
    for package in ("onnx", "onnxscript"):
        try:
            __import__(package)
        except ImportError:
            raise ImportError(f"ONNX export needs {package}: pip install -e \".[export]\"") from None
    with torch.no_grad(), _quiet_exporter():
        program = torch.onnx.export(module, inputs, dynamo=True, input_names=input_names, output_names=output_names,
                                    dynamic_shapes=shapes, opset_version=opset, verbose=False)
    with atomic_output(path) as tmp:
        program.save(tmp, external_data=False)
    return Path(path)
