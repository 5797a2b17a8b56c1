"""What running a zoo network costs: parameters, FLOPs, latency, throughput and peak memory per
task and precision, beside this machine's own float32 matmul rate measured in the same run (so
figures from different machines can be compared as fractions of it).

- Tasks, chosen by the architecture's task (:mod:`zoo.catalog.records`): optical flow ``flow``
  (:func:`zoo.models.flow_inference.estimate_flow` on a batch of frame pairs); image generation
  ``elbo`` (a forward pass and the single-sample ELBO, ``log_likelihood`` with K=1) and ``sample``
  (ancestral sampling at temperature 1).
- FLOPs: :class:`torch.utils.flop_counter.FlopCounterMode` over one float32 call: 2 per
  multiply-add of the matrix products and convolutions; elementwise work (activations, norms,
  bias) is not counted. PWC-Net's cost volume is a banded ``bmm``
  (:mod:`zoo.models.pwcnet.cost_volume`) and counts as executed, ``(TILE + 2d) / (2d + 1)`` times the
  products the correlation needs.
- Latency: the median of ``repeats`` timed calls after ``warmup`` untimed ones (CUDA: synchronised);
  throughput = items per call (pairs or images) / median latency.
- Peak memory. CUDA: ``torch.cuda.max_memory_allocated`` during one call minus what was allocated
  before it (tensor memory). CPU: growth of the resident set during the first call in a fresh
  process: after the network and inputs are built, the kernel's high-water mark is reset
  (``/proc/self/clear_refs``, Linux) and ``VmHWM`` after the call minus ``VmRSS`` before it is
  taken. A fresh process because memory freed by earlier calls stays with the allocator and
  would be reused unseen; None where the mark cannot be reset.
- Matmul rate: GFLOP/s of a float32 n x n matmul (2 n^3 FLOPs), median of repeats, same device.
  It normalises, it does not bound: convolutions may beat it (oneDNN's kernels, Winograd), and
  on some CPUs torch's matmul library does not use the widest vector units.
"""

from __future__ import annotations

import concurrent.futures
import functools
import gc
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from zoo.catalog.records import IMAGE_GENERATION, OPTICAL_FLOW
from zoo.models.precision import autocast, bf16_supported, resolve_precision

__all__ = [
    "DEFAULT_FLOW_SIZE",
    "PRECISION_ALIASES",
    "TASKS_OF",
    "Setup",
    "Task",
    "benchmark",
    "build",
    "canonical_precision",
    "count_flops",
    "latencies",
    "machine",
    "matmul_gflops",
    "peak_cuda_growth",
    "peak_memory",
    "peak_rss_growth",
]

#: Frame size (H, W) of the flow task when none is given: MPI-Sintel's.
DEFAULT_FLOW_SIZE = (436, 1024)
PRECISION_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}


def canonical_precision(name: str) -> str:
    """``bf16`` -> ``bfloat16``, ``fp16`` -> ``float16``, ``fp32`` -> ``float32``; others unchanged."""
    return PRECISION_ALIASES.get(name, name)


@dataclass(frozen=True)
class Setup:
    """What a fresh process needs to build the same workload: the network (registry name and
    optional weight file), the input size (H, W; None: the network's default), the batch, the
    device and the CPU threads."""

    name: str
    weights: str | None = None
    size: tuple[int, int] | None = None
    batch: int = 1
    device: str = "cpu"
    threads: int = 1


@dataclass(frozen=True)
class Task:
    """One timed workload: ``run(precision)`` does one call on ``items`` pairs or images of ``size``."""

    name: str
    items: int
    size: tuple[int, int]
    run: Callable[[str], Any]


def build(setup: Setup) -> tuple[torch.nn.Module, list[Task]]:
    """The network of ``setup`` (eval mode, on its device) and the workloads of its architecture's
    task (:data:`TASKS_OF`) on seeded random inputs."""
    import zoo
    from zoo.catalog.registry import architecture

    if setup.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {setup.batch}")
    network = zoo.load(setup.name, weights=setup.weights, map_location=setup.device)
    task = architecture(network.zoo_record.arch).task
    if task not in TASKS_OF:
        raise ValueError(f"zoo benchmark measures {' and '.join(TASKS_OF)} models; {setup.name!r} is "
                         + (f"an {task} model" if task else "a model without a task"))
    generator = torch.Generator().manual_seed(0)
    return network, TASKS_OF[task](network, setup, generator)


def _flow_tasks(network: torch.nn.Module, setup: Setup, generator: torch.Generator) -> list[Task]:
    from zoo.models.flow_inference import estimate_flow

    size = setup.size or DEFAULT_FLOW_SIZE
    if min(size) < 1:
        raise ValueError(f"--size must be positive, got {size}")
    image1, image2 = (torch.rand(setup.batch, 3, *size, generator=generator).to(setup.device) for _ in range(2))
    return [Task("flow", setup.batch, size, lambda precision: estimate_flow(network, image1, image2, precision))]


