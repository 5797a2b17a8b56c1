"""``torch.compile`` of both networks' inference matches eager execution (float32).

Compiling with inductor on a CPU takes a minute or more per network (C++ kernels are built with
the system compiler); the inputs are kept small, the compiled graphs are the full networks.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main
from zoo.datamodules.flow.formats import read_flow
from zoo.models.nvae.graphs import SamplingGraph, example_noise

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                                reason="torch.compile (inductor) on CPU needs a C compiler")


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def test_zoo_flow_compile_matches_eager(tmp_path):
    generator = np.random.default_rng(0)
    for index in range(2):  # 72x100: not multiples of 64, so the resizing is compiled too
        Image.fromarray(generator.integers(0, 256, (72, 100, 3), dtype=np.uint8)).save(tmp_path / f"{index}.png")
    images = [str(tmp_path / "0.png"), str(tmp_path / "1.png")]
    common = ["--weights", "pwcnet.synth", "--precision", "float32"]
    assert main(["flow", *images, *common, "-o", str(tmp_path / "eager.flo")]) == 0
    assert main(["flow", *images, *common, "--compile", "-o", str(tmp_path / "compiled.flo")]) == 0
    eager, compiled = read_flow(tmp_path / "eager.flo")[0], read_flow(tmp_path / "compiled.flo")[0]
    assert np.abs(eager).max() > 0.1  # a real flow field, not zeros
    np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-4)  # float32 reassociation only


def test_nvae_sampling_compiles_and_matches_eager():
    vae = zoo.load("nvae.mnist-cpu")
    noise = example_noise(vae, 2, torch.Generator().manual_seed(0))
    graph = SamplingGraph(vae).eval()
    with torch.no_grad():
        eager = graph(*noise)
        compiled = torch.compile(graph)(*noise)
    assert eager.shape == (2, 1, 32, 32) and eager.abs().max() > 1
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)
