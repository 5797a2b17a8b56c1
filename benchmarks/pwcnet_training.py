"""PWC-Net training speed against the speed of its training data, side by side in one process.

The step and the data are those of a training config (default ``configs/pwcnet/synthetic.yaml``,
the recipe of ``pwcnet.synth``): its ``PWCNetModule`` arguments (loss, feature-matching term,
optimiser) and its ``FlowDataModule`` arguments (renders, crops, batch size), read from the YAML.

* the training step: ``PWCNetModule.training_step`` (both pyramids, all levels, the multi-scale
  loss and, when the config sets ``matching_weight``, the feature-matching term), backward and
  the module's Adam step, at the config's precision (``bf16-mixed``: bf16 CPU autocast) and in
  float32, against the forward of all levels alone (the in-process baseline);
* the training data: batches per second of the config's train dataloader, one process.

``data/step`` is pairs/s the data supplies divided by pairs/s the step consumes: at >= 1 one
loader process keeps a training process fed; below 1 it takes ``ceil(1 / (data/step))``.

    python -m benchmarks.pwcnet_training [--config configs/pwcnet/synthetic.yaml] [--steps 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path

import torch
import yaml

from zoo.datamodules.flow.datamodule import FlowDataModule
from zoo.models.pwcnet.module import PWCNetModule

ROOT = Path(__file__).resolve().parents[1]
PRECISIONS = {"32": None, "32-true": None, "bf16-mixed": torch.bfloat16, "bf16": torch.bfloat16}


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def read_config(path: Path) -> tuple[dict, dict, str]:
    """(PWCNetModule arguments, FlowDataModule arguments, trainer precision) of a training config."""
    config = yaml.safe_load(path.read_text())
    return (dict(config["model"]["init_args"]), dict(config["data"]["init_args"]),
            str(config.get("trainer", {}).get("precision", "32")))


def training_batch(data_args: dict) -> dict:
    """The first training batch of the config's datamodule (built in this process)."""
    data = FlowDataModule(**{**data_args, "num_workers": 0})
    data.setup("fit")
    return next(iter(data.train_dataloader()))


def step_seconds(model_args: dict, batch: dict, dtype: torch.dtype | None, repeats: int) -> tuple[float, float]:
    """(median seconds of the forward of all levels, of a full training step) at autocast ``dtype``."""
    torch.manual_seed(0)
    module = PWCNetModule(**model_args)
    optimizer = module.configure_optimizers()["optimizer"]
    autocast = {"device_type": "cpu", "dtype": dtype, "enabled": dtype is not None}

    def forward() -> None:
        with torch.no_grad(), torch.autocast(**autocast):
            module.network.forward_levels(batch["image1"], batch["image2"])

    def step() -> None:
        with torch.autocast(**autocast):
            loss = module.training_step(batch, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    with warnings.catch_warnings():  # self.log without a Trainer: nothing to log to, which is fine here
        warnings.filterwarnings("ignore", message=".*self.log.*")
        return _median_seconds(forward, repeats), _median_seconds(step, repeats)


def data_pairs_per_second(data_args: dict, batches: int) -> float:
    """Training pairs per second of the config's train dataloader in this process, after one batch."""
    data = FlowDataModule(**{**data_args, "num_workers": 0})
    data.setup("fit")
    iterator = iter(data.train_dataloader())
    next(iterator)  # warm-up
    start, pairs = time.perf_counter(), 0
    for _ in range(batches):
        pairs += len(next(iterator)["image1"])
    return pairs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "pwcnet" / "synthetic.yaml")
    parser.add_argument("--steps", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_args, data_args, precision = read_config(args.config)
    if precision not in PRECISIONS:
        raise SystemExit(f"{args.config}: precision {precision!r} is not a CPU precision this benchmark runs")
    batch = training_batch(data_args)
    size, batch_size = tuple(batch["image1"].shape[-2:]), batch["image1"].shape[0]
    print(f"PWC-Net training as {args.config.name}: {size[0]}x{size[1]} crops, batch {batch_size}, "
          f"matching_weight {model_args.get('matching_weight', 0.0)}, {args.threads} threads, median of {args.steps}")
    data_rate = data_pairs_per_second(data_args, max(args.steps, 2))
    print(f"{'what':<42} {'s/batch':>9} {'pairs/s':>9} {'vs forward':>11} {'data/step':>10}")
    runs = {f"config precision ({precision})": PRECISIONS[precision]}
    if PRECISIONS[precision] is not None:
        runs["float32"] = None
    for name, dtype in runs.items():
        forward, step = step_seconds(model_args, batch, dtype, args.steps)
        ratio = data_rate / (batch_size / step)
        print(f"{'forward, ' + name:<42} {forward:>9.3f} {batch_size / forward:>9.2f} {1.0:>11.2f}")
        print(f"{'train step, ' + name:<42} {step:>9.3f} {batch_size / step:>9.2f} {step / forward:>11.2f} "
              f"{ratio:>10.2f}  -> {max(1, math.ceil(1 / ratio))} loader process(es)")
    print(f"{'training data (1 process)':<42} {batch_size / data_rate:>9.3f} {data_rate:>9.2f}")
    print("data/step: pairs/s the data supplies per pair/s the step consumes "
          "(>= 1: one loader process keeps up; else ceil(1 / data/step) processes)")


if __name__ == "__main__":
    main()
