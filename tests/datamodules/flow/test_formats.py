"""Flow and image formats: round trips, hand-built files in the exact formats, the real FlyingChairs sample."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from tests.support.flow_fixtures import hand_built_png
from zoo.datamodules.flow.formats import (
    MAX_PIXELS,
    FlowFormatError,
    read_flow,
    read_image,
    read_pfm,
    write_flow,
    write_pfm,
)
from zoo.datamodules.flow.png_io import PNGError, encode_png, png_header, read_png


def _random_flow(shape=(5, 7), scale=40.0, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((*shape, 2)) * scale).astype(np.float32)


# --- Middlebury .flo ---------------------------------------------------------------------------


def test_flo_hand_built_file_is_read(tmp_path):
    values = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2) - 5.5
    values[1, 2, 0] = 2e9  # unknown
    path = tmp_path / "a.flo"
    path.write_bytes(struct.pack("<fii", 202021.25, 3, 2) + struct.pack("<12f", *values.ravel()))
    flow, valid = read_flow(path)
    assert flow.dtype == np.float32 and flow.shape == (2, 3, 2) and valid.dtype == bool
    np.testing.assert_array_equal(flow[valid], values[valid])
    assert valid.sum() == 5 and not valid[1, 2]


def test_flo_unknown_means_above_1e9(tmp_path):
    """Middlebury's flowIO: a pixel is unknown when |u| or |v| exceeds 1e9, or is NaN."""
    values = np.array([[[1e9, -1e9], [1.0000001e9, 0.0], [0.0, -1.0000001e9], [np.nan, 0.0]]], np.float32)
    path = tmp_path / "edge.flo"
    path.write_bytes(struct.pack("<fii", 202021.25, 4, 1) + values.astype("<f4").tobytes())
    _, valid = read_flow(path)
    np.testing.assert_array_equal(valid, [[True, False, False, False]])


def test_flo_round_trip_keeps_values_and_invalid_pixels(tmp_path):
    flow = _random_flow()
    valid = np.ones(flow.shape[:2], bool)
    valid[2, 3] = valid[0, 0] = False
    write_flow(tmp_path / "b.flo", flow, valid)
    back, back_valid = read_flow(tmp_path / "b.flo")
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], flow[valid])
    assert (tmp_path / "b.flo").stat().st_size == 12 + 8 * 5 * 7
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


@pytest.mark.parametrize(
    "content, message",
    [
        (struct.pack("<fii", 123.0, 2, 2) + bytes(32), "wrong .flo tag"),
        (struct.pack("<fii", 202021.25, 2, 2) + bytes(20), "truncated"),
        (struct.pack("<fii", 202021.25, -4, 100000000), "absurd"),
        (b"PIEH", "truncated"),
    ],
)
def test_flo_bad_files_raise_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "broken_name.flo"
    path.write_bytes(content)
    with pytest.raises(FlowFormatError, match=message) as info:
        read_flow(path)
    assert "broken_name.flo" in str(info.value)


def test_unknown_extension_is_rejected(tmp_path):
    with pytest.raises(FlowFormatError, match=r"\.txt"):
        read_flow(tmp_path / "flow.txt")


