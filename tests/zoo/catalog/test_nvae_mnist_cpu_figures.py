"""The bundled nvae.mnist-cpu reproduces the validation figures its weight file and catalog publish.

The figures are read from the safetensors metadata (``zoo.info.validation``: a single-sample ELBO
in eval mode on the held-out digits of the config the file names). They are Monte-Carlo
estimates (binarisation and posterior noise), so the test recomputes them on the first 2,000 of
those digits and allows four standard errors of the difference (the recorded figure's, over all
held-out digits, and ours), both taken from the per-digit spread measured here: about 2.5 nats
on the ELBO, while a wrong loader, batch-norm mode or weight file moves it by far more.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

import zoo
from zoo.datamodules.images.mnist import MNISTDataModule
from zoo.weights.cache import weights_file
from zoo.weights.checkpoint import read_checkpoint

NAME = "nvae.mnist-cpu"
DIGITS = 2000
ROOT = Path(__file__).resolve().parents[3]


def _info() -> dict:
    """The ``zoo.info`` metadata of the bundled file."""
    return read_checkpoint(weights_file(zoo.weights_info(NAME)))["zoo"]["info"]


def _numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [v for value in tree.values() for v in _numbers(value)]
    return [float(tree)] if isinstance(tree, (int, float)) and not isinstance(tree, bool) else []


def test_catalog_publishes_figures_of_the_metadata():
    """Every figure ``zoo info`` shows is one of the file's, rounded to two decimals."""
    recorded = {round(v, 2) for v in _numbers(_info())}
    published = [v for figures in zoo.weights_info(NAME).metrics.values() for v in figures.values()]
    assert published and all(v in recorded for v in published)


def test_validation_elbo_is_reproduced(shared_dir, tmp_path):
    info = _info()
    recorded = info["validation"]
    assert recorded["estimator"].startswith("single-sample ELBO, eval-mode batch norm")
    data_args = yaml.safe_load((ROOT / info["config_file"]).read_text())["data"]["init_args"]
    data = MNISTDataModule(str(shared_dir / "data" / "mnist"), batch_size=500, num_workers=0,
                           cache_dir=str(tmp_path), num_validation=data_args["num_validation"],
                           split_seed=data_args["split_seed"])
    data.prepare_data()
    data.setup("fit")
    network = zoo.load(NAME)
    torch.manual_seed(0)
    reconstruction, kl = [], []
    with torch.no_grad():
        for images, _ in data.val_dataloader():
            out = network(images)
            reconstruction.append(-network.reconstruction_log_likelihood(out.logits, images).double())
            kl.append(out.kl_all.sum(0).double())
            if sum(len(r) for r in reconstruction) >= DIGITS:
                break
    reconstruction, kl = torch.cat(reconstruction)[:DIGITS], torch.cat(kl)[:DIGITS]
    held_out = data_args["num_validation"]
    for values, key in ((reconstruction + kl, "nelbo_nats"), (reconstruction, "reconstruction_nats"),
                        (kl, "kl_nats")):
        spread = values.std().item()
        tolerance = 4 * math.hypot(spread / math.sqrt(DIGITS), spread / math.sqrt(held_out))
        assert values.mean().item() == pytest.approx(recorded[key], abs=tolerance), key
