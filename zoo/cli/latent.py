"""``zoo reconstruct`` and ``zoo interpolate``: NVAE's latent space as PNG grids.

    zoo reconstruct nvae.mnist-cpu digit1.png digit2.png -o grid.png
    zoo reconstruct nvae.mnist-cpu --mnist-dir /data/mnist --count 16 -o grid.png
    zoo interpolate nvae.mnist-cpu one.png seven.png --steps 8 [--groups 0-3] -o path.png

Input images are PNG (or any format Pillow reads) of the model's size, grayscale for binary
models (MNIST: 32 x 32, or 28 x 28 zero-padded by 2 px as the training data) and RGB otherwise.
Binary models were trained on binarised digits: ``--binarize threshold`` (default) keeps pixels
> 0.5, ``sample`` draws each pixel from its intensity (as NVAE trains and evaluates, seeded by
``--seed``), ``none`` feeds the grey levels. Colour inputs are reduced to the model's bits.

The reconstruction grid alternates a row of inputs with the row of their reconstructions; the
interpolation grid is one row: IMG1, the ``--steps`` frames (the first and last are the
reconstructions of IMG1 and IMG2), IMG2. Both show the output distribution's mean
(``NVAE.reconstruct``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from zoo.models.nvae.network import NVAE

__all__ = ["BINARIZE_MODES", "MAX_STEPS", "add_parser", "mnist_test_digits", "model_images", "parse_groups"]

BINARIZE_MODES = ("threshold", "sample", "none")
#: frames of ``zoo interpolate``'s one row (a 256-px model's row is then 65,536 px wide)
MAX_STEPS = 254
_MNIST_TEST_IMAGES = "t10k-images-idx3-ubyte"


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="nvae.TAG (e.g. nvae.mnist-cpu) or nvae with --weights")
    parser.add_argument("--weights", default=None, help="a weight file (official checkpoint.pt, "
                        "our safetensors or a Lightning .ckpt) instead of a registered tag")
    parser.add_argument("-o", "--output", required=True, help="PNG file to write")
    parser.add_argument("--binarize", choices=BINARIZE_MODES, default=None,
                        help="binary models: how grey inputs become {0, 1} (default threshold)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``reconstruct`` and ``interpolate`` subcommands."""
    rec = subparsers.add_parser(
        "reconstruct", help="NVAE reconstructions of images into a PNG grid",
        description="Encode images with an NVAE model and decode them again (temperature 0: the "
                    "posterior means); rows of inputs alternate with rows of reconstructions.")
    _add_common(rec)
    rec.add_argument("images", nargs="*", metavar="IMAGE",
                     help="image files (right after NAME, before the options)")
    rec.add_argument("--mnist-dir", default=None, metavar="DIR",
                     help=f"take MNIST test digits from DIR/{_MNIST_TEST_IMAGES}[.gz] instead")
    rec.add_argument("--count", type=int, default=16, help="digits from --mnist-dir (default 16)")
    rec.add_argument("--offset", type=int, default=0, help="first test digit (default 0)")
    rec.add_argument("-t", "--temperature", type=float, default=0.0,
                     help="posterior temperature (default 0: deterministic means)")
    rec.add_argument("--columns", type=int, default=8, help="images per row (default 8)")
    rec.set_defaults(func=run_reconstruct)

    inter = subparsers.add_parser(
        "interpolate", help="NVAE latent interpolation between two images into a PNG row",
        description="Spherical interpolation of the prior noise of two images' latents "
                    "(NVAE.interpolate); the row shows IMG1, the frames, IMG2.")
    _add_common(inter)
    inter.add_argument("images", nargs=2, metavar="IMG", help="the two images")
    inter.add_argument("--steps", type=int, default=8, help="frames, endpoints included: 2 to 254 (default 8)")
    inter.add_argument("--groups", default=None, help="latent groups to interpolate, decoder "
                       "order (0 = coarsest), e.g. 0-3,7; the others keep IMG1's (default all)")
    inter.set_defaults(func=run_interpolate)


# --------------------------------------------------------------------------- inputs
def parse_groups(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]`` (inclusive ranges); ``ValueError`` naming --groups."""
    groups = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            groups.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        raise ValueError(f"--groups must be indices or ranges like 0-3,7, got {text!r}") from None
    return groups


def mnist_test_digits(folder: str | Path, count: int, offset: int = 0) -> np.ndarray:
    """uint8 ``(count, 28, 28)``: test digits ``offset .. offset + count - 1`` of the MNIST IDX
    file in ``folder`` (plain or ``.gz``)."""
    from zoo.datamodules.images.readers import read_idx

    folder = Path(folder)
    path = next((folder / n for n in (_MNIST_TEST_IMAGES, _MNIST_TEST_IMAGES + ".gz")
                 if (folder / n).is_file()), None)
    if path is None:
        raise FileNotFoundError(f"--mnist-dir: {folder / _MNIST_TEST_IMAGES}[.gz] not found")
    digits = read_idx(path, ndim=3)
    if count < 1 or offset < 0 or offset + count > len(digits):
        raise ValueError(f"--count {count} and --offset {offset} must select digits of the "
                         f"{len(digits)} in {path}")
    return digits[offset:offset + count]


def _read_pixels(path: str | Path, channels: int) -> np.ndarray:
    """uint8 ``(H, W)`` grayscale or ``(H, W, 3)`` RGB pixels of an image file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: cannot read the image ({error})") from error


