"""The bundled pwcnet.synth reproduces the figures its weight file and its catalog entry publish.

The expected numbers are read from the safetensors metadata (full precision, keys as
``benchmarks.pwcnet_synth_eval.evaluate`` writes them) and recomputed with that same evaluation
code, so new weights, a new generator recipe or a new metric only need a new file and record:
nothing here names today's values. A changed generator, loader, network or weight file moves a
figure by far more than the tolerance (float32 sums in another order move it by ~1e-7).
"""

from __future__ import annotations

import pytest

import zoo
from benchmarks import pwcnet_synth_eval as synth_eval
from zoo.weights.cache import weights_file
from zoo.weights.checkpoint import read_checkpoint

NAME = "pwcnet.synth"
REL = 1e-4  # the catalog rounds to 1e-3; a real change of the model moves a figure by more than 1e-3


@pytest.fixture(scope="module")
def recorded() -> dict[str, float]:
    """The figures of the weight file's metadata (``zoo.info.metrics``)."""
    return read_checkpoint(weights_file(zoo.weights_info(NAME)))["zoo"]["info"]["metrics"]


@pytest.fixture(scope="module")
def network():
    return zoo.load(NAME)


def _assert_reproduced(measured: dict[str, float], recorded: dict[str, float]) -> None:
    assert measured, "nothing was recomputed"
    for key, value in measured.items():
        assert value == pytest.approx(recorded[key], rel=REL), key


def test_catalog_publishes_the_metadata_figures(recorded):
    """``zoo info`` shows each figure of the file, rounded to three decimals, and no other."""
    published = [v for figures in zoo.weights_info(NAME).metrics.values() for v in figures.values()]
    assert sorted(published) == sorted(round(v, 3) for v in recorded.values())


def test_every_recorded_figure_is_one_the_evaluation_computes(recorded):
    subsets = synth_eval.synthetic_subsets(recorded)
    methods = ("", "zero_flow_", *(f"{name}_" for name in synth_eval.BASELINES))
    synthetic = {f"{synth_eval.synthetic_name(*s)}_{method}epe" for s in subsets for method in methods}
    real = {f"chairs_crop_{method}epe" for method in methods} | {f"sintel_pair_{method}warping_error" for method in methods}
    assert subsets and set(recorded) <= synthetic | real


def test_cheapest_recorded_synthetic_subset_is_reproduced(network, recorded):
    size, seed, pairs, recipe = synth_eval.synthetic_subsets(recorded)[0]
    _assert_reproduced(synth_eval.synthetic_figures(network, pairs, seed, size, recipe), recorded)


def test_real_pairs_are_reproduced(shared_dir, network, recorded):
    measured = {}
    if "chairs_crop_epe" in recorded:
        measured.update(synth_eval.chairs_crop_figures(network))
    if "sintel_pair_warping_error" in recorded:
        measured.update(synth_eval.sintel_pair_figures(network))
    _assert_reproduced(measured, recorded)
