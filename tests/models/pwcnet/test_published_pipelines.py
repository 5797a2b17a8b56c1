"""Each published PWC-Net file family gives the flow its own source's code gives.

``tests/data/published_pipelines.npz`` holds the flows that ptlflow 0.4.2 (``pwcnet``,
``pwcnet_nodc``) and sniklaus' ``run.py`` computed with their own code for the fixture's recipe
weights on real frames of ``../shared`` (written by ``tests/support/published_pipelines_reference.py``).
Here the same weights, written in each source's file layout, go through ``zoo.load`` as a user's
file would, and the zoo's flow must match within 1e-3 px: both sides run float32, whose rounding
differs between the two implementations by about 1e-5 px at these flow sizes, while the
smallest pipeline difference measured (one align_corners flag) moves flows by far more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from tests.support.published_pipelines_reference import frame_pairs, frames_digest, ptlflow_checkpoint, recipe_float32
from tests.support.pwcnet_recipe import official_checkpoint

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "published_pipelines.npz"
TOLERANCE_PX = 1e-3
CASES = [("ptlflow", "sintel-crop"), ("ptlflow", "sintel-corner"), ("ptlflow-nodc", "sintel-crop"),
         ("ptlflow-nodc", "sintel-corner"), ("sniklaus", "sintel-crop"), ("sniklaus", "sintel-corner"),
         ("sniklaus", "chairs")]


@pytest.fixture(scope="module")
def pairs(pwcnet_fixture_dir):
    return frame_pairs()


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


def _file(tmp_path: Path, pipeline: str) -> Path:
    if pipeline == "sniklaus":
        state = official_checkpoint(recipe_float32(), "sniklaus")
        path = tmp_path / "network-default.pytorch"
        torch.save(state, path)
        return path
    path = tmp_path / ("pwcdcnet-things-00000000.ckpt" if pipeline == "ptlflow" else "pwcnet-things-00000000.ckpt")
    torch.save(ptlflow_checkpoint(context=pipeline == "ptlflow"), path)
    return path


def _zoo_flow(network: torch.nn.Module, frames: np.ndarray) -> np.ndarray:
    image1, image2 = (torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0 for frame in frames)
    with torch.inference_mode():
        return network(image1, image2)[0].numpy()


@pytest.mark.parametrize(("pipeline", "pair"), CASES)
def test_zoo_gives_the_sources_flow(tmp_path, pairs, reference, pipeline, pair):
    frames = pairs[pair]
    assert frames_digest(frames) == str(reference[f"{pair}/frames_sha256"]), f"{pair}: not the frames of the reference"
    network = zoo.load("pwcnet", weights=_file(tmp_path, pipeline))
    assert network.pipeline.name == pipeline
    flow = _zoo_flow(network, frames)
    expected = reference[f"{pipeline}/{pair}"]
    assert flow.shape == expected.shape
    assert np.abs(flow - expected).max() <= TOLERANCE_PX


@pytest.mark.parametrize("pipeline", ["ptlflow", "ptlflow-nodc", "sniklaus"])
def test_the_nvlabs_pipeline_would_not_do(tmp_path, pairs, reference, pipeline):
    """The check is sharp: the same weights through the NVlabs steps miss each source by more than 5x
    the tolerance (sniklaus: 0.008 px, its mask rule alone; ptlflow: channel order and resizes)."""
    network = zoo.load("pwcnet", weights=_file(tmp_path, pipeline), pipeline="nvlabs", channel_order="BGR")
    flow = _zoo_flow(network, pairs["sintel-crop"])
    assert np.abs(flow - reference[f"{pipeline}/sintel-crop"]).max() > 5 * TOLERANCE_PX
