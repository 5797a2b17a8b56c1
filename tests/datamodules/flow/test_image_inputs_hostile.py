"""``read_image`` gives float32 RGB in [0, 1] for every bit depth and mode Pillow opens, with
the file's full precision (issue 12, item 4: 16-bit grayscale PNGs read saturated).

Conventions asserted (for the implementer):
* integer samples are scaled by their type's maximum: 8-bit by 255, 16-bit (``I;16``, 16-bit
  RGB) by 65535; Pillow's 32-bit ``I`` mode, which is how it hands over 16-bit grayscale in many
  versions and formats, is taken as 16-bit (scaled by 65535);
* 32-bit float images (``F``) are intensities already in [0, 1] and are kept as they are;
* alpha is dropped (no compositing), palettes are expanded, 1-bit is 0 or 1, gray is repeated.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.support.hostile import call_cli, png_bytes
from zoo.datamodules import read_image

pytestmark = pytest.mark.hostile


def _pillow(mode_image: Image.Image, suffix: str = ".png"):
    def write(path: Path) -> Path:
        path = path.with_suffix(suffix)
        mode_image.save(path)
        return path
    return write


def _raw_png(array: np.ndarray):
    def write(path: Path) -> Path:
        path = path.with_suffix(".png")
        path.write_bytes(png_bytes(array))
        return path
    return write


def _palette() -> Image.Image:
    image = Image.new("P", (3, 2), 1)
    image.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    return image


GRAY16 = np.array([[0, 1000, 32768], [65535, 257, 12345]], np.uint16)
RGB16 = np.array([[[200, 32768, 65535], [1, 2, 3]]], np.uint16)

CASES = {
    # name: (writes the file, the expected (H, W, 3) float values)
    "L-8bit": (_pillow(Image.new("L", (3, 2), 128)), np.full((2, 3, 3), 128 / 255)),
    "I;16-png": (_raw_png(GRAY16), np.repeat(GRAY16[..., None] / 65535, 3, axis=2)),
    "I-32bit-tiff": (_pillow(Image.fromarray(GRAY16.astype(np.int32)), ".tif"),
                     np.repeat(GRAY16[..., None] / 65535, 3, axis=2)),
    "RGB-16bit-png": (_raw_png(RGB16), RGB16 / 65535),
    "F-float-tiff": (_pillow(Image.fromarray(np.full((2, 3), 0.25, np.float32)), ".tif"), np.full((2, 3, 3), 0.25)),
    "RGB-8bit": (_pillow(Image.new("RGB", (3, 2), (10, 20, 30))), np.broadcast_to(np.array([10, 20, 30]) / 255, (2, 3, 3))),
    "RGBA-transparent": (_pillow(Image.new("RGBA", (3, 2), (10, 20, 30, 0))),
                         np.broadcast_to(np.array([10, 20, 30]) / 255, (2, 3, 3))),
    "P-palette": (_pillow(_palette()), np.broadcast_to(np.array([10, 20, 30]) / 255, (2, 3, 3))),
    "LA": (_pillow(Image.new("LA", (3, 2), (100, 50))), np.full((2, 3, 3), 100 / 255)),
    "1-bit": (_pillow(Image.new("1", (3, 2), 1)), np.ones((2, 3, 3))),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_read_image_scales_every_mode_to_rgb_in_0_1(tmp_path: Path, case: str) -> None:
    """Each mode reads to float32 (H, W, 3) with the hand-computed values (1e-6; 16-bit
    values keep all 16 bits: 32768 reads 32768/65535, not 1.0 and not 128/255)."""
    writer, expected = CASES[case]
    path = writer(tmp_path / "image")
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == expected.shape
    np.testing.assert_allclose(image, expected, rtol=0, atol=1e-6)


def test_16_bit_and_8_bit_versions_of_a_gray_image_read_alike(tmp_path: Path) -> None:
    """The issue's numbers: the 8-bit gray image of mean 0.502 read as 16-bit gave 0.996."""
    gray8 = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    (tmp_path / "g8.png").write_bytes(png_bytes(gray8))
    (tmp_path / "g16.png").write_bytes(png_bytes(gray8.astype(np.uint16) * 257))  # v * 257 / 65535 == v / 255
    np.testing.assert_allclose(read_image(tmp_path / "g16.png"), read_image(tmp_path / "g8.png"), rtol=0, atol=1e-6)


def test_zoo_flow_on_16_bit_gray_frames_equals_the_8_bit_flow(tmp_path: Path) -> None:
    """End to end: ``zoo flow`` of a 16-bit gray pair equals the flow of the same pair in 8 bits
    (the samples are v * 257, so both decode to the same floats)."""
    from tests.support.hostile import textured_frames
    from zoo.datamodules import read_flow

    first, second = (frame.mean(axis=2).astype(np.uint8) for frame in textured_frames())
    for depth, scale, dtype in ((8, 1, np.uint8), (16, 257, np.uint16)):
        for name, frame in (("a", first), ("b", second)):
            (tmp_path / f"{name}{depth}.png").write_bytes(png_bytes(frame.astype(dtype) * scale))
        result = call_cli("flow", tmp_path / f"a{depth}.png", tmp_path / f"b{depth}.png", "-o",
                          tmp_path / f"flow{depth}.flo", "--weights", "pwcnet.synth", "--precision", "float32")
        assert result.rc == 0, result.stderr
    np.testing.assert_allclose(read_flow(tmp_path / "flow16.flo")[0], read_flow(tmp_path / "flow8.flo")[0],
                               rtol=0, atol=1e-4)
