"""The flow supervisor's overhead against the plain network, on the same batch, in one process.

For each precision (float32; bfloat16 autocast) and each mode:

* ``grad``: :class:`zoo.supervision.FlowSupervisor` forward + backward to the frames, against
  ``zoo.load(...)`` forward + backward as a user would write it (weights trainable: their
  gradients are computed too; the value check reads the frames' range back to the host) and
  against the same network frozen by hand (``requires_grad_(False)``: the supervisor's work
  without the wrapper);
* ``no grad``: ``FlowSupervisor(grad=False)`` forward against the network's forward under
  ``torch.no_grad``.

Times are medians over ``--repeats`` after one warm-up, baseline and supervisor calls alternating
(a change of machine load hits both); ratios above 1 mean the supervisor is slower.

    python -m benchmarks.supervision [--size 256 320] [--batch 2] [--repeats 5] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import zoo
from zoo.supervision import FlowSupervisor

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def paired_medians(baseline: Callable[[], None], candidate: Callable[[], None], repeats: int,
                   device: torch.device) -> tuple[float, float]:
    """Median wall times of ``baseline`` and ``candidate`` over ``repeats`` calls each, after one
    warm-up each; the calls alternate, so that a change of machine load hits both (CUDA: synchronised)."""
    def timed(fn: Callable[[], None]) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    timed(baseline), timed(candidate)
    pairs = [(timed(baseline), timed(candidate)) for _ in range(repeats)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _frames(batch: int, size: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image1 = torch.rand(batch, 3, *size, generator=generator)
    image2 = torch.roll(image1, shifts=(2, 3), dims=(2, 3))
    return image1.to(device), image2.to(device)


def _backward(run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], frames, dtype) -> Callable[[], None]:
    def step() -> None:
        image1, image2 = (frame.detach().requires_grad_(True) for frame in frames)
        with torch.autocast(image1.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            flow = run(image1, image2)
        flow.float().square().mean().backward()
    return step


def _forward(run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], frames, dtype) -> Callable[[], None]:
    def step() -> None:
        with torch.no_grad(), torch.autocast(frames[0].device.type, dtype=dtype or torch.bfloat16,
                                             enabled=dtype is not None):
            run(*frames)
    return step


def measure(weights: str, batch: int, size: tuple[int, int], repeats: int, device: torch.device) -> list[tuple]:
    """Rows ``(precision, mode, baseline, baseline s, supervisor s)``."""
    frames = _frames(batch, size, device)
    plain = zoo.load("pwcnet", weights=weights, map_location=device)
    frozen = zoo.load("pwcnet", weights=weights, map_location=device).requires_grad_(False)
    rows = []
    for name, dtype in PRECISIONS.items():
        precision = "float32" if dtype is None else name
        supervisor = FlowSupervisor(weights, precision=precision, device=device)
        no_grad = FlowSupervisor(supervisor.network, grad=False, precision=precision)
        # the supervisor applies its own autocast; the baselines get theirs from the step
        supervised = _backward(supervisor, frames, None)
        for baseline, network in (("zoo.load, trainable", plain), ("zoo.load, frozen by hand", frozen)):
            rows.append((name, "grad", baseline,
                         *paired_medians(_backward(network, frames, dtype), supervised, repeats, device)))
        rows.append((name, "no grad", "zoo.load under no_grad",
                     *paired_medians(_forward(plain, frames, dtype), _forward(no_grad, frames, None), repeats, device)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="pwcnet.synth")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 320), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=2, help="frame pairs per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = measure(args.weights, args.batch, tuple(args.size), args.repeats, device)
    print(f"{args.weights}, {args.batch} pairs of {args.size[0]}x{args.size[1]}, {device}, "
          f"{args.threads} threads, median of {args.repeats}")
    print(f"{'precision':9}  {'mode':7}  {'baseline':26}  {'baseline ms':>11}  {'supervisor ms':>13}  {'ratio':>5}")
    for precision, mode, baseline, base_s, supervised_s in rows:
        print(f"{precision:9}  {mode:7}  {baseline:26}  {1e3 * base_s:11.1f}  {1e3 * supervised_s:13.1f}  "
              f"{supervised_s / base_s:5.2f}")


if __name__ == "__main__":
    main()
