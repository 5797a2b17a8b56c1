"""The procedural digits NVAE's smoke test trains on: MNIST's form, balanced, a function of (seed, index)."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.datamodules.images.synthetic_digits import SyntheticDigitsDataModule, synthetic_digit


def test_each_image_is_a_centred_mnist_shaped_digit_fixed_by_seed_and_index():
    images = [synthetic_digit(0, i) for i in range(20)]
    assert [label for _, label in images] == [i % 10 for i in range(20)]
    for image, _ in images:
        assert image.shape == (32, 32) and image.dtype == np.uint8
        assert image[:2].max() == image[-2:].max() == image[:, :2].max() == image[:, -2:].max() == 0  # 2 px border
        ink = image.astype(np.float64) / 255
        ys, xs = np.mgrid[:32, :32]
        # MNIST places a digit by its centre of mass at the middle of 28 x 28 (16, 16 once padded)
        centre = np.array([(ys * ink).sum(), (xs * ink).sum()]) / ink.sum()
        assert np.abs(centre - 15.5).max() < 1.0
        assert (ink > 0.5).sum() > 20  # a stroke, not a speck
    # MNIST's ink (> 0.5) covers about 19 % of 28 x 28 on average, 15 % of 32 x 32
    assert 0.08 < np.mean([(image > 127).mean() for image, _ in images]) < 0.25
    assert np.array_equal(synthetic_digit(0, 3)[0], images[3][0])
    assert not np.array_equal(synthetic_digit(1, 3)[0], images[3][0])  # another render seed, another shape
    assert not np.array_equal(images[13][0], images[3][0])  # the same digit, another shape


def test_datamodule_splits_are_disjoint_rendered_images_binarised_per_access(tmp_path):
    module = SyntheticDigitsDataModule(num_train=20, num_validation=10, num_test=10, batch_size=4,
                                       cache_dir=str(tmp_path))
    module.prepare_data()
    module.setup("fit")
    assert {split: len(data) for split, data in module.datasets.items()} == {"train": 20, "val": 10, "test": 10}
    images, labels = module.datasets["val"].batch([0, 1])
    assert images.shape == (2, 1, 32, 32) and set(images.unique().tolist()) <= {0.0, 1.0}
    assert labels.tolist() == [0, 1]  # index 20, 21 of the sequence
    grey = SyntheticDigitsDataModule(num_train=20, num_validation=10, num_test=10, cache_dir=str(tmp_path),
                                     binarize=False)
    grey.setup("fit")
    image, _ = grey.datasets["test"].batch([5])
    np.testing.assert_allclose(image[0, 0].double().numpy(), synthetic_digit(0, 35)[0] / 255.0, atol=1e-7)
    with pytest.raises(ValueError, match="num_test must be >= 1"):
        SyntheticDigitsDataModule(num_test=0)
