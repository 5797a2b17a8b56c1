"""LayeredScene.render_clip: clips of the synthetic layered scenes (the temporal-loss recipe's data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.datamodules.flow.synthetic.layered import Layer, LayeredScene
from zoo.datamodules.flow.synthetic.textures import natural_texture


def test_the_first_two_frames_of_a_clip_are_the_pair_bit_for_bit():
    scene = LayeredScene((48, 64), texture=natural_texture)
    layers = scene.sample_layers(np.random.default_rng(3))
    image1, image2, *_ = scene.render(layers)
    clip = scene.render_clip(layers, 4)
    assert clip.shape == (4, 3, 48, 64)
    assert torch.equal(clip[0], image1.clamp(0, 1)) and torch.equal(clip[1], image2.clamp(0, 1))
    assert not torch.equal(clip[2], clip[1])


def test_a_translating_background_moves_by_its_translation_once_per_frame():
    scene = LayeredScene((20, 30))
    canvas = torch.rand(3, 40, 50, generator=torch.Generator().manual_seed(0))
    layer = Layer(torch.cat([canvas, torch.ones(1, 40, 50)]), to_canvas=np.array([[1.0, 0, 10], [0, 1.0, 8]]),
                  motion=np.array([[1.0, 0, 2], [0, 1.0, 1]]), background=True)
    clip = scene.render_clip([layer], 4)
    for k in range(4):  # frame k at (y, x) shows canvas (y - k + 8, x - 2k + 10): whole pixels, no interpolation
        expected = canvas[:, 8 - k:8 - k + 20, 10 - 2 * k:10 - 2 * k + 30].clamp(0, 1)
        torch.testing.assert_close(clip[k], expected, rtol=0, atol=1e-5)  # float32 sampling coordinates
    with pytest.raises(ValueError, match="frames must be at least 1"):
        scene.render_clip([layer], 0)
