"""``zoo flow --video``: optical flow between consecutive frames of a video file.

    zoo flow --video clip.mp4 -o OUTDIR [--png] [--every N] [--max-size S] [--video-out flow.mp4]

Frames are decoded one at a time (PyAV) and batched in pairs: ``--batch-size`` pairs share one
forward pass, and at most ``batch size + 1`` frames are in memory. The flow of kept frame ``i`` to
the next kept frame is written as ``OUTDIR/<i>.flo`` (``i`` = the frame's index in the clip, six
digits), with ``--png`` also its colour coding as ``OUTDIR/<i>.png``, and with ``--video-out``
a colour-coded flow video at the clip's frame rate divided by ``--every``. A progress bar shows
frames per second; the last line prints the overall rate.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from zoo.datamodules.files.outputs import check_output_file, check_outputs, local_files

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--video`` options to the ``zoo flow`` parser."""
    parser.add_argument("--video", metavar="CLIP", help="video file (any format FFmpeg reads); flow of each frame to the next")
    parser.add_argument("--every", type=int, default=1, metavar="N",
                        help="with --video: keep every N-th frame (flow between kept frames; default 1)")
    parser.add_argument("--video-out", metavar="PATH",
                        help="with --video: also write a colour-coded flow video (.mp4, .mkv, .mov, .avi)")


def _check(args: argparse.Namespace) -> None:
    if args.images or args.frames:
        raise ValueError("give one input: two images, --frames DIR or --video CLIP")
    if args.every < 1 or args.batch_size < 1:
        raise ValueError(f"--every and --batch-size must be at least 1, got {args.every} and {args.batch_size}")
    if args.png not in (None, True):
        raise ValueError("with --video, --png is a flag (colour images go beside the flow files); drop its path")
    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise ValueError(f"-o {args.output}: with --video the output is a folder, and this is a file")


def run(args: argparse.Namespace) -> int:
    """Execute ``zoo flow --video``; returns the exit status. Raises ValueError/OSError for bad input."""
    from zoo.datamodules.flow.video import CONTAINERS, video_info

    _check(args)
    info = video_info(args.video)
    from zoo.cli.flow import pairs_per_forward  # flow imports this module: import when run

    args.batch_size = pairs_per_forward(Path(args.video), (info.width, info.height), args)
    inputs = [("--video", args.video), *local_files({"--weights": args.weights})]
    if args.video_out:
        check_output_file("--video-out", args.video_out, CONTAINERS, inputs)
    # no flow file may land on the clip, the weights or the flow video either
    outputs = _existing_outputs(Path(args.output)) + ([("--video-out", Path(args.video_out))] if args.video_out else [])
    check_outputs(outputs, inputs)
    from zoo.cli.flow_estimation import load_network

    network = load_network(args, outputs)
    started = time.perf_counter()
    count = _flow_of_video(network, Path(args.video), info, Path(args.output), args)
    rate = count / (time.perf_counter() - started)
    print(f"{args.output}: {count} flow files from {args.video} ({info.height}x{info.width}, H x W), {rate:.2f} frames/s"
          + (f"; flow video {args.video_out}" if args.video_out else ""))
    return 0


def _existing_outputs(out_dir: Path) -> list[tuple[str, Path]]:
    """The files of ``out_dir`` that a flow file of the clip may replace (``<index>.flo`` / ``.png``).

    Only an existing entry can be another name of an input file, so these are all the outputs
    that could land on one."""
    if not out_dir.is_dir():
        return []
    return [("-o", entry) for entry in out_dir.iterdir() if re.fullmatch(r"\d{6,}\.(flo|png)", entry.name)]


def _flow_of_video(network: Any, clip: Path, info: Any, out_dir: Path, args: argparse.Namespace) -> int:
    """Stream the clip through the network in batches of pairs; returns the number of flow files."""
    import contextlib

    from tqdm import tqdm

    from zoo.datamodules.flow.video import video_frames, video_writer

    total = (info.frames - 1) // args.every if info.frames else None
    fps = (info.fps or 25) / args.every
    with contextlib.ExitStack() as stack:
        write_frame = stack.enter_context(video_writer(args.video_out, fps)) if args.video_out else None
        progress = stack.enter_context(tqdm(total=total, unit="frame", desc="zoo flow --video",
                                                     disable=None))  # None: only on a terminal
        pending: list[tuple[int, Any]] = []
        count = 0
        for index, frame in video_frames(clip, args.every):
            pending.append((index, frame))
            if len(pending) == args.batch_size + 1:
                count += _flush(network, pending, out_dir, args, write_frame)
                progress.update(len(pending) - 1)
                pending = pending[-1:]
        if len(pending) > 1:
            count += _flush(network, pending, out_dir, args, write_frame)
            progress.update(len(pending) - 1)
        if count == 0:  # inside the block, so that no empty flow video is left behind
            raise ValueError(f"{clip}: needs at least two frames (with --every {args.every}), found {len(pending)}")
    return count


def _flush(network: Any, pending: list[tuple[int, Any]], out_dir: Path, args: argparse.Namespace,
           write_frame: Any) -> int:
    """Flow of each frame in ``pending`` to the next; writes the files and video frames."""
    import torch

    from zoo.cli.flow_estimation import estimate, write_outputs
    from zoo.datamodules.flow.visualize import flow_to_color

    if len({frame.shape for _, frame in pending}) > 1:
        raise ValueError(f"{args.video}: the frame size changes within the clip (at frame {pending[-1][0]})")
    images = torch.stack([torch.from_numpy(frame).permute(2, 0, 1) for _, frame in pending]).float() / 255.0
    flows = estimate(network, images[:-1], images[1:], args)
    for (index, _), flow in zip(pending, flows):
        stem = f"{index:06d}"
        write_outputs(flow, out_dir / f"{stem}.flo", out_dir / f"{stem}.png" if args.png else None)
        if write_frame is not None:
            write_frame(flow_to_color(flow))
    return len(flows)
