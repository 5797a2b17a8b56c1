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

``dynamic=True`` makes the batch size free, and for PWC-Net also the image size, in multiples of
64 pixels (64 .. 4096 per side): the graph then has no resize, so other sizes must be resized by
the caller (:func:`zoo.models.pwcnet.inference.downscaled_size` and bilinear resizing, or export at
a fixed ``size``). Without it, every input shape is the exported one.
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

__all__ = ["OPSET", "PARTS", "export_onnx", "onnx_graph"]

OPSET = 18
#: The graphs each architecture exports, default first.
PARTS = {"pwcnet": ("flow",), "nvae": ("sample", "posterior")}
#: Default PWC-Net export size (H, W).
DEFAULT_SIZE = (384, 512)
_MAX_SIDE_64 = 64  # dynamic sides up to 64 * 64 = 4096 px


def _pwcnet_graph(network: torch.nn.Module, size: tuple[int, int] | None, batch_size: int, dynamic: bool,
                  ) -> tuple[torch.nn.Module, tuple, list[str], list[str], Any]:
    height, width = size or DEFAULT_SIZE
    if min(height, width) < 1:
        raise ValueError(f"--size must be positive, got {height} {width}")
    if dynamic and (height % 64 or width % 64):
        raise ValueError(f"--dynamic exports PWC-Net for sides that are multiples of 64; --size {height} {width} is not")
    if dynamic:  # a traced side of 64 (one multiple) would be fixed to 64, as a batch of 1 would be
        height, width = max(height, 128), max(width, 128)
    generator = torch.Generator().manual_seed(0)
    images = tuple(torch.rand(batch_size, 3, height, width, generator=generator) for _ in range(2))
    shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=1024)
        rows, cols = (torch.export.Dim(name, min=1, max=_MAX_SIDE_64) for name in ("height_64", "width_64"))
        axes = {0: batch, 2: 64 * rows, 3: 64 * cols}
        shapes = {"image1": axes, "image2": axes}
    return network, images, ["image1", "image2"], ["flow"], shapes


def _nvae_graph(network: torch.nn.Module, part: str, batch_size: int, dynamic: bool,
                ) -> tuple[torch.nn.Module, tuple, list[str], list[str], Any]:
    from zoo.models.nvae.graphs import PosteriorGraph, SamplingGraph, example_noise, noise_names

    generator = torch.Generator().manual_seed(0)
    noise = example_noise(network, batch_size, generator)
    names = noise_names(network)
    if part == "sample":
        graph, inputs, outputs = SamplingGraph(network), noise, ["logits"]
    else:
        cfg = network.config
        x = torch.rand(batch_size, cfg.image_channels, cfg.image_size, cfg.image_size, generator=generator)
        graph, inputs, outputs = PosteriorGraph(network), (x, *noise), ["logits", "log_q", "log_p", "kl"]
        names = ["x", *names]
    shapes = None
    if dynamic:  # one entry per parameter of forward: (*noise) or (x, *noise)
        batch = torch.export.Dim("batch", min=1, max=1024)
        per_noise = tuple({0: batch} for _ in noise)
        shapes = (per_noise,) if part == "sample" else ({0: batch}, per_noise)
    return graph.eval(), inputs, names, outputs, shapes


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
    dynamic shapes or None). The example inputs are seeded random tensors of the exported shapes."""
    parts = PARTS.get(arch)
    if parts is None:
        raise ValueError(f"no ONNX export for architecture {arch!r}; supported: {', '.join(PARTS)}")
    part = part or parts[0]
    if part not in parts:
        raise ValueError(f"--part {part!r} is not a graph of {arch}; choose from {', '.join(parts)}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    batch_size = max(batch_size, 2) if dynamic else batch_size  # a traced batch of 1 would be fixed to 1
    if arch == "pwcnet":
        return _pwcnet_graph(network, size, batch_size, dynamic)
    if size is not None:
        raise ValueError(f"--size applies to PWC-Net; {arch} images have the size of its config")
    return _nvae_graph(network, part, batch_size, dynamic)


def export_onnx(model_or_name: torch.nn.Module | str | os.PathLike, path: str | os.PathLike, *,
                part: str | None = None, size: tuple[int, int] | None = None, batch_size: int = 1,
                dynamic: bool = False, opset: int = OPSET, arch: str | None = None) -> Path:
    """Export a network's inference graph to an ONNX file (written atomically, weights inside).

    Args:
        model_or_name: a network from :func:`zoo.load`, or a registry / ``hf-hub:`` name or a
            weight file (see :func:`zoo.weights.loader.as_model`).
        path: destination ``.onnx``.
        part: the graph, see :data:`PARTS` (default: the architecture's first).
        size: PWC-Net input (H, W) in pixels, default (384, 512); with ``dynamic`` only the
            traced example's size (multiples of 64, traced at 128 or more).
        batch_size: batch of the example inputs (the fixed batch unless ``dynamic``).
        dynamic: free batch size (and PWC-Net sides in multiples of 64), see the module docstring.
        opset: ONNX opset.
        arch: architecture of a weight file that does not record it.

    Raises:
        ValueError: an unknown part, a size for NVAE, a dynamic PWC-Net size not a multiple of 64, or
            a ``path`` that does not end in ``.onnx`` or names the source file.
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