def _generation_tasks(network: Any, setup: Setup, generator: torch.Generator) -> list[Task]:
    config = network.config
    size = (config.image_size, config.image_size)
    if setup.size is not None and tuple(setup.size) != size:
        raise ValueError(f"--size: {setup.name} takes {size[0]}x{size[1]} images, got {setup.size[0]}x{setup.size[1]}")
    images = torch.rand(setup.batch, config.image_channels, *size, generator=generator)
    if config.decoder_distribution == "bernoulli":
        images = (images < 0.5).float()
    x = network.quantize(images).to(setup.device)
    device = torch.device(setup.device)

    def elbo(precision: str) -> torch.Tensor:
        with autocast(device, precision):
            return network.log_likelihood(x, num_samples=1)

    def sample(precision: str) -> torch.Tensor:
        with autocast(device, precision):
            return network.sample(setup.batch, temperature=1.0)

    return [Task("elbo", setup.batch, size, elbo), Task("sample", setup.batch, size, sample)]


#: The timed workloads of each task (:data:`zoo.catalog.records.TASKS`): ``tasks(network, setup, generator)``.
TASKS_OF: dict[str, Callable[[Any, Setup, torch.Generator], list[Task]]] = {
    OPTICAL_FLOW: _flow_tasks,
    IMAGE_GENERATION: _generation_tasks,
}


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations of one ``fn()`` as FlopCounterMode counts them (2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latencies(fn: Callable[[], Any], repeats: int, warmup: int, device: str | torch.device = "cpu") -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn``, after ``warmup`` untimed calls."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be >= 1 and warmup >= 0, got {repeats} and {warmup}")
    device = torch.device(device)
    for _ in range(warmup):
        fn()
    _synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def matmul_gflops(device: str | torch.device = "cpu", n: int | None = None, repeats: int = 10) -> float:
    """GFLOP/s of a float32 ``n x n`` matmul here (n: 2048 on CPU, 8192 on CUDA), median of repeats
    (the median, as the latencies, so that both see the machine's load alike)."""
    device = torch.device(device)
    n = n or (8192 if device.type == "cuda" else 2048)
    a, b = (torch.randn(n, n, device=device) for _ in range(2))
    return 2 * n ** 3 / statistics.median(latencies(lambda: a @ b, repeats, 1, device)) / 1e9


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def peak_rss_growth(fn: Callable[[], Any]) -> int | None:
    """Bytes the resident set grew to during ``fn()`` over its size before (Linux; None elsewhere)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set
        # the mark itself, not VmRSS read apart from the reset: memory freed in between is not growth
        before = _status_kib("VmHWM")
    except OSError:
        return None
    fn()
    return max(0, _status_kib("VmHWM") - before) * 1024


def peak_cuda_growth(fn: Callable[[], Any], device: torch.device) -> int:
    """Bytes of CUDA tensor memory allocated at the peak of ``fn()`` beyond what was allocated before."""
    _synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    _synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def _first_call_rss_growth(setup: Setup, task: str, precision: str) -> int | None:
    """In a fresh process: :func:`peak_rss_growth` of the first call of ``task``."""
    torch.set_num_threads(setup.threads)
    _, tasks = build(setup)
    run = next(t for t in tasks if t.name == task).run
    gc.collect()
    return peak_rss_growth(lambda: run(precision))


def peak_memory(setup: Setup, task: Task, precision: str) -> int | None:
    """Peak memory of one call of ``task`` in bytes, measured as the module docstring says."""
    device = torch.device(setup.device)
    if device.type == "cuda":
        return peak_cuda_growth(lambda: task.run(precision), device)
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_first_call_rss_growth, setup, task.name, precision).result()


def machine(device: str, matmul: float) -> dict[str, Any]:
    """The facts a reader needs to compare figures across machines."""
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    return {"device": name, "torch": torch.__version__, "native bf16": bf16_supported(dev),
            "float32 matmul GFLOP/s": round(matmul, 1)}


def benchmark(setup: Setup, precisions: Sequence[str], *, repeats: int = 10, warmup: int = 2,
              memory: bool = True) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One row per task and precision, and the machine's facts (:func:`machine`).

    Row keys: ``task``, ``precision``, ``batch``, ``size`` ("HxW"), ``params``, ``gflop`` (per
    call), ``latency_ms`` (median), ``throughput`` (items/s), ``gflops`` (achieved GFLOP/s),
    ``matmul_pct`` (achieved / float32 matmul rate, %), ``peak_mib`` (None without ``memory``).
    """
    network, tasks = build(setup)
    device = torch.device(setup.device)
    precisions = [resolve_precision(canonical_precision(p), device) for p in precisions]
    matmul = matmul_gflops(device)
    params = sum(p.numel() for p in network.parameters())
    rows = []
    for task in tasks:
        flops = count_flops(functools.partial(task.run, "float32"))
        for precision in precisions:
            peak = peak_memory(setup, task, precision) if memory else None
            latency = statistics.median(latencies(functools.partial(task.run, precision), repeats, warmup, device))
            rows.append({"task": task.name, "precision": precision, "batch": task.items,
                         "size": f"{task.size[0]}x{task.size[1]}", "params": params, "gflop": flops / 1e9,
                         "latency_ms": latency * 1e3, "throughput": task.items / latency,
                         "gflops": flops / latency / 1e9, "matmul_pct": 100 * flops / latency / 1e9 / matmul,
                         "peak_mib": None if peak is None else peak / 2 ** 20})
    return rows, machine(setup.device, matmul)
