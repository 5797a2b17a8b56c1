"""PWC-Net inference speed on CPU at Sintel resolution (436x1024), all figures from one process.

Run from the repository root::

    python -m benchmarks.pwcnet_inference [--threads N] [--repeats 3] [--compile]

Prints: the machine (bf16 units, oneDNN), the float32/bf16 matmul rate measured here, the
convolution FLOPs, the time of a plain implementation (NCHW, shifted-slice correlation, separate
pyramids, nothing tuned), of our forward in float32 (NCHW and channels_last) and in bf16 CPU
autocast, of ptlflow's ``pwcnet`` when it is importable, the cost volume's share of the forward,
the candidate cost-volume formulations, and the flow drift of each mode on the fixture frames.

Weights: the bundled ``pwcnet.synth`` (trained, so the bf16 drift is that of a working model), in
float32. Frames: the Sintel pair of the PWC-Net fixture (``../shared/fixtures/pwcnet``), or random
images when it is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zoo.models.flow_inference import estimate_flow
from zoo.models.precision import bf16_supported, cpu_flags
from zoo.models.pwcnet import network as network_module
from zoo.models.pwcnet.cost_volume import cost_volume, cost_volume_unfold
from zoo.models.pwcnet.network import FLOW_SCALE, PWCNet
from zoo.weights.loader import load

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "pwcnet"


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    return best_times({"fn": fn}, repeats)["fn"]


def best_times(candidates: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Fastest of ``repeats`` timed calls of each candidate, after one warm-up call each.

    The rounds interleave the candidates, so that a burst of load from other processes on a
    shared machine slows one round of all of them rather than every call of one of them.
    """
    for fn in candidates.values():
        fn()
    best = dict.fromkeys(candidates, float("inf"))
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def matmul_gflops(dtype: torch.dtype, repeats: int, n: int = 2048) -> float:
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    return 2 * n ** 3 / best_time(lambda: a @ b, repeats) / 1e9


