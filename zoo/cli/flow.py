"""``zoo flow``: optical flow between two images, or between consecutive frames of a folder.

    zoo flow IMG1 IMG2 -o out.flo [--png out.png] [--weights pwcnet.things]
    zoo flow --frames DIR -o OUTDIR [--png] [--batch-size 4]
    zoo flow --video clip.mp4 -o OUTDIR [--png] [--every N] [--video-out flow.mp4]   (zoo.cli.flow_video)

``--max-size S`` runs the network on frames downscaled to a longer side of at most S pixels and
scales the flow back to the input resolution; ``--compile`` runs it through ``torch.compile``.

Flow files are written by extension (``.flo`` Middlebury, ``.png`` KITTI 16-bit, ``.pfm``);
``--png`` adds the Middlebury colour coding. Images are read as RGB: grayscale images are
repeated to three channels, images smaller than 64 pixels are padded inside the network. Every
file is written atomically.
"""

from __future__ import annotations

import argparse
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.cli import flow_video

if TYPE_CHECKING:
    import torch

__all__ = ["add_parser", "run", "FRAME_SUFFIXES"]

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff")


def add_parser(subparsers: Any) -> None:
    """Register the ``flow`` subcommand on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser = subparsers.add_parser(
        "flow", help="optical flow between two images or consecutive frames (PWC-Net)",
        description="Estimate optical flow with PWC-Net. Either two images, or --frames DIR for every "
                    "pair of consecutive frames (natural file-name order).")
    parser.add_argument("images", nargs="*", metavar="IMG", help="the two images (first, second)")
    parser.add_argument("--frames", metavar="DIR", help="folder of frames; flow of each frame to the next")
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="flow file (.flo, .png KITTI, .pfm) for two images; output folder with --frames / --video")
    parser.add_argument("--png", nargs="?", const=True, default=None, metavar="PATH",
                        help="also write the colour-coded flow (PATH for two images; a flag with --frames / --video)")
    parser.add_argument("--weights", default="pwcnet.things",
                        help="registry name, tag, weight file or hf-hub:ORG/NAME[@REV] (default: pwcnet.things)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="auto: bfloat16 where the device has native bf16 units, else float32 (CPU) / float16 (CUDA)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=4, help="frame pairs per forward with --frames / --video (default: 4)")
    parser.add_argument("--max-size", type=int, default=None, metavar="S",
                        help="downscale frames so that the longer side is at most S px for the network; the flow is "
                             "scaled back to the input resolution")
    parser.add_argument("--compile", action="store_true",
                        help="run the network through torch.compile (slow first batch, faster afterwards)")
    flow_video.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``zoo flow``; returns the exit status. Raises ValueError/OSError for bad input."""
    if args.max_size is not None and args.max_size < 1:
        raise ValueError(f"--max-size must be at least 1 px, got {args.max_size}")
    if args.video:
        return flow_video.run(args)
    if args.video_out or args.every != 1:
        raise ValueError("--video-out and --every apply to --video")
    if args.frames and args.images:
        raise ValueError("give either two images or --frames DIR, not both")
    if not args.frames and len(args.images) != 2:
        raise ValueError(f"expected two images (IMG1 IMG2) or --frames DIR, got {len(args.images)} image argument(s)")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.frames:
        frames = _list_frames(Path(args.frames))
        if Path(args.output).resolve() == Path(args.frames).resolve():
            raise ValueError(f"-o {args.output}: the output folder must differ from the frames folder")
        _check_png_flag(args.png, frames_mode=True)
        network = _load_network(args)
        return _flow_of_frames(network, frames, Path(args.output), bool(args.png), args)
    _check_png_flag(args.png, frames_mode=False)
    first, second = (Path(p) for p in args.images)
    image1, image2 = _read_pair(first, second)
    network = _load_network(args)
    flow = _estimate(network, image1[None], image2[None], args)[0]
    _write_outputs(flow, Path(args.output), Path(args.png) if args.png else None)
    print(f"{args.output}: flow {flow.shape[1]}x{flow.shape[0]}, max |flow| {np.hypot(flow[..., 0], flow[..., 1]).max():.2f} px")
    return 0


