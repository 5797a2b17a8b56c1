"""``zoo flow --video`` throughput on a 640x360 clip, against the network alone, in one process.

Run from the repository root::

    python -m benchmarks.flow_video [--frames 25] [--threads N] [--clip clip.mp4]

Writes a 640x360 H.264 clip (yuv420p, crf 18, 25 frames/s: a window panning over a texture by
(3, 1) px per frame), then times, with the bundled ``pwcnet.synth`` and the same batch size:

* baseline: the network alone (``estimate_flow``) on the frames already decoded in memory;
* ``zoo flow --video CLIP -o OUT`` (decode, batch, network, write ``.flo`` files), and with
  ``--max-size 320``;

and prints frames per second (flow files per second) and each rate relative to the baseline.
The command prints its own rate on its last line; the clip is kept with ``--clip PATH`` so that
the command can be rerun by hand.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import torch

import zoo
from zoo.cli import main as zoo_main
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.datamodules.flow.video import video_frames, video_writer
from zoo.models.flow_inference import estimate_flow

SIZE, STEP = (360, 640), (3, 1)


def write_clip(path: Path, frames: int) -> None:
    """A 640x360 clip of a window panning over a texture, H.264 yuv420p crf 18 (a typical encode)."""
    height, width = SIZE
    canvas = (height + frames * STEP[1] + 1, width + frames * STEP[0] + 1)  # a rendered scene as the texture
    image = SyntheticFlow(size=canvas, length=1, seed=0, photometric=False, recipe="v1")[0]["image1"]
    source = (image.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    with video_writer(path, 25, options={"crf": "18"}) as write:
        for k in range(frames):
            write(source[k * STEP[1]:k * STEP[1] + height, k * STEP[0]:k * STEP[0] + width])


def network_rate(clip: Path, batch_size: int, precision: str) -> float:
    """Frame pairs per second of the network alone on the decoded frames, batched as the command does."""
    network = zoo.load("pwcnet.synth")
    frames = torch.stack([torch.from_numpy(f).permute(2, 0, 1) for _, f in video_frames(clip)]).float() / 255.0
    estimate_flow(network, frames[:2], frames[1:3], precision=precision)  # warm-up
    start = time.perf_counter()
    for first in range(0, len(frames) - 1, batch_size):
        last = min(first + batch_size, len(frames) - 1)
        estimate_flow(network, frames[first:last], frames[first + 1:last + 1], precision=precision)
    return (len(frames) - 1) / (time.perf_counter() - start)


def command_rate(argv: list[str]) -> tuple[float, str]:
    """(frames per second, the command's last line) of ``zoo flow`` with ``argv``."""
    out = io.StringIO()
    start = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        assert zoo_main(argv) == 0
    seconds = time.perf_counter() - start
    line = out.getvalue().strip().splitlines()[-1]
    pairs = int(line.split(": ", 1)[1].split(" flow files")[0])
    return pairs / seconds, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "auto"))
    parser.add_argument("--clip", type=Path, default=None, help="where to keep the clip (default: a temporary folder)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or Path(tmp) / "clip.mp4"
        write_clip(clip, args.frames)
        print(f"torch {torch.__version__}, {args.threads} threads, {args.precision}; clip {clip}: "
              f"{args.frames} frames of {SIZE[1]}x{SIZE[0]}, batch {args.batch_size}")
        baseline = network_rate(clip, args.batch_size, args.precision)
        print(f"  network alone (decoded frames in memory): {baseline:6.2f} frames/s  (baseline)")
        for extra in ([], ["--max-size", "320"]):
            argv = ["flow", "--video", str(clip), "-o", str(Path(tmp) / f"out{len(extra)}"), "--weights", "pwcnet.synth",
                    "--batch-size", str(args.batch_size), "--precision", args.precision, *extra]
            rate, line = command_rate(argv)
            print(f"  zoo {' '.join(argv[:2])} CLIP {' '.join(argv[5:])}: {rate:6.2f} frames/s  "
                  f"{rate / baseline:.2f}x the network alone\n      its last line: {line}")


if __name__ == "__main__":
    main()