def conv_gflop(network: PWCNet, height: int, width: int) -> float:
    """Multiply-adds x 2 of every (transposed) convolution in one forward at height x width."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.ConvTranspose2d):
            spatial = inputs[0].shape[-2] * inputs[0].shape[-1]
        else:
            spatial = output.shape[-2] * output.shape[-1]
        kh, kw = module.kernel_size
        total += 2 * output.shape[0] * module.in_channels * module.out_channels * kh * kw * spatial

    handles = [m.register_forward_hook(count) for m in network.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    with torch.inference_mode():
        network.forward_levels(torch.zeros(1, 3, height, width), torch.zeros(1, 3, height, width))
    for handle in handles:
        handle.remove()
    return total / 1e9


# ---- the plain baseline: NCHW, shifted-slice correlation, nothing tuned -----------------------------

def _plain_conv(state, name, x, stride=1, dilation=1, relu=True):
    x = F.conv2d(x, state[name + ".weight"], state[name + ".bias"], stride=stride, padding=dilation, dilation=dilation)
    return F.leaky_relu(x, 0.1) if relu else x


def _plain_deconv(state, name, x):
    return F.conv_transpose2d(x, state[name + ".weight"], state[name + ".bias"], stride=2, padding=1)


def _plain_correlation(f1, f2):
    return F.leaky_relu(cost_volume_shifted_slices(f1, f2), 0.1)


def _plain_warp(x, flow):
    h, w = x.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    grid = torch.stack((2 * (xs + flow[:, 0]) / (w - 1) - 1, 2 * (ys + flow[:, 1]) / (h - 1) - 1), -1)
    out = F.grid_sample(x, grid, align_corners=True)
    mask = F.grid_sample(torch.ones_like(x), grid, align_corners=True)
    return out * (mask >= 0.9999)


def plain_flow(state: dict[str, torch.Tensor], image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """Full-resolution flow (px) of RGB images in [0, 1], written the obvious way."""
    height, width = image1.shape[-2:]
    h64, w64 = -(-height // 64) * 64, -(-width // 64) * 64
    pyramids = []
    for image in (image1, image2):
        x = F.interpolate(image.flip(1), size=(h64, w64), mode="bilinear", align_corners=False)
        levels = []
        for level in range(6):
            for index in range(3):
                x = _plain_conv(state, f"features.levels.{level}.{index}", x, stride=2 if index == 0 else 1)
            levels.append(x)
        pyramids.append(levels)
    up_flow = up_feat = None
    for level in (6, 5, 4, 3, 2):
        f1, f2 = pyramids[0][level - 1], pyramids[1][level - 1]
        if up_flow is not None:
            f2 = _plain_warp(f2, up_flow * (FLOW_SCALE / 2 ** level))
        corr = _plain_correlation(f1, f2)
        x = corr if up_flow is None else torch.cat((corr, f1, up_flow, up_feat), 1)
        for index in range(5):
            x = torch.cat((_plain_conv(state, f"decoders.{level}.convs.{index}", x), x), 1)
        flow = _plain_conv(state, f"decoders.{level}.predict_flow", x, relu=False)
        if level > 2:
            up_flow = _plain_deconv(state, f"decoders.{level}.upsample_flow", flow)
            up_feat = _plain_deconv(state, f"decoders.{level}.upsample_features", x)
    for index, dilation in enumerate((1, 2, 4, 8, 16, 1)):
        x = _plain_conv(state, f"context.{index}", x, dilation=dilation)
    flow = flow + _plain_conv(state, "context.6", x, relu=False)
    flow = F.interpolate(flow * FLOW_SCALE, size=(height, width), mode="bilinear", align_corners=False)
    return flow * torch.tensor([width / w64, height / h64]).view(1, 2, 1, 1)


# ---- cost-volume formulations ---------------------------------------------------------------------

def cost_volume_shifted_slices(f1, f2, r=4):
    """One elementwise product and channel sum per displacement (81 memory-bound passes)."""
    padded = F.pad(f2, (r, r, r, r))
    h, w = f1.shape[-2:]
    out = [(f1 * padded[:, :, dy:dy + h, dx:dx + w]).sum(1) for dy in range(2 * r + 1) for dx in range(2 * r + 1)]
    return torch.stack(out, 1) / f1.shape[1]


def cost_volume_band_matmul(f1, f2, r=4):
    """Per row offset dy: a (1 x C) @ (C x 9) matmul per pixel (the band gathered per pixel)."""
    b, c, h, w = f1.shape
    size = 2 * r + 1
    padded = F.pad(f2, (r, r, r, r))
    rows = f1.permute(0, 2, 3, 1).reshape(b * h * w, 1, c)
    out = []
    for dy in range(size):
        band = padded[:, :, dy:dy + h].unfold(3, size, 1).permute(0, 2, 3, 1, 4).reshape(b * h * w, c, size)
        out.append(torch.bmm(rows, band).view(b, h, w, size))
    return torch.stack(out, 3).view(b, h, w, size * size).permute(0, 3, 1, 2) / c


def compare_cost_volumes(repeats: int) -> None:
    print("\ncost volume formulations (ms per call at the level shapes of a 448x1024 input; max |diff| vs float64)")
    shapes = {2: (32, 112, 256), 3: (64, 56, 128), 4: (96, 28, 64), 5: (128, 14, 32), 6: (196, 7, 16)}
    candidates = {"tiled band bmm (ours)": cost_volume, "shifted slices": cost_volume_shifted_slices,
                  "unfold": cost_volume_unfold, "per-pixel band bmm": cost_volume_band_matmul}
    totals = dict.fromkeys(candidates, 0.0)
    for level, (c, h, w) in shapes.items():
        f1, f2 = torch.randn(2, 1, c, h, w).unbind(0)
        reference = cost_volume(f1.double(), f2.double())
        seconds = best_times({name: functools.partial(fn, f1, f2) for name, fn in candidates.items()}, repeats)
        cells = []
        for name, fn in candidates.items():
            totals[name] += seconds[name]
            error = (fn(f1, f2).double() - reference).abs().max().item()
            cells.append(f"{name} {seconds[name] * 1e3:7.2f} ({error:.0e})")
        print(f"  level {level} C={c:3d} {h:3d}x{w:3d}: " + " | ".join(cells))
    print("  total: " + " | ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in totals.items()))


@contextlib.contextmanager
def timed_cost_volume():
    """Adds up the wall time of every cost-volume call of the network inside the block."""
    record = {"seconds": 0.0}
    original = network_module.cost_volume

    def timed(*args, **kwargs):
        start = time.perf_counter()
        result = original(*args, **kwargs)
        record["seconds"] += time.perf_counter() - start
        return result

    network_module.cost_volume = timed
    try:
        yield record
    finally:
        network_module.cost_volume = original


def cost_volume_share(forward: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(seconds in the cost volume, seconds in all) of the fastest of ``repeats`` timed calls of
    ``forward``, after one untimed warm-up call; both figures come from the same call."""
    forward()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        with timed_cost_volume() as record:
            start = time.perf_counter()
            forward()
            total = time.perf_counter() - start
        if total < best[1]:
            best = (record["seconds"], total)
    return best


