"""The zoo's FID Inception and statistics against pytorch-fid 0.3.0's own code.

``tests/data/fid_reference.npz`` holds what pytorch-fid computed (``tests/support/fid_reference.py``,
run in a side environment) for seeded random weights in its state-dict layout and seeded PNG images;
here the same weights and images go through the zoo.

Tolerances: features agree to 1e-4 of their spread (float32 through 94 convolutions; another thread
count or CPU sums in another order, which moves float32 results by ~1e-6 relative per layer; on the
machine that wrote the fixture they agreed exactly, and a batch-norm eps of 1e-5 instead of 1e-3 moves
them ~1000x more than this tolerance at pool3); FID to 1e-5 relative with 64-d features (three convolutions,
full-rank covariances: both compute the same quantity), and to 1e-4 relative with 2048-d features of
12 and 10 images, where pytorch-fid takes ``scipy.linalg.sqrtm`` of a singular product (its
LinAlgWarning) and we take eigenvalues: measured 7e-8 apart here, the rest of the margin is for the
features' float32 rounding on other machines.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.fid_fixtures import random_inception_state
from tests.support.fid_reference import SETS, write_set
from zoo.measure.fid import FeatureMoments, frechet_distance, statistics_of_batches, statistics_of_folder
from zoo.measure.inception import FIDInceptionV3

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "fid_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def network() -> FIDInceptionV3:
    network = FIDInceptionV3()
    shapes = {key: tuple(value.shape) for key, value in network.state_dict().items()}
    state = {key: torch.from_numpy(value) for key, value in random_inception_state(shapes).items()}
    network.load_state_dict(state, strict=True)
    return network.eval().requires_grad_(False)


def test_state_dict_layout_is_pytorch_fids(reference):
    """Same keys, same order, same shapes as the network pytorch-fid loads its .pth into."""
    ours = {key: tuple(value.shape) for key, value in FIDInceptionV3().state_dict().items()}
    theirs = dict(zip(reference["keys"].tolist(), map(tuple, json.loads(str(reference["shapes"])))))
    assert list(ours) == list(theirs)
    assert ours == theirs


def test_features_match_pytorch_fid_for_every_block(reference, network, tmp_path):
    from zoo.measure.fid import folder_images, image_batches_of_folder

    write_set("single", tmp_path)
    batch = next(image_batches_of_folder(folder_images(tmp_path), 5))
    for dims in (64, 192, 768, 2048):
        with torch.no_grad():
            ours = network.features(batch, dims).double().numpy()
        theirs = reference[f"features_{dims}"]
        assert ours.shape == theirs.shape == (SETS["single"][0], dims)
        assert np.abs(ours - theirs).max() <= 1e-4 * theirs.std(), dims


@pytest.mark.slow  # ~30 s; tests/zoo/cli/test_fid_command.py checks the same numbers through zoo fid
def test_statistics_and_fid_of_folders_match_pytorch_fid_64d(reference, network, tmp_path):
    write_set("many_a", tmp_path / "a")
    write_set("many_b", tmp_path / "b")
    first = statistics_of_folder(network, tmp_path / "a", batch_size=32, dims=64)
    second = statistics_of_folder(network, tmp_path / "b", batch_size=50, dims=64)
    assert first.count == 80
    np.testing.assert_allclose(first.mu, reference["mu64"], rtol=0, atol=2e-5 * reference["mu64"].std())
    np.testing.assert_allclose(first.sigma, reference["sigma64"], rtol=0, atol=1e-4 * np.abs(reference["sigma64"]).max())
    assert frechet_distance(first, second) == pytest.approx(float(reference["fid64"]), rel=1e-5)


def test_fid_of_few_images_matches_pytorch_fid_2048d(reference, network, tmp_path):
    write_set("few_a", tmp_path / "a")
    write_set("few_b", tmp_path / "b")
    first, second = (statistics_of_folder(network, tmp_path / name, batch_size=7) for name in "ab")
    assert (first.count, second.count, first.dims) == (12, 10, 2048)
    assert frechet_distance(first, second) == pytest.approx(float(reference["fid2048"]), rel=1e-4)


def test_grey_batches_are_repeated_to_rgb(network):
    grey = torch.rand(3, 1, 20, 20, generator=torch.Generator().manual_seed(0))
    moments = statistics_of_batches(network, [grey], dims=64)
    expected = FeatureMoments.zeros(64)
    expected.add(network.features(grey.expand(-1, 3, -1, -1), 64))
    torch.testing.assert_close(moments.total, expected.total)


def test_folders_are_read_as_pytorch_fid_reads_them_and_sizes_may_differ(network, tmp_path):
    """The folder's own files with pytorch-fid's (lower-case) suffixes; each image's features are those
    it has alone, whatever size its neighbours have."""
    from PIL import Image

    from tests.support.fid_fixtures import test_images
    from zoo.measure.fid import folder_images, statistics_of_folder

    small, large = test_images(3, (24, 24), 7), test_images(2, (40, 30), 8)
    for index, image in enumerate([*small, *large]):
        Image.fromarray(image).save(tmp_path / f"{index}.png")
    Image.fromarray(small[0]).save(tmp_path / "upper.PNG")
    (tmp_path / "sub").mkdir()
    Image.fromarray(small[0]).save(tmp_path / "sub" / "nested.png")
    assert [p.name for p in folder_images(tmp_path)] == [f"{i}.png" for i in range(5)]
    stats = statistics_of_folder(network, tmp_path, batch_size=4, dims=64)
    with torch.no_grad():
        features = np.concatenate([network.features(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255, 64)
                                   .double().numpy() for image in [*small, *large]])
    assert stats.count == 5
    np.testing.assert_allclose(stats.mu, features.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(stats.sigma, np.cov(features, rowvar=False), rtol=1e-4, atol=1e-9)