def test_real_flying_chairs_sample(shared_dir, tmp_path):
    folder = shared_dir / "data" / "flow_samples" / "chairs_crop"
    flow, valid = read_flow(folder / "00001_flow.flo")
    assert flow.shape == (50, 50, 2) and valid.all()
    # The header states the size the data has; re-writing gives the file back byte for byte.
    raw = (folder / "00001_flow.flo").read_bytes()
    np.testing.assert_array_equal(flow.ravel(), np.frombuffer(raw, "<f4", offset=12))
    write_flow(tmp_path / "copy.flo", flow)
    assert (tmp_path / "copy.flo").read_bytes() == raw
    image = read_image(folder / "00001_img1.ppm")
    assert image.shape == (50, 50, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.01
    with Image.open(folder / "00001_img2.ppm") as reference:
        np.testing.assert_array_equal(read_image(folder / "00001_img2.ppm") * 255, np.asarray(reference, np.float32))


@pytest.mark.parametrize("suffix", [".flo", ".png", ".pfm"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ">f4", np.int16])
def test_every_format_writes_views_and_other_dtypes_exactly(tmp_path, suffix, dtype):
    # values on KITTI's 1/64 px grid (whole pixels for int16), which every dtype here holds exactly
    rng = np.random.default_rng(7)
    values = rng.integers(-200, 200, (2, 5, 7)) / (1 if dtype == np.int16 else 64)
    view = values.astype(dtype).transpose(1, 2, 0)  # (5, 7, 2), not C-contiguous: what a permuted tensor gives
    mask = np.ones((5, 7), bool)
    mask[1, 2] = mask[4, 0] = False
    valid = mask.T.copy().T  # a transposed view as well
    assert not view.flags.c_contiguous and not valid.flags.c_contiguous
    path = tmp_path / f"view{suffix}"
    write_flow(path, view, valid)
    flow, back_valid = read_flow(path)
    assert flow.dtype == np.float32 and flow.shape == (5, 7, 2)
    np.testing.assert_array_equal(back_valid, mask)
    np.testing.assert_array_equal(flow[mask], values.transpose(1, 2, 0).astype(np.float32)[mask])


# --- KITTI 16-bit PNG --------------------------------------------------------------------------


def test_kitti_png_hand_built_file_needs_all_16_bits(tmp_path):
    # 300.015625 px = 32768 + 19201 and -0.984375 px = 32768 - 63: both bytes of each sample matter.
    samples = np.array([[[51969, 32705, 1], [32768, 32768, 0]], [[65535, 0, 1], [32769, 32767, 1]]], np.uint16)
    path = tmp_path / "000000_10.png"
    path.write_bytes(hand_built_png(samples))
    flow, valid = read_flow(path)
    expected = (samples[..., :2].astype(np.float64) - 32768) / 64
    np.testing.assert_array_equal(flow, expected.astype(np.float32))
    np.testing.assert_array_equal(valid, [[True, False], [True, True]])
    assert flow[0, 0, 0] == 300.015625 and flow[0, 0, 1] == -0.984375


def test_kitti_png_round_trip_at_1_64_px(tmp_path):
    rng = np.random.default_rng(1)
    flow = (rng.integers(-30000, 30000, (6, 9, 2)) / 64).astype(np.float32)
    valid = rng.random((6, 9)) > 0.3
    write_flow(tmp_path / "f.png", flow, valid)
    back, back_valid = read_flow(tmp_path / "f.png")
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], flow[valid])
    # the IHDR says 9x6, 16 bits, colour type 2 (RGB): the layout KITTI's devkit reads
    assert (tmp_path / "f.png").read_bytes()[16:26] == struct.pack(">IIBB", 9, 6, 16, 2)


def test_kitti_png_rejects_flow_it_cannot_represent(tmp_path):
    with pytest.raises(FlowFormatError, match="512"):
        write_flow(tmp_path / "big.png", np.full((2, 2, 2), 600.0, np.float32))


def test_kitti_png_rejects_8_bit_and_gray_files(tmp_path):
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "eight.png")
    with pytest.raises(FlowFormatError, match="eight.png: KITTI flow PNGs are 16-bit RGB, this one is 8-bit RGB$"):
        read_flow(tmp_path / "eight.png")
    Image.fromarray(np.zeros((3, 3), np.uint16)).save(tmp_path / "gray.png")
    with pytest.raises(FlowFormatError, match="gray.png: .* this one is 16-bit gray$"):
        read_flow(tmp_path / "gray.png")


# --- 16-bit PNG through libpng -------------------------------------------------------------------


def test_png_decoder_agrees_with_pillow_where_pillow_is_exact(tmp_path):
    rng = np.random.default_rng(3)
    smooth = np.cumsum(rng.integers(0, 8, (33, 47, 3)), axis=1).astype(np.uint8)  # makes Pillow pick varied filters
    Image.fromarray(smooth).save(tmp_path / "rgb8.png")
    np.testing.assert_array_equal(read_png(tmp_path / "rgb8.png", MAX_PIXELS), smooth)
    gray16 = rng.integers(0, 65536, (21, 13)).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "gray16.png")
    back = read_png(tmp_path / "gray16.png", MAX_PIXELS)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, gray16)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(smooth)))), smooth)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(6, 11), (6, 11, 3), (6, 11, 4)])
