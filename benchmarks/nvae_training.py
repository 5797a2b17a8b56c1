"""NVAE training steps through ``NVAEModule.compute_loss``: the MNIST preset and ``mnist-cpu``.

One optimiser step = posterior pass, reconstruction + warmed-up balanced KL, spectral and
batch-norm regularisers, backward, Adamax step with the module's parameter groups. Each case
runs in a fresh subprocess so that its peak RSS is its own; on a GPU the peak is
``torch.cuda.max_memory_allocated``. Times are medians over ``--steps`` steps after one warm-up
step, and are also given as a ratio to the MNIST preset at its batch size (the baseline,
measured in the same run; the first of ``--cases``).

    python -m benchmarks.nvae_training [--steps 3] [--threads 1] [--device cpu|cuda]
        [--precision 32 [bf16] [16]] [--cases mnist mnist-cpu]

Precisions: ``32`` float32 without autocast, ``bf16`` bfloat16 autocast, ``16`` float16 autocast
(CUDA only); each row is labelled with the one it ran.

Cases (``--cases``): the released MNIST preset (33 M parameters) at its batch of 200 per
process, and ``configs/nvae/mnist-cpu.yaml`` at its batch of 32.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
#: ``--precision`` choice -> autocast dtype (None: float32, no autocast) and the label it prints.
AUTOCAST = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}
LABELS = {"32": "fp32", "bf16": "bf16-autocast", "16": "fp16-autocast"}


def _cases(names: list[str]) -> dict[str, tuple[dict, int]]:
    """name -> (``NVAEModule`` arguments, batch size), read from the shipped YAML configs."""
    cases = {}
    for name in names:
        cfg = yaml.safe_load((ROOT / "configs" / "nvae" / f"{name}.yaml").read_text())
        cases[name] = (cfg["model"]["init_args"], cfg["data"]["init_args"]["batch_size"])
    return cases


def _run_case(module_args: dict, batch_size: int, steps: int, threads: int, device: str,
              precision: str, queue: mp.Queue) -> None:
    from zoo.models.nvae.module import NVAEModule

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    module = NVAEModule(**{**module_args, "sample_every_n_steps": 0}).to(device)
    hp = module.hparams
    decayed = [p for n, p in module.network.named_parameters()
               if hp.decay_weight_norm or not n.endswith("log_weight_norm")]
    norms = [p for n, p in module.network.named_parameters()
             if not hp.decay_weight_norm and n.endswith("log_weight_norm")]
    # the optimiser of NVAEModule.configure_optimizers (which needs a Trainer for its schedule)
    optimizer = torch.optim.Adamax([{"params": decayed, "weight_decay": hp.weight_decay},
                                    {"params": norms, "weight_decay": 0.0}], lr=hp.learning_rate, eps=hp.eps)
    x = torch.bernoulli(torch.full((batch_size, 1, 32, 32), 0.13)).to(device)
    dtype = AUTOCAST[precision]
    times = []
    for _ in range(steps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            loss, _ = module.compute_loss(x, step=100, total_steps=1000)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
               else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    queue.put({"step_s": statistics.median(times[1:]), "peak_mb": peak_mb,
               "params": sum(p.numel() for p in module.network.parameters())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", nargs="+", choices=tuple(AUTOCAST), default=["32"],
                        help="32: float32; bf16: bf16 autocast; 16: fp16 autocast (cuda); "
                             "several run every case at each")
    parser.add_argument("--cases", nargs="+", default=["mnist", "mnist-cpu"],
                        help="configs/nvae/<case>.yaml to run; the first is the baseline")
    args = parser.parse_args()
    if "16" in args.precision and args.device != "cuda":
        parser.error("--precision 16 (float16 autocast) runs on cuda only")
    context = mp.get_context("spawn")
    results = {}
    for name, (module_args, batch_size) in _cases(args.cases).items():
        for precision in args.precision:
            queue = context.Queue()
            process = context.Process(target=_run_case, args=(module_args, batch_size, args.steps,
                                                               args.threads, args.device,
                                                               precision, queue))
            process.start()
            results[f"{name}/{LABELS[precision]}"] = (batch_size, queue.get())
            process.join()
    baseline = next(iter(results))
    base_step = results[baseline][1]["step_s"]
    print(f"device {args.device}, {args.threads} thread(s), median of {args.steps} steps after "
          f"one warm-up; case/precision")
    print(f"{'case':<24} {'params':>11} {'batch':>5} {'step s':>8} {'img/s':>7} "
          f"{'vs ' + baseline:>28} {'peak MB':>8}")
    for name, (batch_size, r) in results.items():
        print(f"{name:<24} {r['params']:>11,} {batch_size:>5} {r['step_s']:>8.3f} "
              f"{batch_size / r['step_s']:>7.1f} {r['step_s'] / base_step:>28.3f} "
              f"{r['peak_mb']:>8.0f}")


if __name__ == "__main__":
    main()
