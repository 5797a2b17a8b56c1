"""``zoo flow``: optical flow between two images, or between consecutive frames of a folder.

    zoo flow IMG1 IMG2 -o out.flo [--png out.png] [--weights pwcnet.things] [--max-size S]
    zoo flow --frames DIR -o OUTDIR [--png] [--batch-size 4]
    zoo flow --video clip.mp4 -o OUTDIR [--png] [--every N] [--video-out flow.mp4]   (zoo.cli.flow_video)

``--max-size S`` runs the network on frames downscaled to a longer side of at most S pixels and
scales the flow back to the input resolution; ``--compile`` runs it through ``torch.compile``.

Flow files are written by extension (``.flo`` Middlebury, ``.png`` KITTI 16-bit, ``.pfm``);
``--png`` adds the Middlebury colour coding. Images are read as RGB: grayscale images are
repeated to three channels, images smaller than 64 pixels are padded inside the network. Every
file is written atomically.

Memory: one forward takes about 465 MB per megapixel of network input on CPU in float32 (250 in
bfloat16; ``python -m benchmarks.pwcnet_memory``). Frames whose network input exceeds
``--max-pixels`` (default :data:`DEFAULT_MAX_PIXELS`, about 3.9 GB at that rate) are refused
from their headers, before decoding; ``--max-size S`` runs the network on frames downscaled to
at most S px on the longer side and scales the flow back. With ``--frames``, batches shrink to fit.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.cli import flow_video
from zoo.cli.flow_estimation import estimate, load_network, read_frame, write_outputs
from zoo.datamodules.files.outputs import FileIdentity, check_outputs, local_files

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_MAX_PIXELS", "FRAME_SUFFIXES", "MEGABYTES_PER_MEGAPIXEL", "add_parser", "list_frames",
           "pairs_per_forward", "run"]

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff")
FLOW_SUFFIXES = (".flo", ".png", ".pfm")
#: Peak memory of one PWC-Net forward per megapixel of input on CPU, float32 (benchmarks/pwcnet_memory.py).
MEGABYTES_PER_MEGAPIXEL = 465
#: Network pixels per forward (pairs x height x width) above which ``zoo flow`` refuses: 2**23, 4096 x 2048
#: or a 3840 x 2160 frame, about 3.9 GB of peak memory on CPU in float32.
DEFAULT_MAX_PIXELS = 1 << 23


def add_parser(subparsers: Any) -> None:
    """Register the ``flow`` subcommand on ``subparsers`` (from ``ArgumentParser.add_subparsers``)."""
    parser = subparsers.add_parser(
        "flow", help="optical flow between two images or consecutive frames (PWC-Net, or any flow model)",
        description="Estimate optical flow with a flow model of the zoo (default pwcnet.things). Either two images, "
                    "or --frames DIR for every pair of consecutive frames (natural file-name order).")
    parser.add_argument("images", nargs="*", metavar="IMG", help="the two images (first, second)")
    parser.add_argument("--frames", metavar="DIR", help="folder of frames; flow of each frame to the next")
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="flow file (.flo, .png KITTI, .pfm) for two images; output folder with --frames / --video")
    parser.add_argument("--png", nargs="?", const=True, default=None, metavar="PATH",
                        help="also write the colour-coded flow (PATH for two images; a flag with --frames / --video)")
    parser.add_argument("--weights", default="pwcnet.things",
                        help="registry name of any optical-flow model, PWC-Net tag, weight file, zoo.save_pretrained "
                             "folder or hf-hub:ORG/NAME[@REV] (default: pwcnet.things)")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16", "float16"),
                        help="auto: bfloat16 where the device has native bf16 units, else float32 (CPU) / float16 (CUDA)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.add_argument("--batch-size", type=int, default=4,
                        help="frame pairs per forward with --frames / --video (default: 4; fewer where --max-pixels demands)")
    parser.add_argument("--max-size", type=int, default=None, metavar="S",
                        help="run the network on frames downscaled so that the longer side is at most S px (>= 64) "
                             "and scale the flow back to the frames' resolution (default: full resolution)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"refuse, before decoding, frames whose network input exceeds N px per forward "
                             f"(default: {DEFAULT_MAX_PIXELS:,} px, about {DEFAULT_MAX_PIXELS * MEGABYTES_PER_MEGAPIXEL / 1e9:.1f} "
                             f"GB: PWC-Net takes {MEGABYTES_PER_MEGAPIXEL} MB per megapixel on CPU in float32)")
    parser.add_argument("--compile", action="store_true",
                        help="run the network through torch.compile (slow first batch, faster afterwards)")
    flow_video.add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``zoo flow``; returns the exit status. Raises ValueError/OSError for bad input."""
    _check_common_arguments(args)
    if args.video:
        return flow_video.run(args)
    if args.video_out or args.every != 1:
        raise ValueError("--video-out and --every apply to --video")
    _check_inputs(args)
    if args.frames:
        frames = list_frames(Path(args.frames))
        if FileIdentity(args.output).same_as(FileIdentity(args.frames)):
            raise ValueError(f"-o {args.output}: the output folder must differ from the frames folder")
        _check_png_flag(args.png, frames_mode=True)
        _check_writable("-o", Path(args.output), suffixes=None)
        check_outputs(_frames_outputs(frames, Path(args.output), bool(args.png)),
                      [("--frames", frame) for frame in frames] + local_files({"--weights": args.weights}))
        size = _common_size(frames)
        batch = pairs_per_forward(frames[0], size, args)
        network = load_network(args, _frames_outputs(frames, Path(args.output), bool(args.png)))
        return _flow_of_frames(network, frames, Path(args.output), bool(args.png), batch, args)
    _check_png_flag(args.png, frames_mode=False)
    _check_writable("-o", Path(args.output), suffixes=FLOW_SUFFIXES)
    if args.png:
        _check_writable("--png", Path(args.png), suffixes=(".png",))
    first, second = (Path(p) for p in args.images)
    check_outputs({"-o": args.output, **({"--png": args.png} if args.png else {})},
                  [("IMG1", first), ("IMG2", second), *local_files({"--weights": args.weights})])
    size = _common_size([first, second])
    pairs_per_forward(first, size, args)
    image1, image2 = read_frame(first), read_frame(second)
    network = load_network(args, [("-o", Path(args.output)), *([("--png", Path(args.png))] if args.png else [])])
    flow = estimate(network, image1[None], image2[None], args)[0]
    write_outputs(flow, Path(args.output), Path(args.png) if args.png else None)
    print(f"{args.output}: flow {flow.shape[0]}x{flow.shape[1]} (H x W), max |flow| {np.hypot(flow[..., 0], flow[..., 1]).max():.2f} px")
    return 0


