"""One prepared device check of the zoo: both architectures and the flow supervisor, in a few minutes.

Each row is one check; a check that raises is reported as FAILED and the exit status is 1.

* PWC-Net (``pwcnet.synth``) at 1024x436 (Sintel / KITTI-like frames): inference frame pairs per
  second and peak memory in float32, bfloat16 and float16 autocast (the flow's mean end-point
  difference to float32 beside them), ``torch.compile`` (difference to eager), and one training
  step (all levels at 1024x448, multi-scale loss, backward, Adam);
* the flow supervisor (:class:`zoo.supervision.FlowSupervisor`): forward + backward to the
  frames in float32 and bfloat16; on CUDA under ``torch.cuda.set_sync_debug_mode("error")``, so
  a host synchronisation fails the check;
* NVAE: one training step (``NVAEModule.compute_loss``, backward, Adamax) of the MNIST preset
  (``configs/nvae/mnist.yaml``, batch 200) and sampling of 64 images.

Peak memory is ``torch.cuda.max_memory_allocated`` per check on CUDA; on CPU the process's peak
RSS so far (it only grows). ``--tiny`` shrinks every size (64x96 frames, the ``mnist-cpu``
NVAE, batch 4) so that CI runs the same code on a CPU in about a minute, compile excepted
(``--compile`` turns it on there; on CUDA it is on unless ``--no-compile``).

    python -m benchmarks.gpu_check [--device cuda] [--tiny] [--compile | --no-compile] [--repeats 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

import zoo
from zoo.models.pwcnet.loss import multiscale_loss
from zoo.models.pwcnet.pipeline import STRIDE
from zoo.supervision import FlowSupervisor

ROOT = Path(__file__).resolve().parents[1]
FULL_SIZE = (436, 1024)
TINY_SIZE = (64, 96)
AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class Row:
    check: str
    rate: str = "-"
    peak_mb: float | None = None
    note: str = ""
    failed: bool = False


class Checker:
    """Runs the checks on one device and collects their rows."""

    def __init__(self, device: torch.device, repeats: int) -> None:
        self.device, self.repeats = device, repeats
        self.rows: list[Row] = []

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def seconds(self, fn: Callable[[], object]) -> float:
        """Median seconds of ``fn`` over the repeats, after one warm-up."""
        fn()
        times = []
        for _ in range(self.repeats):
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def run(self, name: str, check: Callable[[], tuple[str, str]]) -> None:
        """Run ``check`` (returns (rate, note)); a raised exception becomes a FAILED row."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            rate, note = check()
            self.rows.append(Row(name, rate, self.peak_mb(), note))
        except Exception as error:  # noqa: BLE001 - a check report: every failure is a row, the others still run
            traceback.print_exc()
            self.rows.append(Row(name, note=f"FAILED: {type(error).__name__}: {str(error).splitlines()[0][:120]}",
                                 failed=True))


