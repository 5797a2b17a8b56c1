"""Writes ``tests/data/published_pipelines.npz``: the flows that ptlflow 0.4.2 (``pwcnet`` and
``pwcnet_nodc``) and sniklaus/pytorch-pwc's ``run.py`` compute, with their own code, for the
fixture's recipe weights (``../shared/fixtures/pwcnet/RECIPE.md``) on two real frame pairs of
``../shared``. ``tests/models/pwcnet/test_published_pipelines.py`` checks that ``zoo.load`` of the same
weights in each source's file layout gives the same flows.

Neither project's code is stored here or in the data file: this script imports ptlflow from the
environment it runs in and executes a ``run.py`` the caller points to, replacing only what needs
a GPU or the network (CUDA calls, the CuPy correlation kernel, the weight download) and the two
asserts that ``estimate`` asks to be commented out for other frame sizes. Run it in a side
environment (torch 2.13 CPU; ptlflow 0.4.2 installed with ``--no-deps`` plus lightning, loguru,
einops, scipy, torchmetrics, jsonargparse, requests, pyyaml, opencv):

    PYTHONPATH=. /tmp/ptlflow-venv/bin/python -m tests.support.published_pipelines_reference \\
        --sniklaus-run /path/to/sniklaus/pytorch-pwc/run.py

Every source runs in float32 on one CPU thread, as their scripts run (in float32).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from tests.support.pwcnet_recipe import official_checkpoint, recipe_nvlabs

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
FIXTURE_DIR = SHARED / "fixtures" / "pwcnet"
OUTPUT = Path(__file__).resolve().parents[1] / "data" / "published_pipelines.npz"
#: Crops (rows, columns) of the Sintel pair: sides that are not multiples of 64, unequal scale
#: factors, and the image's bottom-left border.
SINTEL_CROPS = {"sintel-crop": (slice(120, 320), slice(380, 680)), "sintel-corner": (slice(336, 436), slice(0, 130))}
#: ptlflow's correlation returns NaN where a frame side is at most 64 px (a 1-pixel level 6), so
#: the 50x50 FlyingChairs pair has a reference only for sniklaus.
PTLFLOW_MIN_SIDE = 65


def frame_pairs() -> dict[str, np.ndarray]:
    """``{pair name: (2, H, W, 3) uint8 RGB}``: two crops of the NVlabs Sintel frames of the
    fixture (:data:`SINTEL_CROPS`) and the 50x50 FlyingChairs pair (smaller than the stride)."""
    sintel = np.load(FIXTURE_DIR / "fixture_b_full436x1024.npz")["frames_rgb_u8"]
    chairs_dir = SHARED / "data" / "flow_samples" / "chairs_crop"
    chairs = np.stack([np.asarray(Image.open(chairs_dir / f"00001_img{i}.ppm").convert("RGB")) for i in (1, 2)])
    pairs = {name: np.ascontiguousarray(sintel[(slice(None), *crop)]) for name, crop in SINTEL_CROPS.items()}
    return {**pairs, "chairs": chairs}


def frames_digest(frames: np.ndarray) -> str:
    """sha256 of the (2, H, W, 3) uint8 frames, so the test knows it reads the same pixels."""
    return hashlib.sha256(np.ascontiguousarray(frames, dtype=np.uint8).tobytes()).hexdigest()


def recipe_float32() -> dict[str, torch.Tensor]:
    return {key: value.float() for key, value in recipe_nvlabs(FIXTURE_DIR).items()}


def ptlflow_checkpoint(context: bool) -> dict:
    """The recipe as a ptlflow checkpoint; without the context network for ``pwcnet_nodc``."""
    checkpoint = official_checkpoint(recipe_float32(), "ptlflow")
    if not context:
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("dc_conv")}
    return checkpoint


@functools.cache
def _import_ptlflow_pwcnet() -> types.ModuleType:
    """ptlflow's ``models/pwcnet/pwcnet.py``, without running ``ptlflow/__init__.py`` and
    ``ptlflow/models/__init__.py`` (they import every model and its dependencies)."""
    spec = importlib.util.find_spec("ptlflow")
    if spec is None:
        raise SystemExit("ptlflow is not installed in this environment (pip install --no-deps ptlflow==0.4.2)")
    root = Path(spec.origin).parent
    for name, folder in (("ptlflow", root), ("ptlflow.models", root / "models")):
        package = types.ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    return importlib.import_module("ptlflow.models.pwcnet.pwcnet")


def ptlflow_flow(model_name: str, frames: np.ndarray) -> np.ndarray:
    """ptlflow's eval ``flows`` for ``frames`` read as ptlflow reads them (OpenCV: BGR), /255."""
    module = _import_ptlflow_pwcnet()
    context = model_name == "pwcnet"
    model = getattr(module, model_name)()
    model.load_state_dict(ptlflow_checkpoint(context)["state_dict"], strict=True)
    model.eval()
    bgr = torch.from_numpy(frames[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255.0
    with torch.inference_mode():
        flows = model({"images": bgr[None]})["flows"]
    return flows[0, 0].numpy()


def _correlation_module() -> types.ModuleType:
    """Stands in for sniklaus' CuPy ``correlation`` package: the same cost volume in plain torch
    (81 channels, displacement (dy, dx) at channel (dy + 4) * 9 + dx + 4, mean over channels,
    zero outside), as RECIPE.md section 2 defines it."""
    def correlate(tenOne: torch.Tensor, tenTwo: torch.Tensor) -> torch.Tensor:
        height, width = tenOne.shape[-2:]
        padded = F.pad(tenTwo, (4, 4, 4, 4))
        volumes = [(tenOne * padded[:, :, dy:dy + height, dx:dx + width]).mean(1, keepdim=True)
                   for dy in range(9) for dx in range(9)]
        return torch.cat(volumes, 1)

    correlation = types.ModuleType("correlation")
    correlation.FunctionCorrelation = correlate
    return correlation


def sniklaus_flow(run_py: Path, frames: np.ndarray) -> np.ndarray:
    """``estimate`` of sniklaus' ``run.py`` on CPU, its network loaded with the recipe written in
    the sniklaus file layout, for ``frames`` prepared as its ``__main__`` does (PIL RGB, reversed
    to BGR, /255)."""
    source = run_py.read_text()
    for line in ("assert(intWidth == 1024)", "assert(intHeight == 436)"):
        if line not in source:
            raise SystemExit(f"{run_py}: expected the line {line!r} (sniklaus/pytorch-pwc fc21888)")
        source = source.replace(line, "pass  # " + line)
    state = official_checkpoint(recipe_float32(), "sniklaus")
    sys.modules["correlation"] = _correlation_module()
    saved_argv, sys.argv = sys.argv, ["run.py"]
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torch.nn.Module.cuda = lambda self, *args, **kwargs: self
    torch.hub.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        namespace = {"__name__": "sniklaus_run"}
        exec(compile(source, str(run_py), "exec"), namespace)  # noqa: S102 - the caller's copy of run.py
        bgr = [torch.from_numpy(np.ascontiguousarray(frame[..., ::-1].transpose(2, 0, 1)).astype(np.float32) / 255.0)
               for frame in frames]
        return namespace["estimate"](*bgr).numpy()
    finally:
        sys.argv = saved_argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sniklaus-run", type=Path, required=True, help="sniklaus/pytorch-pwc run.py (commit fc21888)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    arrays = {}
    for pair, frames in frame_pairs().items():
        arrays[f"{pair}/frames_sha256"] = np.array(frames_digest(frames))
        if min(frames.shape[1:3]) >= PTLFLOW_MIN_SIDE:
            arrays[f"ptlflow/{pair}"] = ptlflow_flow("pwcnet", frames)
            arrays[f"ptlflow-nodc/{pair}"] = ptlflow_flow("pwcnet_nodc", frames)
        arrays[f"sniklaus/{pair}"] = sniklaus_flow(args.sniklaus_run, frames)
    np.savez_compressed(args.output, **arrays)
    for key, value in arrays.items():
        described = value if value.dtype.kind == "U" else f"{value.shape} |max| {np.abs(value).max():.3f}"
        print(f"{key}: {described}")


if __name__ == "__main__":
    main()
