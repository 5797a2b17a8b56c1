"""Frames without pixels (found by the closing attack of issue 26): an empty batch or 0x0 frames
ended in ``RuntimeError: aminmax(): cannot compute aminmax over an empty dimension``."""

from __future__ import annotations

import pytest
import torch

import zoo

pytestmark = pytest.mark.hostile


@pytest.mark.parametrize("shape", [(0, 3, 64, 64), (1, 3, 0, 0), (1, 3, 64, 0)])
def test_frames_without_pixels_are_refused(shape):
    network = zoo.load("pwcnet.synth")
    with pytest.raises(ValueError, match=r"^image1 holds no pixels: a batch of at least one image of at least 1x1 px, "
                                         rf"got \({', '.join(map(str, shape))}\)"):
        network(torch.zeros(shape), torch.zeros(shape))