def _frames(size: tuple[int, int], device: torch.device, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    image1 = torch.rand(batch, 3, *size, generator=generator)
    return image1.to(device), torch.roll(image1, shifts=(3, 5), dims=(2, 3)).to(device)


def _epe(flow: torch.Tensor, reference: torch.Tensor) -> float:
    return float((flow.float() - reference.float()).norm(dim=1).mean())


def pwcnet_checks(checker: Checker, size: tuple[int, int], compile_network: bool) -> None:
    device = checker.device
    network = zoo.load("pwcnet.synth", map_location=device)
    frames = _frames(size, device)
    with torch.no_grad():
        reference = network(*frames)
    for precision, dtype in AUTOCAST.items():
        if precision == "float16" and device.type != "cuda":
            continue

        def infer(dtype=dtype) -> torch.Tensor:
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                return network(*frames)

        def check(infer=infer) -> tuple[str, str]:
            seconds = checker.seconds(infer)
            return f"{1 / seconds:.2f} pairs/s", f"EPE to float32 {_epe(infer(), reference):.4f} px"

        checker.run(f"pwcnet forward {precision} {size[1]}x{size[0]}", check)
    if compile_network:
        def compiled_check() -> tuple[str, str]:
            compiled = torch.compile(network)
            started = time.perf_counter()
            with torch.no_grad():
                flow = compiled(*frames)
            first = time.perf_counter() - started

            def infer() -> None:
                with torch.no_grad():
                    compiled(*frames)

            return (f"{1 / checker.seconds(infer):.2f} pairs/s",
                    f"first call {first:.0f} s; EPE to eager {_epe(flow, reference):.2e} px")

        checker.run(f"pwcnet forward compiled float32 {size[1]}x{size[0]}", compiled_check)

    train_size = tuple(-(-side // STRIDE) * STRIDE for side in size)  # forward_levels takes multiples of 64

    def training_step() -> tuple[str, str]:
        trainable = zoo.load("pwcnet.synth", map_location=device).train()
        optimizer = torch.optim.Adam(trainable.parameters(), lr=1e-6)
        image1, image2 = _frames(train_size, device, batch=2)
        target = torch.zeros(2, 2, *train_size, device=device)

        def step() -> None:
            loss, _ = multiscale_loss(trainable.forward_levels(image1, image2), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return f"{2 / checker.seconds(step):.2f} pairs/s", "batch 2, multi-scale loss, Adam"

    checker.run(f"pwcnet training step float32 {train_size[1]}x{train_size[0]}", training_step)


def supervisor_checks(checker: Checker, size: tuple[int, int]) -> None:
    device = checker.device
    frames = _frames(size, device)
    for precision in ("float32", "bfloat16"):
        supervisor = FlowSupervisor("pwcnet.synth", precision=precision, device=device)

        def step(supervisor=supervisor) -> None:
            image1, image2 = (frame.detach().requires_grad_(True) for frame in frames)
            supervisor(image1, image2).square().mean().backward()

        def check(step=step) -> tuple[str, str]:
            step()  # warm-up outside the sync check: first calls may allocate and synchronise
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
                try:
                    step()
                finally:
                    torch.cuda.set_sync_debug_mode("default")
                note = "no host synchronisation (sync debug mode 'error')"
            else:
                note = "sync count needs CUDA"
            return f"{1 / checker.seconds(step):.2f} pairs/s", note

        checker.run(f"supervisor forward+backward {precision} {size[1]}x{size[0]}", check)


def nvae_checks(checker: Checker, tiny: bool) -> None:
    from zoo.models.nvae.module import NVAEModule

    device = checker.device
    preset = "mnist-cpu" if tiny else "mnist"
    config = yaml.safe_load((ROOT / "configs" / "nvae" / f"{preset}.yaml").read_text())
    batch = 4 if tiny else config["data"]["init_args"]["batch_size"]
    torch.manual_seed(0)
    module = NVAEModule(**{**config["model"]["init_args"], "sample_every_n_steps": 0}).to(device)
    optimizer = torch.optim.Adamax(module.network.parameters(), lr=1e-3, eps=1e-3)
    x = torch.bernoulli(torch.full((batch, 1, 32, 32), 0.13)).to(device)

    def training_step() -> tuple[str, str]:
        def step() -> None:
            loss, _ = module.compute_loss(x, step=100, total_steps=1000)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        seconds = checker.seconds(step)
        return f"{batch / seconds:.1f} images/s", f"{preset}, batch {batch}, {seconds * 1e3:.0f} ms/step"

    checker.run(f"nvae training step {preset}", training_step)
    count = 8 if tiny else 64

    def sampling() -> tuple[str, str]:
        module.eval()
        generator = torch.Generator(device).manual_seed(0)
        images = module.network.sample(count, generator=generator)
        if images.shape != (count, 1, 32, 32) or not torch.isfinite(images).all():
            raise ValueError(f"samples of shape {tuple(images.shape)}, finite: {bool(torch.isfinite(images).all())}")
        return f"{count / checker.seconds(lambda: module.network.sample(count)):.1f} images/s", f"{count} samples"

    checker.run(f"nvae sampling {preset}", sampling)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="small sizes: a CPU smoke test of the same code")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="include torch.compile (default: on CUDA only)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    size = TINY_SIZE if args.tiny else FULL_SIZE
    compile_network = args.compile if args.compile is not None else device.type == "cuda"
    started = time.perf_counter()
    checker = Checker(device, 1 if args.tiny else args.repeats)
    pwcnet_checks(checker, size, compile_network)
    supervisor_checks(checker, size)
    nvae_checks(checker, args.tiny)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"zoo gpu check on {name} (torch {torch.__version__}), {time.perf_counter() - started:.0f} s")
    width = max(len(row.check) for row in checker.rows)
    memory = "peak MiB" if device.type == "cuda" else "peak RSS MiB"
    print(f"{'check':{width}}  {'rate':>16}  {memory:>12}  note")
    for row in checker.rows:
        peak = f"{row.peak_mb:12.0f}" if row.peak_mb is not None else f"{'-':>12}"
        print(f"{row.check:{width}}  {row.rate:>16}  {peak}  {row.note}")
    return 1 if any(row.failed for row in checker.rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
