"""Writes ``tests/data/fid_reference.npz``: what pytorch-fid 0.3.0's own code computes for the seeded
random Inception weights and test images of :mod:`tests.support.fid_fixtures`.
``tests/zoo/measure/test_fid_reference.py`` checks that the zoo's FID Inception and ``zoo fid`` give
the same features and distances.

pytorch-fid imports torchvision, whose wheel on the package index does not import beside the CPU
torch 2.13.0 (``operator torchvision::nms does not exist``: its compiled operators do not load). This
script replaces only ``torchvision/__init__.py`` (which loads them) by an empty package whose path is
the installed torchvision's, so pytorch-fid runs on torchvision's own ``models/inception.py`` and
``transforms``. The weight download is replaced by the seeded random weights. Run it in a side
environment (python3.11 -m venv; pip install torch==2.13.0 numpy pillow scipy; pip install --no-deps
torchvision==0.28.0 pytorch-fid==0.3.0):

    PYTHONPATH=. OMP_NUM_THREADS=1 /tmp/fidvenv/bin/python -m tests.support.fid_reference

Stored: ``keys`` / ``shapes`` (the state dict pytorch-fid loads), ``features_<D>`` (pytorch-fid's
``get_activations`` of the 5 images of set ``single``, D = 64, 192, 768, 2048), ``mu64`` / ``sigma64``
and ``fid64`` (sets ``many_a`` against ``many_b``, 80 images each, 64-d features), ``fid2048``
(sets ``few_a`` against ``few_b``, 12 and 10 images: singular covariances). Image sets: :data:`SETS`.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tests.support.fid_fixtures import random_inception_state, test_images

OUTPUT = Path(__file__).resolve().parents[1] / "data" / "fid_reference.npz"
#: name -> (count, (H, W), seed, style) of :func:`~tests.support.fid_fixtures.test_images`.
SETS = {"single": (5, (40, 40), 1, 0), "many_a": (80, (32, 32), 2, 0), "many_b": (80, (32, 32), 3, 1),
        "few_a": (12, (40, 40), 4, 0), "few_b": (10, (40, 40), 5, 1)}


def write_set(name: str, folder: Path) -> list[Path]:
    """Set ``name`` as PNG files ``000.png`` ... in ``folder``."""
    count, size, seed, style = SETS[name]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(test_images(count, size, seed, style)):
        paths.append(folder / f"{index:03d}.png")
        Image.fromarray(image).save(paths[-1])
    return paths


def _import_pytorch_fid() -> tuple[types.ModuleType, types.ModuleType]:
    root = Path(importlib.util.find_spec("torchvision").origin).parent
    package = types.ModuleType("torchvision")
    package.__path__ = [str(root)]
    package.__version__ = "0.28.0"
    sys.modules["torchvision"] = package
    models = types.ModuleType("torchvision.models")
    models.__path__ = [str(root / "models")]
    sys.modules["torchvision.models"] = package.models = models
    import torchvision.models.inception as inception_module
    from torchvision import transforms

    models.inception, models.inception_v3 = inception_module, inception_module.inception_v3
    package.transforms = transforms
    from pytorch_fid import fid_score, inception

    return inception, fid_score


def main() -> None:
    torch.set_num_threads(1)
    inception, fid_score = _import_pytorch_fid()
    real_load = torch.nn.Module.load_state_dict
    loaded: dict[str, tuple[int, ...]] = {}

    def load_random(module: torch.nn.Module, state: dict, strict: bool = True, assign: bool = False):
        shapes = {key: tuple(value.shape) for key, value in module.state_dict().items()}
        loaded.update(shapes)
        random = {key: torch.from_numpy(value) for key, value in random_inception_state(shapes).items()}
        return real_load(module, random, strict=True)

    inception.load_state_dict_from_url = lambda *args, **kwargs: {}
    torch.nn.Module.load_state_dict = load_random
    out: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {name: Path(tmp) / name for name in SETS}
        files = {name: write_set(name, folder) for name, folder in folders.items()}
        for dims, block in inception.InceptionV3.BLOCK_INDEX_BY_DIM.items():
            model = inception.InceptionV3([block]).eval()
            out[f"features_{dims}"] = fid_score.get_activations(files["single"], model, batch_size=5, dims=dims)
        out["fid64"] = np.float64(fid_score.calculate_fid_given_paths(
            [str(folders["many_a"]), str(folders["many_b"])], 50, "cpu", 64))
        model64 = inception.InceptionV3([0]).eval()
        out["mu64"], out["sigma64"] = fid_score.compute_statistics_of_path(str(folders["many_a"]), model64, 50, 64, "cpu")
        out["fid2048"] = np.float64(fid_score.calculate_fid_given_paths(
            [str(folders["few_a"]), str(folders["few_b"])], 50, "cpu", 2048))
    out["keys"] = np.array(list(loaded))
    out["shapes"] = np.array(json.dumps([loaded[key] for key in loaded]))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUTPUT, **out)
    print(f"wrote {OUTPUT}: fid64 {float(out['fid64']):.6f}, fid2048 {float(out['fid2048']):.6f}, {len(loaded)} keys")


if __name__ == "__main__":
    main()
