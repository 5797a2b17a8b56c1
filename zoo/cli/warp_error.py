"""``zoo warp-error``: the warping error E_warp of a processed video, and of its original.

    zoo warp-error VIDEO [--reference ORIGINAL] [--weights W] [--json PATH] [--batch-size N]

VIDEO and ORIGINAL are video files (any format FFmpeg reads) or folders of frames (natural
file-name order, as ``zoo flow --frames``). E_warp is Lai et al.'s (ECCV 2018), as
:class:`zoo.supervision.WarpingError` computes it: for every pair of consecutive frames, the
mean squared difference (RGB in [0, 1]) between frame t and frame t + 1 warped back by the flow,
over the pixels visible in both (forward-backward consistency), then the mean over the pairs.
Flows and masks come from ORIGINAL when it is given (both rows then use the same flows), else
from VIDEO. The table gives E_warp x 1000 for reading; the JSON file (written atomically) holds
the plain values. Frames are streamed: ``--batch-size`` + 1 frames of each video are in memory.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    """Register the ``warp-error`` subcommand on ``subparsers``."""
    parser = subparsers.add_parser(
        "warp-error", help="warping error E_warp (temporal consistency) of a video, with PWC-Net flows",
        description="E_warp of Lai et al. (ECCV 2018) of VIDEO: frame t against frame t+1 warped back, over the "
                    "pixels visible in both, mean squared RGB difference in [0, 1]. With --reference, the flows "
                    "and occlusion masks come from the original video and its E_warp is given too.")
    parser.add_argument("video", metavar="VIDEO", help="processed video: a video file or a folder of frames")
    parser.add_argument("--reference", metavar="ORIGINAL",
                        help="the unprocessed video (file or frame folder) the flows and masks are computed on")
    parser.add_argument("--weights", default="pwcnet.synth",
                        help="PWC-Net weights: registry name, tag, file, zoo.save_pretrained folder or hf-hub:ORG/NAME "
                             "(default: pwcnet.synth, bundled)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON (atomically)")
    parser.add_argument("--batch-size", type=int, default=4, help="frame pairs per forward (default: 4)")
    parser.add_argument("--precision", default="float32", choices=("auto", "float32", "bfloat16", "float16"),
                        help="network precision (default: float32)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    parser.set_defaults(func=run)


@dataclass
class _Source:
    """One input: its option name for messages, path, frame count (None: unknown until decoded)."""

    option: str
    path: Path
    count: int | None
    frame_paths: list[Path] | None = None

    def frames(self) -> Iterator[Any]:
        """(3, H, W) float32 RGB in [0, 1], one at a time."""
        import torch

        from zoo.cli.flow_estimation import read_frame
        from zoo.datamodules.flow.video import video_frames

        if self.frame_paths is not None:
            for path in self.frame_paths:
                yield read_frame(path)
            return
        for _, frame in video_frames(self.path):
            yield torch.from_numpy(frame).permute(2, 0, 1).float() / 255.0


def _source(option: str, text: str) -> _Source:
    from zoo.cli.flow import list_frames
    from zoo.datamodules.flow.video import video_info

    path = Path(text)
    if path.is_dir():
        frames = list_frames(path)
        return _Source(option, path, len(frames), frames)
    if not path.exists():
        raise FileNotFoundError(f"{option} {text}: no such video file or frame folder")
    return _Source(option, path, video_info(path).frames)


def _check_json(path: Path, sources: list[_Source]) -> None:
    resolved = path.resolve()
    for source in sources:
        inside = source.path.resolve()
        if resolved == inside or (source.frame_paths is not None and inside in resolved.parents):
            raise ValueError(f"--json {path}: would write onto or into the input {source.option} {source.path}")
    if path.is_dir():
        raise IsADirectoryError(f"--json {path}: is a folder; give a file name")


def run(args: argparse.Namespace) -> int:
    """Execute ``zoo warp-error``; returns the exit status. Raises ValueError/OSError for bad input."""
    from zoo.cli.device import torch_device

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    device = torch_device(args.device)
    sources = [_source("VIDEO", args.video)] + ([_source("--reference", args.reference)] if args.reference else [])
    if len(sources) == 2 and None not in (sources[0].count, sources[1].count) and sources[0].count != sources[1].count:
        raise ValueError(f"VIDEO {args.video} has {sources[0].count} frames but --reference {args.reference} has "
                         f"{sources[1].count}; they must have the same length")
    if args.json:
        _check_json(Path(args.json), sources)
    from zoo.supervision import FlowSupervisor

    supervisor = FlowSupervisor(args.weights, grad=False, precision=args.precision, device=device)
    result = _measure(supervisor, sources, args.batch_size)
    result.update(weights=args.weights, video=str(args.video), reference=args.reference)
    _print_table(result)
    if args.json:
        from zoo.datamodules.files.atomic import write_atomic

        write_atomic(args.json, (json.dumps(result, indent=2) + "\n").encode())
    return 0


def _aligned_frames(sources: list[_Source]) -> Iterator[list[Any]]:
    """One frame of each source at a time; ValueError naming both when lengths or sizes differ."""
    iterators = [source.frames() for source in sources]
    size = None
    index = 0
    while True:
        frames = [next(iterator, None) for iterator in iterators]
        if all(frame is None for frame in frames):
            return
        if any(frame is None for frame in frames):
            short = sources[frames.index(None)]
            raise ValueError(f"{short.option} {short.path} ends after {index} frames while "
                             f"{' and '.join(f'{s.option} {s.path}' for s, f in zip(sources, frames) if f is not None)} "
                             "goes on; they must have the same length")
        for source, frame in zip(sources, frames):
            if size is None:
                size = tuple(frame.shape[1:])
            if tuple(frame.shape[1:]) != size:
                raise ValueError(f"{source.option} {source.path}: frame {index} is {frame.shape[1]}x{frame.shape[2]} "
                                 f"(H x W) but {sources[0].option} frame 0 is {size[0]}x{size[1]}; all frames must "
                                 "have one size")
        yield frames
        index += 1


def _measure(supervisor: Any, sources: list[_Source], batch_size: int) -> dict[str, Any]:
    """Stream the frames in batches of pairs; sums of E_pair per source and the occlusion counts."""
    import torch
    from tqdm import tqdm

    from zoo.supervision import flow_and_visibility, pair_warping_errors

    sums = [0.0] * len(sources)
    pairs = occluded = pixels = 0
    pending: list[list[Any]] = []
    total = sources[0].count - 1 if sources[0].count else None

    def flush() -> None:
        nonlocal pairs, occluded, pixels
        clips = [torch.stack([frames[i] for frames in pending]) for i in range(len(sources))]
        with torch.no_grad():
            flow, visible = flow_and_visibility(supervisor, clips[-1][:-1], clips[-1][1:])
            for i, clip in enumerate(clips):
                sums[i] += float(pair_warping_errors(clip[:-1], clip[1:], flow, visible).double().sum())
        pairs += len(pending) - 1
        occluded += int((~visible).sum())
        pixels += visible.numel()

    with tqdm(total=total, unit="pair", desc="zoo warp-error", disable=None) as progress:  # None: terminal only
        for frames in _aligned_frames(sources):
            pending.append(frames)
            if len(pending) == batch_size + 1:
                flush()
                progress.update(len(pending) - 1)
                pending = pending[-1:]
        if len(pending) > 1:
            flush()
            progress.update(len(pending) - 1)
    if pairs == 0:
        raise ValueError(f"{sources[0].option} {sources[0].path}: needs at least two frames, found {len(pending)}")
    names = ["video", "reference"][:len(sources)]
    return {"pairs": pairs, "height": int(pending[0][0].shape[1]), "width": int(pending[0][0].shape[2]),
            "e_warp": {name: total_error / pairs for name, total_error in zip(names, sums)},
            "occlusion_share": occluded / pixels, "flows_from": names[-1],
            "units": "e_warp: mean squared RGB difference, values in [0, 1]; occlusion_share: fraction of pixels"}


def _print_table(result: dict[str, Any]) -> None:
    rows = [(name, result[name], value) for name, value in result["e_warp"].items()]
    width = max(len(str(path)) for _, path, _ in rows)
    print(f"{'':9}  {'path':{width}}  {'E_warp x 1e3':>12}  pairs  occluded (flows of {result['flows_from']})")
    share = f"{100 * result['occlusion_share']:.2f} %"
    for name, path, value in rows:
        print(f"{name:9}  {path!s:{width}}  {1e3 * value:12.4f}  {result['pairs']:5d}  {share}")