def load_inputs(height: int, width: int):
    """(state dict, frame 1, frame 2, description): the bundled weights and the fixture's Sintel frames."""
    state = {k: v.float() for k, v in load("pwcnet.synth").state_dict().items()}
    if SHARED.is_dir():
        frames = np.load(SHARED / "fixture_b_full436x1024.npz")["frames_rgb_u8"]
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0
        images = F.interpolate(images, size=(height, width), mode="bilinear") if images.shape[-2:] != (height, width) else images
        return state, images[:1], images[1:], "bundled pwcnet.synth weights (float32), fixture Sintel frames"
    torch.manual_seed(0)
    return state, torch.rand(1, 3, height, width), torch.rand(1, 3, height, width), \
        "bundled pwcnet.synth weights (float32), random frames"


def ptlflow_runner(state, image1, image2) -> Callable[[], object] | None:
    """A call of ptlflow's ``pwcnet`` with the same weights, or None when ptlflow is not importable."""
    try:
        import ptlflow  # noqa: F401
        from ptlflow.models.pwcnet.pwcnet import pwcnet
    except Exception as error:  # noqa: BLE001 - any import failure means "not available here"
        print(f"  ptlflow pwcnet               : not importable ({type(error).__name__}); skipped")
        return None
    from zoo.models.pwcnet.convert import nvlabs_names

    model = pwcnet().eval()
    ours_to_theirs = {ours: theirs for theirs, ours in nvlabs_names().items()}
    model.load_state_dict({ours_to_theirs[k]: v for k, v in state.items()})
    # ptlflow 0.4.2 flips its (nominally BGR) input before conv1a: RGB in, BGR to the network, as ours
    inputs = {"images": torch.stack((image1, image2), 1)}

    def run():
        with torch.inference_mode():
            return model(inputs)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--height", type=int, default=436)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = cpu_flags()
    print(f"torch {torch.__version__}, {args.threads} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"oneDNN {torch.backends.mkldnn.is_available()}, bf16 units (oneDNN): {bf16_supported(torch.device('cpu'))}, "
          f"cpu flags: {', '.join(f for f in ('avx512_bf16', 'amx_bf16', 'amx_tile', 'avx512_fp16') if f in flags) or 'none of avx512_bf16/amx'}")
    state, image1, image2, source = load_inputs(args.height, args.width)
    print(f"inputs: {source}, {args.height}x{args.width}")

    network = PWCNet().eval()
    network.load_state_dict(state)
    gflop = conv_gflop(network, -(-args.height // 64) * 64, -(-args.width // 64) * 64)
    mm32, mm16 = matmul_gflops(torch.float32, args.repeats), matmul_gflops(torch.bfloat16, args.repeats)
    print(f"matmul: float32 {mm32:.0f} GFLOP/s, bfloat16 {mm16:.0f} GFLOP/s; convolutions: {gflop:.1f} GFLOP per forward")

    channels_last = PWCNet().eval().to(memory_format=torch.channels_last)
    channels_last.load_state_dict(state)
    modes = {
        "ours float32 NCHW": (network, "float32"),
        "ours float32 channels_last": (channels_last, "float32"),
        "ours bf16 autocast NCHW": (network, "bfloat16"),
        "ours bf16 autocast channels_last": (channels_last, "bfloat16"),
    }
    # ptlflow's own pipeline (RGB at conv1a, align_corners=True resizes, x4 upsampling), as
    # zoo.load runs it for ptlflow's pwcdcnet files: the like-for-like comparison with ptlflow
    ptlflow_pipeline = PWCNet(channel_order="RGB", pipeline="ptlflow").eval()
    ptlflow_pipeline.load_state_dict(state)
    modes["ours float32, ptlflow pipeline"] = (ptlflow_pipeline, "float32")
    modes["ours bf16, ptlflow pipeline"] = (ptlflow_pipeline, "bfloat16")
    if args.compile:
        modes["ours float32 torch.compile"] = (torch.compile(network), "float32")
    candidates = {"plain (NCHW, nothing tuned)": functools.partial(plain_flow, state, image1, image2)}
    candidates.update({name: functools.partial(estimate_flow, net, image1, image2, precision=precision)
                       for name, (net, precision) in modes.items()})
    ptlflow = ptlflow_runner(state, image1, image2)
    if ptlflow is not None:
        candidates["ptlflow pwcnet"] = ptlflow
    with torch.inference_mode():
        times = best_times(candidates, args.repeats)
        reference = network(image1, image2)
        flows = {name: fn() for name, fn in candidates.items() if name != "ptlflow pwcnet" and "ptlflow pipeline" not in name}
    plain = times["plain (NCHW, nothing tuned)"]
    print()
    for name, seconds in times.items():
        precision = modes.get(name, (None, "float32"))[1]
        rate = mm16 if precision == "bfloat16" else mm32
        drift = f"  mean EPE vs ours float32 {(flows[name] - reference).norm(dim=1).mean().item():.1e} px" if name in flows else ""
        print(f"  {name:32s}: {seconds:6.3f} s  {gflop / seconds:5.0f} GFLOP/s ({gflop / seconds / rate:4.0%} of "
              f"{precision} matmul)  {seconds / plain:.2f}x plain{drift}")
    if ptlflow is not None:
        for name in ("ours float32 NCHW", "ours float32, ptlflow pipeline", "ours bf16, ptlflow pipeline"):
            print(f"  {name} / ptlflow: {times[name] / times['ptlflow pwcnet']:.2f}")
    best32 = min(times["ours float32 NCHW"], times["ours float32 channels_last"])
    best16 = min(times["ours bf16 autocast NCHW"], times["ours bf16 autocast channels_last"])
    print(f"\n  ours float32 (best layout) / plain: {best32 / plain:.2f};  bf16 / float32 (best layouts): {best16 / best32:.2f}")

    for precision in ("float32", "bfloat16"):
        inside, total = cost_volume_share(
            functools.partial(estimate_flow, network, image1, image2, precision=precision), args.repeats)
        print(f"  cost volume share of the {precision} forward: {inside / total:.1%} "
              f"({inside * 1e3:.0f} ms of {total * 1e3:.0f} ms, fastest of {args.repeats} calls after a warm-up)")
    compare_cost_volumes(args.repeats)


if __name__ == "__main__":
    main()