def test_png_encoder_round_trip_keeps_every_bit_and_the_channel_order(tmp_path, dtype, shape):
    image = np.random.default_rng(2).integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    (tmp_path / "x.png").write_bytes(encode_png(image))
    back = read_png(tmp_path / "x.png", MAX_PIXELS)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, image)
    kind = {1: 0, 3: 2, 4: 6}[(*shape, 1)[2]]  # gray, RGB, RGBA
    assert png_header(tmp_path / "x.png") == (11, 6, 8 * np.dtype(dtype).itemsize, kind)


def test_png_hostile_header_is_refused_before_decoding(tmp_path, monkeypatch):
    import cv2

    path = tmp_path / "claims_100000x100000.png"
    path.write_bytes(hand_built_png(np.zeros((1, 4, 3), np.uint16), claimed_size=(100000, 100000)))
    monkeypatch.setattr(cv2, "imdecode", lambda *args: pytest.fail("decoded a refused file"))
    with pytest.raises(PNGError, match=r"claims_100000x100000.png: the PNG header claims 100000x100000 = "
                                       r"10,000,000,000 px, over the limit of 134,217,728 px; refused before decoding"):
        read_flow(path)


def test_png_pixel_limit_is_inclusive(tmp_path):
    path = tmp_path / "four.png"
    path.write_bytes(hand_built_png(np.full((2, 2, 3), 7, np.uint16)))
    np.testing.assert_array_equal(read_png(path, max_pixels=4), np.full((2, 2, 3), 7, np.uint16))
    with pytest.raises(PNGError, match="2x2 = 4 px, over the limit of 3 px"):
        read_png(path, max_pixels=3)