def _check_inputs(args: argparse.Namespace) -> None:
    if args.frames and args.images:
        raise ValueError("give either two images or --frames DIR, not both")
    if not args.frames and len(args.images) != 2:
        raise ValueError(f"expected two images (IMG1 IMG2) or --frames DIR, got {len(args.images)} image argument(s)")


def _check_common_arguments(args: argparse.Namespace) -> None:
    from zoo.cli.device import torch_device

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.max_size is not None and args.max_size < 64:
        raise ValueError(f"--max-size must be at least 64 px (PWC-Net's coarsest level is 1/64), got {args.max_size}")
    if args.max_pixels < 1:
        raise ValueError(f"--max-pixels must be at least 1, got {args.max_pixels}")
    torch_device(args.device)


def _check_writable(option: str, path: Path, suffixes: tuple[str, ...] | None) -> None:
    """Refuse now, before any work, an output that cannot be written: a file name (``suffixes``:
    the extensions allowed) or, with ``suffixes=None``, a folder; missing folders must be creatable."""
    if suffixes is None:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{option} {path}: is a file; --frames writes flow files into a folder")
        folder = path
    else:
        expected = f"{', '.join(suffixes[:-1])} or {suffixes[-1]}" if len(suffixes) > 1 else suffixes[0]
        if path.is_dir():
            raise IsADirectoryError(f"{option} {path}: is a folder; give a file name ending in {expected}")
        if path.suffix.lower() not in suffixes:
            raise ValueError(f"{option} {path}: unknown file extension {path.suffix!r} (expected {expected})")
        folder = path.parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise NotADirectoryError(f"{option} {path}: cannot create the folder {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(f"{option} {path}: no permission to write in {existing}")


def _frame_size(path: Path) -> tuple[int, int]:
    """(width, height) of a frame from its header (nothing is decoded)."""
    from zoo.datamodules.flow.formats import image_size

    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not an image file")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such image file")
    return image_size(path)