def model_images(pixels: list[np.ndarray], network: NVAE, binarize: str | None,
                 generator: torch.Generator, names: list[str]) -> torch.Tensor:
    """Images ``(N, C, S, S)`` in [0, 1] for ``network`` from uint8 ``(H, W)`` / ``(H, W, 3)``
    arrays (``names`` label them in errors).

    Sizes: ``S x S``, or ``(S - 2b)`` square zero-padded by the model's ``crop_border`` b (28 ->
    32 for MNIST). Binary models binarise as ``binarize`` says (default ``threshold``: > 0.5);
    colour models take ``binarize`` None or ``none`` and are quantised to the model's bits.
    """
    import torch

    cfg = network.config
    binary = cfg.decoder_distribution == "bernoulli"
    if not binary and binarize not in (None, "none"):
        raise ValueError(f"--binarize {binarize}: {cfg.decoder_distribution} models take colour "
                         "images as they are")
    size, border = cfg.image_size, cfg.crop_border
    allowed = {size} | ({size - 2 * border} if border else set())
    images = []
    for image, name in zip(pixels, names):
        if image.shape[:2] not in {(s, s) for s in allowed}:
            raise ValueError(f"{name}: {image.shape[0]}x{image.shape[1]} (H x W) image; this model takes "
                             + " or ".join(f"{s}x{s}" for s in sorted(allowed, reverse=True)))
        pad = (size - image.shape[0]) // 2
        image = np.pad(image, ((pad, pad), (pad, pad)) + ((0, 0),) * (image.ndim - 2))
        images.append(torch.from_numpy(image.reshape(size, size, -1).copy()).permute(2, 0, 1))
    x = torch.stack(images).float() / 255
    if not binary:
        return network.quantize(x)
    mode = binarize or "threshold"
    if mode == "threshold":
        return (x > 0.5).float()
    return torch.bernoulli(x, generator=generator) if mode == "sample" else x


def _inputs(args: argparse.Namespace, network: NVAE, generator: torch.Generator) -> torch.Tensor:
    if args.mnist_dir and args.images:
        raise ValueError("give image files or --mnist-dir, not both")
    if args.mnist_dir:
        digits = mnist_test_digits(args.mnist_dir, args.count, args.offset)
        names = [f"MNIST test digit {args.offset + i}" for i in range(len(digits))]
        return model_images(list(digits), network, args.binarize, generator, names)
    if not args.images:
        raise ValueError("give image files or --mnist-dir DIR")
    channels = network.config.image_channels
    return model_images([_read_pixels(p, channels) for p in args.images], network, args.binarize,
                        generator, list(args.images))


def _check_output(args: argparse.Namespace) -> None:
    """-o must be a .png file that is none of the command's inputs."""
    from zoo.datamodules.files.outputs import check_output_file, local_files

    inputs = [("IMAGE", image) for image in args.images]
    inputs += local_files({"NAME": args.name, "--weights": args.weights, "--mnist-dir": getattr(args, "mnist_dir", None)})
    check_output_file("-o", args.output, (".png",), inputs)


# --------------------------------------------------------------------------- commands
def _paired_rows(inputs: torch.Tensor, outputs: torch.Tensor, columns: int) -> torch.Tensor:
    """``inputs`` and ``outputs`` ``(N, C, S, S)`` as alternating rows of ``columns`` tiles."""
    import torch

    rows = []
    for start in range(0, len(inputs), columns):
        for images in (inputs, outputs):
            chunk = images[start:start + columns]
            rows += [chunk, chunk.new_zeros((columns - len(chunk), *chunk.shape[1:]))]
    return torch.cat(rows)


def run_reconstruct(args: argparse.Namespace) -> int:
    """Encode and decode the inputs, write inputs and reconstructions as one grid."""
    import torch

    from zoo.cli.sample import check_temperature_option, load_generator
    from zoo.datamodules.files.atomic import write_png
    from zoo.datamodules.images.grid import image_grid

    _check_output(args)
    check_temperature_option(args.temperature)
    if args.columns < 1:
        raise ValueError(f"--columns must be >= 1, got {args.columns}")
    network = load_generator(args.name, args.weights, args.device, "reconstruct", args.output)
    generator = torch.Generator().manual_seed(args.seed)
    x = _inputs(args, network, generator).to(args.device)
    device_generator = torch.Generator(device=args.device).manual_seed(args.seed)
    reconstructions = network.reconstruct(x, args.temperature, generator=device_generator)
    columns = min(args.columns, len(x))
    path = write_png(args.output, image_grid(_paired_rows(x, reconstructions, columns), columns))
    print(f"wrote {len(x)} inputs and their reconstructions (temperature "
          f"{args.temperature:g}) to {path}")
    return 0


def run_interpolate(args: argparse.Namespace) -> int:
    """Interpolate between the two inputs, write IMG1, the frames and IMG2 as one row."""
    import torch

    from zoo.cli.sample import load_generator
    from zoo.datamodules.files.atomic import write_png
    from zoo.datamodules.images.grid import image_grid

    _check_output(args)
    if not 2 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be in [2, {MAX_STEPS}] (frames of one row, endpoints included), got {args.steps:,}")
    groups = None if args.groups is None else parse_groups(args.groups)
    network = load_generator(args.name, args.weights, args.device, "interpolate", args.output)
    generator = torch.Generator().manual_seed(args.seed)
    channels = network.config.image_channels
    x = model_images([_read_pixels(p, channels) for p in args.images], network, args.binarize,
                     generator, list(args.images)).to(args.device)
    frames = network.interpolate(x[:1], x[1:], args.steps, groups)[0]
    row = torch.cat([x[:1], frames, x[1:]])
    path = write_png(args.output, image_grid(row, columns=len(row)))
    print(f"wrote {args.steps} frames between {args.images[0]} and {args.images[1]} to {path}")
    return 0
