"""PWC-Net training speed against the synthetic data supply, side by side in one process.

Measures, at the paper's Chairs crop (384x448) and batch 4 unless told otherwise:

* the training step (forward of all levels, multi-scale loss, backward, Adam step), fp32 and
  optionally bf16 autocast, against the forward pass alone (the in-process baseline);
* the throughput of the synthetic training data (``FlowDataModule(train="synthetic")``: render
  at 384x512, augment, crop), one loader process.

The ratio "pairs/s the data supplies / pairs/s the step consumes" is how many loader workers
keep a training process fed (< 1: one worker is enough).

    python benchmarks/pwcnet_training.py [--steps 3] [--threads 2] [--bf16] [--size 384 448] [--batch 4]
"""

from __future__ import annotations

import argparse
import time

import torch

from datamodules.flow.datamodule import FlowDataModule
from models.pwcnet.loss import multiscale_loss
from models.pwcnet.network import PWCNet


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def training_step_seconds(size: tuple[int, int], batch: int, repeats: int, bf16: bool) -> tuple[float, float]:
    """(median seconds of a forward, of a full training step) on random frames."""
    torch.manual_seed(0)
    network = PWCNet()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4, weight_decay=4e-4)
    image1, image2 = torch.rand(2, batch, 3, *size).unbind(0)
    target = torch.randn(batch, 2, *size) * 5

    def forward() -> None:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            network.forward_levels(image1, image2)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            flows = network.forward_levels(image1, image2)
        loss, _ = multiscale_loss(flows, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _median_seconds(forward, repeats), _median_seconds(step, repeats)


def data_pairs_per_second(size: tuple[int, int], batch: int, batches: int) -> float:
    data = FlowDataModule(train="synthetic", crop_size=size, batch_size=batch, num_workers=0)
    data.setup("fit")
    iterator = iter(data.train_dataloader())
    next(iterator)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, nargs=2, default=(384, 448), metavar=("H", "W"))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--bf16", action="store_true", help="also time bf16 autocast")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    size = tuple(args.size)
    print(f"PWC-Net training, {size[0]}x{size[1]}, batch {args.batch}, {args.threads} threads, "
          f"median of {args.steps}")
    data_rate = data_pairs_per_second(size, args.batch, max(args.steps, 2))
    print(f"{'what':<28} {'s/batch':>9} {'pairs/s':>9} {'vs forward':>11} {'data/step':>10}")
    for name, bf16 in [("fp32", False)] + ([("bf16 autocast", True)] if args.bf16 else []):
        forward, step = training_step_seconds(size, args.batch, args.steps, bf16)
        print(f"{'forward (' + name + ')':<28} {forward:>9.3f} {args.batch / forward:>9.2f} {1.0:>11.2f}")
        print(f"{'train step (' + name + ')':<28} {step:>9.3f} {args.batch / step:>9.2f} {step / forward:>11.2f} "
              f"{data_rate / (args.batch / step):>10.2f}")
    print(f"{'synthetic data (1 process)':<28} {args.batch / data_rate:>9.3f} {data_rate:>9.2f}")
    print("data/step: pairs/s the synthetic data supplies per pair/s the step consumes "
          "(>= 1: one loader process keeps up)")


if __name__ == "__main__":
    main()
