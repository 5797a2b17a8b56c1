"""The Middlebury colour wheel against colours derived by hand from Baker et al.'s construction."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.datamodules.flow.visualize import color_wheel, color_wheel_legend, flow_to_color


def test_wheel_has_the_middlebury_ramps():
    wheel = color_wheel()
    assert wheel.shape == (55, 3)
    # Ramp starts: RY 0, YG 15, GC 21, CB 25, BM 36, MR 49.
    np.testing.assert_array_equal(wheel[[0, 15, 21, 25, 36, 49]], [
        [255, 0, 0], [255, 255, 0], [0, 255, 0], [0, 255, 255], [0, 0, 255], [255, 0, 255]])
    np.testing.assert_array_equal(wheel[14], [255, 238, 0])  # floor(255 * 14 / 15)
    np.testing.assert_array_equal(wheel[27], [0, 209, 255])  # 255 - floor(255 * 2 / 11)
    np.testing.assert_array_equal(wheel[54], [255, 0, 43])  # 255 - floor(255 * 5 / 6)


@pytest.mark.parametrize(
    "vector, expected",
    [
        ((1.0, 0.0), (255, 0, 0)),  # right: angle -pi -> wheel[0]
        ((-1.0, 0.0), (0, 209, 255)),  # left: angle 0 -> position 27
        ((0.0, -1.0), (88, 0, 255)),  # up: position 40.5, halfway between 78 and 98 red
        ((0.0, 0.5), (255, 242, 127)),  # down, half length: position 13.5 -> (255, 229.5, 0), then whitened
        ((2.0, 0.0), (191, 0, 0)),  # beyond the radius: 0.75 * red
        ((0.0, 0.0), (255, 255, 255)),  # no motion is white
    ],
)
def test_known_vectors_at_unit_radius(vector, expected):
    flow = np.array(vector, np.float32).reshape(1, 1, 2)
    colour = flow_to_color(flow, max_radius=1.0)
    assert colour.dtype == np.uint8 and colour.shape == (1, 1, 3)
    np.testing.assert_array_equal(colour[0, 0], expected)


def test_default_radius_is_the_largest_known_motion():
    flow = np.array([[[6.0, 0.0], [0.0, 0.0], [np.nan, 1.0], [2e9, 0.0]]], np.float32)
    colour = flow_to_color(flow)
    np.testing.assert_array_equal(colour[0], [[255, 0, 0], [255, 255, 255], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(flow_to_color(flow, max_radius=12.0)[0, 0], [255, 127, 127])  # 255 - 0.5 * 255


def test_all_zero_flow_is_white_and_bad_input_is_rejected():
    np.testing.assert_array_equal(flow_to_color(np.zeros((2, 3, 2))), np.full((2, 3, 3), 255))
    with pytest.raises(ValueError, match=r"\(H, W, 2\)"):
        flow_to_color(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="max_radius"):
        flow_to_color(np.zeros((2, 3, 2)), max_radius=0)


def test_legend_rim_and_centre():
    legend = color_wheel_legend(101)
    assert legend.shape == (101, 101, 3) and legend.dtype == np.uint8
    np.testing.assert_array_equal(legend[50, 50], [255, 255, 255])
    np.testing.assert_array_equal(legend[50, 100], [255, 0, 0])  # right rim: red
    np.testing.assert_array_equal(legend[50, 0], [0, 209, 255])  # left rim: cyan-blue
