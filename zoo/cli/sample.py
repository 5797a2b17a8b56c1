"""``zoo sample``: draw images from a generative model of the zoo (NVAE) into a PNG grid.

    zoo sample nvae.mnist -n 64 -t 0.7 -o samples.png [--no-readjust-bn]
    zoo sample nvae --weights checkpoint.pt -n 16 -o faces.png

Batch-norm statistics are re-estimated from samples at the temperature first, as the paper and
the official evaluation do: without it, samples at temperatures below 1 are blurry blobs. That
re-estimation is most of the command's time (``python -m benchmarks.nvae_sample``); a terminal
shows a bar, and off one (a log, CI) a line goes to stderr when it starts, every
:data:`PROGRESS_EVERY_S` seconds, and when each phase ends, with its time.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from zoo.models.nvae.config import READJUST_BATCH_SIZE, READJUST_BATCHES

if TYPE_CHECKING:
    from zoo.models.nvae.network import NVAE

__all__ = ["MAX_GRID_PIXELS", "MAX_SAMPLES", "PROGRESS_EVERY_S", "add_parser", "check_temperature_option",
           "load_generator", "run"]

MAX_SAMPLES = 10_000  # images in one grid; refused before anything is loaded
MAX_GRID_PIXELS = 1 << 28  # pixels of the grid (about 800 MB as RGB), checked once the image size is known
PROGRESS_EVERY_S = 5.0  # seconds between progress lines off a terminal


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``sample`` subcommand."""
    p = subparsers.add_parser(
        "sample", help="sample images from an NVAE model into a PNG grid",
        description="Ancestral sampling from an NVAE prior at a temperature, written as one "
                    "PNG grid (binary models show pixel probabilities, colour models a draw "
                    "from the output distribution).")
    p.add_argument("name", help="nvae.TAG (e.g. nvae.mnist), hf-hub:ORG/NAME, a zoo.save_pretrained folder, "
                   "or nvae with --weights")
    p.add_argument("--weights", default=None, help="a weight file (official checkpoint.pt, "
                   "our safetensors or a Lightning .ckpt) or hf-hub:ORG/NAME instead of a registered tag")
    p.add_argument("-n", "--num-samples", type=int, default=64,
                   help=f"number of images (default 64, at most {MAX_SAMPLES:,})")
    p.add_argument("-t", "--temperature", type=float, default=0.7,
                   help="prior temperature in [0, 1] (default 0.7, as the official evaluation)")
    p.add_argument("-o", "--output", default="samples.png", help="PNG file to write")
    p.add_argument("--readjust-bn", action=argparse.BooleanOptionalAction, default=True,
                   help="re-estimate batch-norm statistics from samples at the temperature first, as "
                        "the paper and the official evaluation (--readjust_bn) do; on by default, "
                        "--no-readjust-bn keeps the stored statistics (blurry samples below temperature 1)")
    p.add_argument("--readjust-batches", type=int, default=READJUST_BATCHES,
                   help=f"batches of {READJUST_BATCH_SIZE} samples for --readjust-bn, each counted equally (default "
                        f"{READJUST_BATCHES}: the precision of the official 500-batch moving average)")
    p.add_argument("--batch-size", type=int, default=64, help="images per sampling batch")
    p.add_argument("--columns", type=int, default=None, help="grid columns (default: square)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from zoo.cli.device import torch_device
    from zoo.datamodules.files.outputs import check_output_file, local_files

    if not 1 <= args.num_samples <= MAX_SAMPLES:
        raise ValueError(f"--num-samples must be in [1, {MAX_SAMPLES:,}] (one PNG grid), got {args.num_samples:,}")
    check_temperature_option(args.temperature)
    if args.batch_size < 1 or args.readjust_batches < 1:
        raise ValueError("--batch-size and --readjust-batches must be >= 1")
    check_output_file("-o", args.output, (".png",), local_files({"NAME": args.name, "--weights": args.weights}))
    torch_device(args.device)


def check_temperature_option(temperature: float) -> None:
    """``--temperature`` in the range the network takes (:data:`~zoo.models.nvae.latents.MAX_TEMPERATURE`)."""
    from zoo.models.nvae.latents import MAX_TEMPERATURE

    if not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"--temperature must be in [0, {MAX_TEMPERATURE:g}], got {temperature}")