def _check_png_flag(png: Any, frames_mode: bool) -> None:
    if frames_mode and png not in (None, True):
        raise ValueError("with --frames, --png is a flag (colour images go beside the flow files); drop its path")
    if not frames_mode and png is True:
        raise ValueError("--png needs a file name for two images, e.g. --png out.png")


def _load_network(args: argparse.Namespace) -> torch.nn.Module:
    import torch

    import zoo

    network = zoo.load("pwcnet", weights=args.weights, map_location=args.device)
    return torch.compile(network) if args.compile else network


def _read_image(path: Path) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]; grayscale is repeated to RGB by the reader."""
    import torch

    from datamodules.flow.formats import read_image

    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    return torch.from_numpy(np.ascontiguousarray(read_image(path))).permute(2, 0, 1)


def _read_pair(first: Path, second: Path) -> tuple[torch.Tensor, torch.Tensor]:
    image1, image2 = _read_image(first), _read_image(second)
    if image1.shape != image2.shape:
        raise ValueError(f"{first} is {image1.shape[2]}x{image1.shape[1]} but {second} is "
                         f"{image2.shape[2]}x{image2.shape[1]}; both frames must have the same size")
    return image1, image2


def _estimate(network: torch.nn.Module, image1: torch.Tensor, image2: torch.Tensor,
              args: argparse.Namespace) -> np.ndarray:
    """(B, H, W, 2) float32 flow in pixels."""
    from models.pwcnet.inference import estimate_flow

    flow = estimate_flow(network, image1, image2, precision=args.precision, max_size=args.max_size)
    return flow.permute(0, 2, 3, 1).cpu().numpy()


def _write_outputs(flow: np.ndarray, flow_path: Path, color_path: Path | None) -> None:
    from PIL import Image

    from datamodules.files.atomic import write_atomic
    from datamodules.flow.formats import write_flow
    from datamodules.flow.visualize import flow_to_color

    write_flow(flow_path, flow)
    if color_path is not None:
        buffer = io.BytesIO()
        Image.fromarray(flow_to_color(flow)).save(buffer, format="PNG")
        write_atomic(color_path, buffer.getvalue())


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _list_frames(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of frames")
    frames = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
                    key=_natural_key)
    if len(frames) < 2:
        raise ValueError(f"{folder}: needs at least two frames ({', '.join(FRAME_SUFFIXES)}), found {len(frames)}")
    return frames


def _flow_of_frames(network: torch.nn.Module, frames: list[Path], out_dir: Path, color: bool,
                    args: argparse.Namespace) -> int:
    """Flow of frame i to frame i+1, written as ``OUTDIR/<frame i stem>.flo`` (and ``.png`` colour)."""
    import torch
    from tqdm import tqdm

    reference = None
    pairs = len(frames) - 1
    with tqdm(total=pairs, unit="pair", desc="zoo flow") as progress:
        for start in range(0, pairs, args.batch_size):
            paths = frames[start:start + args.batch_size + 1]
            images = [_read_image(path) for path in paths]
            reference = reference or (tuple(images[0].shape), paths[0])
            for path, image in zip(paths, images):
                if tuple(image.shape) != reference[0]:
                    raise ValueError(f"{path} is {image.shape[2]}x{image.shape[1]} but {reference[1]} is "
                                     f"{reference[0][2]}x{reference[0][1]}; all frames must have the same size")
            flows = _estimate(network, torch.stack(images[:-1]), torch.stack(images[1:]), args)
            for path, flow in zip(paths, flows):
                _write_outputs(flow, out_dir / f"{path.stem}.flo", out_dir / f"{path.stem}.png" if color else None)
            progress.update(len(flows))
    print(f"{out_dir}: {pairs} flow files")
    return 0
