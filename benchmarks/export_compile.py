"""torch.compile and ONNX Runtime against eager PyTorch, for both networks, all in one process.

Run from the repository root (ONNX rows need ``pip install -e ".[export]"``)::

    python -m benchmarks.export_compile [--threads N] [--repeats 5] [--skip-onnx]

Rows, each against eager PyTorch (float32, no autograd) measured in the same run:

* PWC-Net ``pwcnet.synth`` on the demo's held-out 384x512 pair, batch 1;
* NVAE ``nvae.mnist-cpu``: the sampling graph (noise -> logits) and the posterior pass, batch 64.

For ``torch.compile`` (inductor): the first call's time (compilation included), the steady-state
time and its speed-up over eager. For ONNX Runtime (CPU provider, as many intra-op threads as
torch): the export time, the steady-state time and the ratio. Accuracy against eager: mean
end-point difference (PWC-Net, px) or max |difference| of the outputs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import zoo
from benchmarks.pwcnet_inference import best_times
from zoo.cli.demo_flow import DEMO_SEED, DEMO_SIZE
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.models.nvae.graphs import PosteriorGraph, SamplingGraph, example_noise
from zoo.publish.onnx_export import export_onnx


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def _difference(name: str, got: np.ndarray, expected: np.ndarray) -> str:
    if name.startswith("pwcnet"):
        return f"mean EPE difference {np.linalg.norm(got - expected, axis=1).mean():.2e} px"
    return f"max |difference| {np.abs(got - expected).max():.2e}"


def _onnx_runner(network: torch.nn.Module, arch: str, part: str, inputs: tuple, workdir: Path,
                 threads: int) -> tuple[float, Callable[[], np.ndarray]]:
    """(export seconds, a call of the exported graph in onnxruntime on ``inputs``)."""
    import onnxruntime as ort

    path = workdir / f"{arch}-{part}.onnx"
    size = tuple(inputs[0].shape[-2:]) if arch == "pwcnet" else None
    seconds, _ = _timed(lambda: export_onnx(network, path, part=part, size=size, batch_size=inputs[0].shape[0]))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {spec.name: tensor.numpy() for spec, tensor in zip(session.get_inputs(), inputs)}
    return seconds, lambda: session.run(None, feed)[0]


def bench(name: str, network: torch.nn.Module, arch: str, part: str, module: torch.nn.Module, inputs: tuple,
          repeats: int, threads: int, onnx: bool, workdir: Path) -> None:
    """Print the rows of one graph: eager, torch.compile, onnxruntime."""
    first = lambda out: out[0] if isinstance(out, tuple) else out  # the graphs' first output
    with torch.no_grad():
        eager = lambda: first(module(*inputs))
        compiled_module = torch.compile(module)
        compile_s, _ = _timed(lambda: compiled_module(*inputs))
        compiled = lambda: first(compiled_module(*inputs))
        candidates = {"eager": eager, "torch.compile": compiled}
        export_s = None
        if onnx:
            export_s, candidates["onnxruntime"] = _onnx_runner(network, arch, part, inputs, workdir, threads)
        times = best_times(candidates, repeats)
        reference = eager().numpy()
        outputs = {key: (fn().numpy() if key != "onnxruntime" else fn()) for key, fn in candidates.items()}
    print(f"\n{name}")
    print(f"  eager PyTorch      : {times['eager'] * 1e3:8.1f} ms  (baseline)")
    print(f"  torch.compile      : {times['torch.compile'] * 1e3:8.1f} ms  speed-up {times['eager'] / times['torch.compile']:.2f}x; "
          f"first call {compile_s:.1f} s (compile); {_difference(name, outputs['torch.compile'], reference)}")
    if onnx:
        print(f"  onnxruntime (CPU)  : {times['onnxruntime'] * 1e3:8.1f} ms  speed-up {times['eager'] / times['onnxruntime']:.2f}x; "
              f"export {export_s:.1f} s; {_difference(name, outputs['onnxruntime'], reference)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-onnx", action="store_true", help="only eager and torch.compile")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, float32, CPU")

    pwcnet = zoo.load("pwcnet.synth")
    item = SyntheticFlow(size=DEMO_SIZE, length=1, seed=DEMO_SEED)[0]
    frames = (item["image1"][None], item["image2"][None])
    vae = zoo.load("nvae.mnist-cpu")
    noise = example_noise(vae, 64, torch.Generator().manual_seed(0))
    digits = (torch.rand(64, 1, 32, 32, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    with tempfile.TemporaryDirectory() as workdir:
        cases = (("pwcnet.synth 384x512, batch 1", pwcnet, "pwcnet", "flow", pwcnet, frames),
                 ("nvae.mnist-cpu sampling (noise -> logits), batch 64", vae, "nvae", "sample", SamplingGraph(vae), noise),
                 ("nvae.mnist-cpu posterior pass, batch 64", vae, "nvae", "posterior", PosteriorGraph(vae), (digits, *noise)))
        for name, network, arch, part, module, inputs in cases:
            torch._dynamo.reset()
            bench(name, network, arch, part, module.eval(), inputs, args.repeats, args.threads, not args.skip_onnx,
                  Path(workdir))


if __name__ == "__main__":
    main()
