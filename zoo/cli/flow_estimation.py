"""What every mode of ``zoo flow`` (two images, ``--frames``, ``--video``) does the same way: load
the network (any architecture whose task is optical flow), estimate (refusing non-finite flow,
naming the weights), and write the flow file and its colour coding atomically."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_ARCHITECTURE", "estimate", "load_network", "model_name", "read_frame", "write_outputs"]

#: The architecture of a bare ``--weights`` tag or a weight file that does not record one.
DEFAULT_ARCHITECTURE = "pwcnet"


def load_network(args: argparse.Namespace, outputs: list[tuple[str, Path]]) -> torch.nn.Module:
    """The flow network ``--weights`` names (see :func:`model_name`), on ``--device``; ValueError
    unless its architecture's task is optical flow, or if one of ``outputs`` is the file it was
    read from."""
    import torch

    import zoo
    from zoo.catalog.records import OPTICAL_FLOW
    from zoo.catalog.registry import architecture
    from zoo.datamodules.files.outputs import check_outputs
    from zoo.weights.loader import weights_input

    network = zoo.load(*model_name(args.weights), map_location=args.device)
    architecture(network.zoo_record.arch).require_task(OPTICAL_FLOW, f"zoo flow (--weights {args.weights})")
    check_outputs(outputs, weights_input(network))
    return torch.compile(network) if args.compile else network


def model_name(weights: str) -> tuple[str, str | None]:
    """``--weights`` as :func:`zoo.load`'s ``(name, weights)``: a registry name (``pwcnet.things``,
    ``toyflow.TAG``), an ``hf-hub:`` name, a ``zoo.save_pretrained`` folder or one of our weight
    files names its architecture; a bare tag or a foreign file (an official ``.pth``) is
    :data:`DEFAULT_ARCHITECTURE`'s."""
    from zoo.catalog.registry import all_architectures, local_model, split_name
    from zoo.weights.checkpoint import read_zoo_metadata
    from zoo.weights.hf_hub import is_hub_name

    arch, tag = split_name(weights)
    local = local_model(weights)
    if local is None and tag is not None and arch in {a.name for a in all_architectures()}:
        return weights, None
    if is_hub_name(weights) or (local is not None and local.is_dir()):
        return weights, None
    if local is not None and local.suffix == ".safetensors":
        try:
            recorded = (read_zoo_metadata(local) or {}).get("arch")
        except ValueError:  # not safetensors after all: zoo.load names what the file is
            recorded = None
        return recorded or DEFAULT_ARCHITECTURE, weights
    return DEFAULT_ARCHITECTURE, weights


def read_frame(path: Path) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]; grayscale is repeated to RGB by the reader."""
    import torch

    from zoo.datamodules.flow.formats import read_image

    return torch.from_numpy(np.ascontiguousarray(read_image(path))).permute(2, 0, 1)


def estimate(network: torch.nn.Module, image1: torch.Tensor, image2: torch.Tensor,
              args: argparse.Namespace) -> np.ndarray:
    """(B, H, W, 2) float32 flow in pixels; ValueError, naming the weights, if any of it is not finite."""
    import torch

    from zoo.models.flow_inference import estimate_flow

    flow = estimate_flow(network, image1, image2, precision=args.precision, max_size=args.max_size)
    bad = int((~torch.isfinite(flow)).sum())
    if bad:
        raise ValueError(f"--weights {args.weights}: the network's flow holds {bad:,} NaN or infinite values of "
                         f"{flow.numel():,} (broken weights, or an overflow at --precision {args.precision}: "
                         "try float32); nothing written")
    return flow.permute(0, 2, 3, 1).cpu().numpy()


def write_outputs(flow: np.ndarray, flow_path: Path, color_path: Path | None) -> None:
    from PIL import Image

    from zoo.datamodules.files.atomic import write_atomic
    from zoo.datamodules.flow.formats import write_flow
    from zoo.datamodules.flow.visualize import flow_to_color

    write_flow(flow_path, flow)
    if color_path is not None:
        buffer = io.BytesIO()
        Image.fromarray(flow_to_color(flow)).save(buffer, format="PNG")
        write_atomic(color_path, buffer.getvalue())