def _readjust_progress(batches: range) -> Iterable[int]:
    """A progress bar over the re-estimation's batches on a terminal (after its first second); off
    one, progress lines on stderr."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(batches, desc="re-estimating batch norms", unit="batch", delay=1.0, leave=False)
    return _progress_lines(batches, "re-estimating batch norms", "batch")


def _progress_lines(items: range, what: str, unit: str) -> Iterator[int]:
    """``items``, with a line on stderr at the start, every :data:`PROGRESS_EVERY_S` seconds and at the end."""
    start = last = time.perf_counter()
    print(f"{what}: {len(items)} {unit}{'es' if len(items) != 1 else ''}", file=sys.stderr, flush=True)
    for done, item in enumerate(items):
        yield item
        now = time.perf_counter()
        if now - last >= PROGRESS_EVERY_S and done + 1 < len(items):
            print(f"{what}: {unit} {done + 1}/{len(items)}, {now - start:.0f} s", file=sys.stderr, flush=True)
            last = now
    print(f"{what}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def load_generator(name: str, weights: str | None, device: str, command: str, output: str) -> NVAE:
    """The image-generation network ``name`` (``nvae.TAG``, or ``nvae`` with a ``weights`` file) on
    ``device``, in eval mode; ``ValueError`` naming ``command`` for an architecture of another task
    (checked before loading where the name is a registry name), for a name without weights (never
    an untrained network), or where ``output`` (the command's ``-o``) is the file the weights were
    read from."""
    from zoo.catalog.records import IMAGE_GENERATION
    from zoo.catalog.registry import architecture, local_model
    from zoo.datamodules.files.outputs import check_outputs
    from zoo.weights.hf_hub import is_hub_name
    from zoo.weights.loader import load_trained, weights_input

    # a Hub repository or a local folder / file names its architecture itself
    if not is_hub_name(name) and local_model(name) is None:
        architecture(name).require_task(IMAGE_GENERATION, f"zoo {command}")
    network = load_trained(name, weights=weights, map_location=device)
    architecture(network.zoo_record.arch).require_task(IMAGE_GENERATION, f"zoo {command}")
    check_outputs({"-o": output}, weights_input(network))
    return network


def run(args: argparse.Namespace) -> int:
    """Load the model, optionally re-estimate its batch norms, sample and write the grid."""
    import torch

    from zoo.datamodules.files.atomic import write_png
    from zoo.datamodules.images.grid import image_grid

    _check_args(args)
    network = load_generator(args.name, args.weights, args.device, "sample", args.output)
    grid_pixels = args.num_samples * network.config.image_size ** 2
    if grid_pixels > MAX_GRID_PIXELS:
        raise ValueError(f"--num-samples {args.num_samples:,}: a grid of {grid_pixels:,} px of "
                         f"{network.config.image_size}-px images, over {MAX_GRID_PIXELS:,}; draw fewer")
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    with torch.no_grad():
        if args.readjust_bn:
            network.readjust_bn(args.readjust_batches, args.temperature, generator=generator,
                                progress=_readjust_progress)
        starts = range(0, args.num_samples, args.batch_size)
        if not sys.stderr.isatty():
            starts = _progress_lines(starts, f"sampling {args.num_samples} images", "batch")
        images = torch.cat([
            network.sample(min(args.batch_size, args.num_samples - start), args.temperature,
                           generator=generator)
            for start in starts])
    path = write_png(args.output, image_grid(images, args.columns))
    print(f"wrote {args.num_samples} samples at temperature {args.temperature:g} to {path}")
    return 0