def _common_size(frames: list[Path]) -> tuple[int, int]:
    """The (width, height) all ``frames`` share, from their headers; ValueError naming the first that differs."""
    size = _frame_size(frames[0])
    for path in frames[1:]:
        other = _frame_size(path)
        if other != size:
            raise ValueError(f"{path} is {other[1]}x{other[0]} but {frames[0]} is {size[1]}x{size[0]} (H x W); "
                             "all frames must have the same size")
    return size


def pairs_per_forward(path: Path, size: tuple[int, int], args: argparse.Namespace) -> int:
    """How many frame pairs of ``size`` (width, height) one forward may take within ``--max-pixels``
    (at most ``--batch-size``); raises ValueError, naming ``path`` and the ``--max-size`` that
    fits, when not even one does."""
    from zoo.models.flow_inference import downscaled_size

    width, height = size
    pixels = math.prod(downscaled_size(height, width, args.max_size))
    if pixels <= args.max_pixels:
        return min(args.batch_size, args.max_pixels // pixels)
    fitting = math.isqrt(args.max_pixels * max(size) // min(size))
    while fitting >= 64 and math.prod(downscaled_size(height, width, fitting)) > args.max_pixels:
        fitting -= 1
    at = "" if args.max_size is None else f" at --max-size {args.max_size}"
    remedy = (f"pass --max-size {fitting} to estimate on downscaled frames and scale the flow back, or raise "
              "--max-pixels" if fitting >= 64 else "raise --max-pixels")
    raise ValueError(
        f"{path} is {height}x{width} (H x W): {pixels / 1e6:.1f} MP for the network{at}, over --max-pixels "
        f"{args.max_pixels:,} (about {pixels * MEGABYTES_PER_MEGAPIXEL / 1e9:.1f} GB on CPU); {remedy}")


def _check_png_flag(png: Any, frames_mode: bool) -> None:
    if frames_mode and png not in (None, True):
        raise ValueError("with --frames, --png is a flag (colour images go beside the flow files); drop its path")
    if not frames_mode and png is True:
        raise ValueError("--png needs a file name for two images, e.g. --png out.png")


def _natural_key(path: Path) -> list:
    """``frame10.png`` after ``frame9.png``: runs of ASCII digits compare as numbers (``str.isdigit``
    also holds for ``²``, which ``int`` refuses); the parts alternate text, number, text, ..."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"([0-9]+)", path.name))]


def list_frames(folder: Path) -> list[Path]:
    """The frames (:data:`FRAME_SUFFIXES`) of ``folder`` in natural file-name order; at least two, no two of one stem."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of frames")
    frames = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
                    key=_natural_key)
    if len(frames) < 2:
        raise ValueError(f"{folder}: needs at least two frames ({', '.join(FRAME_SUFFIXES)}), found {len(frames)}")
    stems: dict[str, Path] = {}
    for frame in frames:
        if frame.stem in stems:
            raise ValueError(f"{folder}: frames {stems[frame.stem].name} and {frame.name} would both write "
                             f"{frame.stem}.flo; keep one of them")
        stems[frame.stem] = frame
    return frames


def _frames_outputs(frames: list[Path], out_dir: Path, color: bool) -> list[tuple[str, Path]]:
    """Every file ``--frames`` writes: ``OUTDIR/<stem>.flo`` (and ``.png``) of each frame but the last."""
    suffixes = (".flo", ".png") if color else (".flo",)
    return [("-o", out_dir / f"{frame.stem}{suffix}") for frame in frames[:-1] for suffix in suffixes]


def _flow_of_frames(network: torch.nn.Module, frames: list[Path], out_dir: Path, color: bool,
                    pairs_per_forward: int, args: argparse.Namespace) -> int:
    """Flow of frame i to frame i+1, written as ``OUTDIR/<frame i stem>.flo`` (and ``.png`` colour)."""
    import torch
    from tqdm import tqdm

    pairs = len(frames) - 1
    with tqdm(total=pairs, unit="pair", desc="zoo flow", disable=None) as progress:  # None: only on a terminal
        for start in range(0, pairs, pairs_per_forward):
            paths = frames[start:start + pairs_per_forward + 1]
            images = [read_frame(path) for path in paths]
            flows = estimate(network, torch.stack(images[:-1]), torch.stack(images[1:]), args)
            for path, flow in zip(paths, flows):
                write_outputs(flow, out_dir / f"{path.stem}.flo", out_dir / f"{path.stem}.png" if color else None)
            progress.update(len(flows))
    print(f"{out_dir}: {pairs} flow files")
    return 0