def test_png_corruption_is_reported_naming_the_file_and_libpng_reason(tmp_path, capfd):
    data = hand_built_png(np.arange(2 * 5 * 3, dtype=np.uint16).reshape(2, 5, 3))
    idat, iend = data.index(b"IDAT"), data.index(b"IEND")

    def flipped(position):
        return data[:position] + bytes([data[position] ^ 0xFF]) + data[position + 1:]

    cases = {
        "crc.png": (flipped(iend - 5), r"\(libpng error: IDAT: CRC error\)"),  # the IDAT chunk's stored CRC
        "data.png": (flipped(idat + 6), r"\(libpng error: IDAT: "),  # inside the deflate stream
        "cut.png": (data[:idat + 10], r"corrupt or truncated PNG \(\w.+\)$"),  # with the decoder's reason
        "header.png": (data[:20], "truncated or corrupt PNG"),
        "text.png": (b"not an image", "not a PNG file"),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(PNGError, match=f"{name}: .*{reason}"):
            read_flow(tmp_path / name)
    assert capfd.readouterr().err == ""  # libpng's messages are in the errors, not on the terminal


# --- PFM -----------------------------------------------------------------------------------------


def test_pfm_hand_built_big_endian_flow_is_flipped_and_third_channel_dropped(tmp_path):
    top_down = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    body = np.flipud(top_down).astype(">f4").tobytes()
    path = tmp_path / "OpticalFlowIntoFuture_0006_L.pfm"
    path.write_bytes(b"PF\n3 2\n1.0\n" + body)
    flow, valid = read_flow(path)
    np.testing.assert_array_equal(flow, top_down[..., :2])
    assert valid.all() and flow.dtype == np.float32


def test_pfm_disparity_little_endian(tmp_path):
    disparity = np.array([[1.5, 2.5], [3.5, -4.0]], np.float32)
    path = tmp_path / "0006.pfm"
    path.write_bytes(b"Pf\n2 2\n-1.0\n" + np.flipud(disparity).astype("<f4").tobytes())
    np.testing.assert_array_equal(read_pfm(path), disparity)
    with pytest.raises(FlowFormatError, match="3 channels"):
        read_flow(path)


def test_pfm_round_trip(tmp_path):
    flow = _random_flow(seed=4)
    valid = np.ones(flow.shape[:2], bool)
    valid[1, 1] = False
    write_flow(tmp_path / "f.pfm", flow, valid)
    back, back_valid = read_flow(tmp_path / "f.pfm")
    np.testing.assert_array_equal(back_valid, valid)
    np.testing.assert_array_equal(back[valid], flow[valid])
    write_pfm(tmp_path / "d.pfm", flow[..., 0])
    np.testing.assert_array_equal(read_pfm(tmp_path / "d.pfm"), flow[..., 0])


def test_pfm_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "cut.pfm"
    path.write_bytes(b"PF\n3 2\n-1.0\n" + bytes(10))
    with pytest.raises(FlowFormatError, match="cut.pfm"):
        read_flow(path)


# --- images --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".ppm", ".jpg"])
def test_read_image_formats(tmp_path, suffix):
    pixels = np.tile(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (8, 1, 3))
    Image.fromarray(pixels).save(tmp_path / f"im{suffix}", quality=100)
    image = read_image(tmp_path / f"im{suffix}")
    assert image.shape == (8, 16, 3) and image.dtype == np.float32
    tolerance = 0 if suffix != ".jpg" else 3 / 255
    np.testing.assert_allclose(image, pixels / 255.0, atol=tolerance + 1e-7)


def test_read_image_gray_becomes_rgb_and_errors_name_the_file(tmp_path):
    Image.fromarray(np.full((4, 5), 51, np.uint8)).save(tmp_path / "gray.png")
    np.testing.assert_allclose(read_image(tmp_path / "gray.png"), np.full((4, 5, 3), 0.2), atol=1e-7)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(OSError, match="junk.png"):
        read_image(tmp_path / "junk.png")


def _pillow_file(tmp_path: Path, mode: str, pixels, suffix: str, **save) -> Path:
    """One row of ``pixels`` (values of ``mode``) saved by Pillow; returns the path."""
    image = Image.new(mode, (len(pixels), 1))
    image.putdata(pixels)
    for key, value in save.pop("info", {}).items():
        image.info[key] = value
    path = tmp_path / f"{mode.replace(';', '_')}{suffix}"
    image.save(path, **save)
    return path


def _rgb(*pixels) -> np.ndarray:
    """Expected (1, N, 3) float32 from (r, g, b) tuples of exact fractions."""
    return np.array([pixels], np.float64).astype(np.float32)


@pytest.mark.parametrize("mode, pixels, suffix, expected", [
    ("1", [0, 1, 0], ".png", _rgb((0, 0, 0), (1, 1, 1), (0, 0, 0))),
    ("L", [0, 128, 255], ".png", _rgb((0, 0, 0), (128 / 255,) * 3, (1, 1, 1))),
    ("I;16", [0, 32768, 65535], ".png", _rgb((0, 0, 0), (32768 / 65535,) * 3, (1, 1, 1))),
    ("I;16B", [0, 32768, 65535], ".tif", _rgb((0, 0, 0), (32768 / 65535,) * 3, (1, 1, 1))),
    ("I", [0, 1000, 65535], ".tif", _rgb((0, 0, 0), (1000 / 65535,) * 3, (1, 1, 1))),
    ("F", [0.0, 0.25, 1.0], ".tif", _rgb((0, 0, 0), (0.25,) * 3, (1, 1, 1))),
    ("RGB", [(255, 0, 0), (0, 128, 255)], ".png", _rgb((1, 0, 0), (0, 128 / 255, 1))),
    # alpha is dropped: the stored colour comes back whatever the opacity, not composited
    ("RGBA", [(200, 100, 50, 0), (10, 20, 30, 255)], ".png", _rgb((200 / 255, 100 / 255, 50 / 255),
                                                                   (10 / 255, 20 / 255, 30 / 255))),
    ("LA", [(100, 0), (200, 128)], ".png", _rgb((100 / 255,) * 3, (200 / 255,) * 3)),
    ("CMYK", [(0, 0, 0, 0), (255, 0, 0, 0), (0, 0, 0, 255)], ".tif", _rgb((1, 1, 1), (0, 1, 1), (0, 0, 0))),
    ("YCbCr", [(255, 128, 128), (0, 128, 128)], ".tif", _rgb((1, 1, 1), (0, 0, 0))),
])
def test_read_image_every_mode_by_hand(tmp_path, mode, pixels, suffix, expected):
    path = _pillow_file(tmp_path, mode, pixels, suffix)
    with Image.open(path) as image:
        written = image.mode
    if written != mode:  # older Pillow writes 16-bit gray PNGs that it opens as I, YCbCr TIFFs as RGB
        pytest.skip(f"Pillow {PIL.__version__} writes no {mode} {suffix} file (it reads back as {written})")
    image = read_image(path)
    assert image.dtype == np.float32 and image.shape == expected.shape
    np.testing.assert_array_equal(image, expected)


def test_read_image_palette_with_and_without_transparency(tmp_path):
    palette = [10, 20, 30, 40, 50, 60] + [0] * 762
    for transparency in (None, 0):
        image = Image.new("P", (3, 1))
        image.putpalette(palette)
        image.putdata([0, 1, 0])
        path = tmp_path / f"p{transparency}.png"
        image.save(path, **({} if transparency is None else {"transparency": transparency}))
        expected = _rgb((10 / 255, 20 / 255, 30 / 255), (40 / 255, 50 / 255, 60 / 255), (10 / 255, 20 / 255, 30 / 255))
        np.testing.assert_array_equal(read_image(path), expected)  # the transparent index keeps its colour


def test_read_image_16_and_8_bit_versions_of_one_picture_agree(tmp_path):
    picture = np.linspace(0, 255, 64).round().astype(np.uint8).reshape(8, 8)
    Image.fromarray(picture).save(tmp_path / "eight.png")
    Image.fromarray(picture.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")  # 257 * 255 = 65535
    eight, sixteen = read_image(tmp_path / "eight.png"), read_image(tmp_path / "sixteen.png")
    assert eight.mean() == pytest.approx(picture.mean() / 255, rel=1e-6)
    np.testing.assert_array_equal(sixteen, eight)


@pytest.mark.parametrize("colour_type, samples, expected", [
    (2, [[32768, 0, 65535], [1, 2, 3]], [(32768 / 65535, 0, 1), (1 / 65535, 2 / 65535, 3 / 65535)]),
    (6, [[32768, 0, 65535, 0], [1, 2, 3, 65535]], [(32768 / 65535, 0, 1), (1 / 65535, 2 / 65535, 3 / 65535)]),
    (4, [[32768, 0], [65535, 65535]], [(32768 / 65535,) * 3, (1, 1, 1)]),
])
def test_read_image_16_bit_colour_png_keeps_all_bits_in_rgb_order(tmp_path, colour_type, samples, expected):
    path = tmp_path / f"type{colour_type}.png"
    path.write_bytes(hand_built_png(np.array([samples], np.uint16), colour_type=colour_type))
    np.testing.assert_array_equal(read_image(path), _rgb(*expected))


@pytest.mark.parametrize("mode, pixels, found", [("I", [0, 70000], r"\[0, 70000\]"),
                                                 ("I", [-5, 10], r"\[-5, 10\]"),
                                                 ("F", [0.5, 1.5], r"\[0.5, 1.5\]")])
def test_read_image_refuses_32_bit_values_outside_their_range(tmp_path, mode, pixels, found):
    path = _pillow_file(tmp_path, mode, pixels, ".tif")
    full_scale = {"I": "65535", "F": "1"}[mode]
    with pytest.raises(ValueError, match=rf"{mode}.tif: a mode {mode} image must hold values in "
                                         rf"\[0, {full_scale}\], found the range {found}$"):
        read_image(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_read_image_refuses_non_finite_float_images(tmp_path, value):
    path = _pillow_file(tmp_path, "F", [0.5, value], ".tif")
    with pytest.raises(ValueError, match=r"F.tif: holds NaN or infinite values \(1 samples\)$"):
        read_image(path)


@pytest.mark.parametrize("width, height, message", [
    # over MAX_PIXELS but under Pillow's own limit (which would only warn): our refusal
    (12000, 12000, (r"the image header claims 12000x12000 = 144,000,000 px, over the limit of 134,217,728 px; "
                    r"refused before decoding$")),
    # over 2 x Image.MAX_IMAGE_PIXELS: Pillow refuses it first, and the size is still named
    (20000, 20000, (r"the image header claims 20000x20000 = 400,000,000 px, over the limit of 134,217,728 px; "
                    r"refused before decoding$")),
])
def test_image_bombs_are_refused_before_decoding_naming_the_file(tmp_path, width, height, message):
    import warnings

    from zoo.datamodules.flow.formats import image_size

    path = tmp_path / "bomb.jpg.png"
    path.write_bytes(hand_built_png(np.zeros((1, 4, 3), np.uint8), claimed_size=(width, height)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either
        for reader in (read_image, image_size):
            with pytest.raises(ValueError, match=rf"bomb.jpg.png: {message}"):
                reader(path)


def test_image_size_reads_the_header_only(tmp_path):
    from zoo.datamodules.flow.formats import image_size

    path = tmp_path / "claims.png"
    path.write_bytes(hand_built_png(np.zeros((1, 4, 3), np.uint8), claimed_size=(3000, 2000)))
    assert image_size(path) == (3000, 2000)
    with pytest.raises(OSError, match="claims.png: cannot read image"):
        read_image(path)  # the data holds one row of 4 pixels


# --- edges of the formats: sizes, masks, byte order, and what the errors say --------------------


def _flo_header(width: int, height: int) -> bytes:
    return struct.pack("<fii", 202021.25, width, height)


@pytest.mark.parametrize("width, height, readable", [
    (1, 1, True), (65536, 1, True), (1, 65536, True),                   # 1 .. 2^16 px per side
    (0, 1, False), (1, 0, False), (65537, 1, False), (1, 65537, False),
])
def test_flo_sides_from_1_to_65536_px(tmp_path, width, height, readable):
    path = tmp_path / "side.flo"
    path.write_bytes(_flo_header(width, height) + bytes(8 * width * height))
    if readable:
        flow, valid = read_flow(path)
        assert flow.shape == (height, width, 2) and valid.all()
    else:
        with pytest.raises(FlowFormatError, match=rf"side\.flo: absurd \.flo size {width}x{height}"):
            read_flow(path)


def test_flo_errors_give_the_sizes(tmp_path):
    path = tmp_path / "odd.flo"
    path.write_bytes(_flo_header(2, 2) + bytes(3))  # 15 bytes: not even a whole number of floats
    with pytest.raises(FlowFormatError, match=r"odd\.flo: \.flo of 2x2 needs 44 bytes, the file has 15"):
        read_flow(path)


def test_flo_nan_marks_only_its_own_pixel(tmp_path):
    values = np.zeros((2, 2, 2), np.float32)
    values[0, 1, 1] = np.nan
    path = tmp_path / "nan.flo"
    path.write_bytes(_flo_header(2, 2) + values.astype("<f4").tobytes())
    np.testing.assert_array_equal(read_flow(path)[1], [[True, False], [True, True]])


def test_flo_stores_invalid_pixels_as_1e10(tmp_path):
    """Middlebury's unknown value on disk; non-finite input is invalid as well."""
    flow = np.array([[[1.0, 2.0], [3.0, np.inf]], [[5.0, 6.0], [7.0, 8.0]]], np.float32)
    write_flow(tmp_path / "u.flo", flow, valid=np.array([[1.0, 1.0], [0.0, 1.0]]))  # any truthy mask
    stored = np.frombuffer((tmp_path / "u.flo").read_bytes(), "<f4", offset=12).reshape(2, 2, 2)
    expected = np.where(np.array([[True, False], [False, True]])[..., None], flow, np.float32(1e10))
    np.testing.assert_array_equal(stored, expected)


@pytest.mark.parametrize("suffix", [".flo", ".png", ".pfm"])
def test_writers_check_the_flow_and_name_the_file(tmp_path, suffix):
    path = tmp_path / f"out{suffix}"
    with pytest.raises(FlowFormatError, match=rf"out\{suffix}: flow must have shape \(H, W, 2\), got \(2, 2, 3\)"):
        write_flow(path, np.zeros((2, 2, 3), np.float32))
    with pytest.raises(FlowFormatError, match=rf"out\{suffix}: valid mask shape \(2, 3\) does not match flow \(2, 2\)"):
        write_flow(path, np.zeros((2, 2, 2), np.float32), np.ones((2, 3), bool))
    one_nan = np.zeros((2, 2, 2), np.float32)
    one_nan[1, 0, 0] = np.nan
    write_flow(path, one_nan)
    np.testing.assert_array_equal(read_flow(path)[1], [[True, True], [False, True]])


def test_kitti_png_range_is_minus_512_to_just_below_512(tmp_path):
    """u = (R - 2^15) / 64 with R in 0 .. 2^16 - 1: -512 and 511.984375 are the extremes."""
    flow = np.array([[[-512.0, 511.984375]]], np.float32)
    write_flow(tmp_path / "edge.png", flow)
    np.testing.assert_array_equal(read_flow(tmp_path / "edge.png")[0], flow)
    for too_far in (512.0, -512.015625):
        with pytest.raises(FlowFormatError, match=r"big\.png: KITTI PNG flow must lie in \[-512, 512\) px"):
            write_flow(tmp_path / "big.png", np.array([[[too_far, 0.0]]], np.float32))


def test_kitti_png_stores_the_float32_value_of_the_flow(tmp_path):
    """A float64 flow is taken as float32 first (the module's convention): 1/128 + 1e-12 px is
    float32 1/128, half a 1/64 step, which rounds to even: 0."""
    write_flow(tmp_path / "half.png", np.array([[[1 / 128 + 1e-12, 3 / 128 + 1e-12]]], np.float64))
    np.testing.assert_array_equal(read_flow(tmp_path / "half.png")[0], [[[0.0, 2 / 64]]])


def test_kitti_png_flow_is_float32_and_errors_name_the_file(tmp_path):
    path = tmp_path / "f.png"
    write_flow(path, np.full((1, 2, 2), 0.5, np.float32))
    assert read_flow(path)[0].dtype == np.float32
    (tmp_path / "cut.png").write_bytes(path.read_bytes()[:30])
    with pytest.raises(PNGError, match=r"cut\.png"):
        read_flow(tmp_path / "cut.png")


def _pfm(header: bytes, values: np.ndarray, dtype: str) -> bytes:
    return header + np.flipud(values).astype(dtype).tobytes()


@pytest.mark.parametrize("width, height, readable", [(1, 1, True), (0, 1, False), (1, 0, False),
                                                     (65537, 1, False), (1, 65537, False)])
def test_pfm_sides_from_1_to_65536_px(tmp_path, width, height, readable):
    path = tmp_path / "side.pfm"
    path.write_bytes(f"Pf\n{width} {height}\n-1.0\n".encode() + bytes(4 * width * height))
    if readable:
        assert read_pfm(path).shape == (height, width)
    else:
        with pytest.raises(FlowFormatError, match=rf"side\.pfm: absurd PFM header \(size {width}x{height}, scale -1\.0\)"):
            read_pfm(path)


def test_pfm_largest_side_is_65536(tmp_path):
    for width, height in ((65536, 1), (1, 65536)):
        (tmp_path / "wide.pfm").write_bytes(f"Pf\n{width} {height}\n-1.0\n".encode() + bytes(4 * width * height))
        assert read_pfm(tmp_path / "wide.pfm").shape == (height, width)


def test_pfm_scale_sign_gives_the_byte_order_whatever_its_size(tmp_path):
    """PFM: a positive scale (0.5 here, not only 1) means big-endian, a negative one little-endian."""
    values = np.array([[1.5, -2.25], [3.0, 1e-3]], np.float32)
    (tmp_path / "big.pfm").write_bytes(_pfm(b"Pf\n2 2\n0.5\n", values, ">f4"))
    (tmp_path / "little.pfm").write_bytes(_pfm(b"Pf\n2 2\n-0.5\n", values, "<f4"))
    np.testing.assert_array_equal(read_pfm(tmp_path / "big.pfm"), values)
    np.testing.assert_array_equal(read_pfm(tmp_path / "little.pfm"), values)


def test_pfm_errors_say_what_is_wrong(tmp_path):
    path = tmp_path / "bad.pfm"
    path.write_bytes(b"P6\n2 2\n255\n" + bytes(12))
    with pytest.raises(FlowFormatError, match=r"bad\.pfm: not a PFM file \(expected 'PF' or 'Pf', width, height, scale\)"):
        read_pfm(path)
    path.write_bytes(b"PF\n3 2\n-1.0\n" + bytes(10))
    with pytest.raises(FlowFormatError, match=r"bad\.pfm: PFM of 3x2x3 needs 72 data bytes, has 10"):
        read_pfm(path)
    path.write_bytes(b"PF\n3 2\n0\n" + bytes(72))
    with pytest.raises(FlowFormatError, match=r"scale 0\.0"):
        read_pfm(path)


@pytest.mark.parametrize("shape", [(2, 2, 2), (1, 2, 2, 3), (4,)])
def test_write_pfm_takes_only_one_or_three_channels(tmp_path, shape):
    with pytest.raises(FlowFormatError, match=rf"x\.pfm: PFM holds \(H, W\) or \(H, W, 3\) arrays, got shape {re.escape(str(shape))}"):
        write_pfm(tmp_path / "x.pfm", np.zeros(shape, np.float32))


def test_kitti_png_cannot_hold_an_empty_flow_field(tmp_path):
    with pytest.raises(PNGError, match=r"a PNG holds uint8 or uint16 \(H, W\), \(H, W, 3\) or \(H, W, 4\) samples, got uint16 \(0, 2, 3\)"):
        write_flow(tmp_path / "empty.png", np.zeros((0, 2, 2), np.float32))


# --- the PNG reader (libpng through OpenCV) against files written from the PNG specification ----


def decode_png(data: bytes):
    """``read_png`` of ``data`` written to a temporary file."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.png"
        path.write_bytes(data)
        return read_png(path, 1 << 20)


_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _spec_paeth(a: int, b: int, c: int) -> int:
    """PNG specification, 9.4: the Paeth predictor, ties broken in the order a, b, c."""
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _spec_scanlines(raw: np.ndarray, filters: list[int], bpp: int) -> bytes:
    """PNG specification, 9.2: each row of raw bytes (H, stride) filtered by its filter type,
    byte by byte, with its type byte in front."""
    out, previous = b"", [0] * raw.shape[1]
    for row, kind in zip(raw.tolist(), filters):
        line = [kind]
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            line.append((x - (0, a, b, (a + b) // 2, _spec_paeth(a, b, c))[kind]) % 256)
        out += bytes(line)
        previous = row
    return out


def _spec_png(samples: np.ndarray, filters: list[int], *, ihdr: bytes | None = None,
              extra: list[bytes] = (), split_idat: bool = False) -> bytes:
    """A PNG of ``samples`` ((H, W) gray or (H, W, 3) RGB, uint8 or uint16) written from the
    specification alone (big-endian samples, the given filter type on each row)."""
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else 3
    depth = 16 if samples.dtype == np.uint16 else 8
    raw = np.frombuffer(samples.astype(">u2" if depth == 16 else "u1").tobytes(), np.uint8).reshape(height, -1)
    data = zlib.compress(_spec_scanlines(raw, filters, channels * depth // 8))
    idat = [data[:len(data) // 2], data[len(data) // 2:]] if split_idat else [data]
    header = ihdr if ihdr is not None else struct.pack(">IIBBBBB", width, height, depth, 0 if channels == 1 else 2, 0, 0, 0)
    return (_SIGNATURE + _chunk(b"IHDR", header) + b"".join(extra) + b"".join(_chunk(b"IDAT", d) for d in idat)
            + _chunk(b"IEND", b""))


@pytest.mark.parametrize("dtype, shape", [(np.uint8, (5, 7)), (np.uint8, (5, 7, 3)),
                                          (np.uint16, (5, 7)), (np.uint16, (5, 7, 3))])
@pytest.mark.parametrize("filters", [[0] * 5, [1] * 5, [2] * 5, [3] * 5, [4] * 5, [4, 3, 2, 1, 0], [3, 4, 3, 4, 3]])
def test_png_reader_undoes_every_filter_of_the_specification(dtype, shape, filters):
    rng = np.random.default_rng(5)
    samples = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    samples[2] = samples[2, :1]  # a flat row: Paeth ties between its neighbours
    decoded = decode_png(_spec_png(samples, filters))
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, samples)


def test_png_reader_reads_split_image_data_and_skips_ancillary_chunks():
    """IDAT may be split over several chunks; unknown ancillary chunks (tEXt) and a suggested
    palette (PLTE, allowed in truecolour files) do not change the pixels."""
    rng = np.random.default_rng(6)
    samples = rng.integers(0, 65536, (4, 6, 3)).astype(np.uint16)
    extra = [_chunk(b"tEXt", b"Software\x00zoo tests"), _chunk(b"PLTE", bytes(range(6)))]
    np.testing.assert_array_equal(decode_png(_spec_png(samples, [1, 2, 3, 4], extra=extra, split_idat=True)), samples)
