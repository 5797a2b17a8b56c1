"""Flow and image formats: round trips, hand-built files in the exact formats, the real FlyingChairs sample."""

from __future__ import annotations

import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from datamodules.flow.formats import FlowFormatError, read_flow, read_image, read_pfm, write_flow, write_pfm
from datamodules.flow.png16 import PNGError, decode_png, encode_png


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


# --- KITTI 16-bit PNG --------------------------------------------------------------------------


def _hand_built_png_rgb16(rows: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written independently of our encoder (filter 0 on every row)."""
    height, width, _ = rows.shape

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    raw = b"".join(b"\x00" + rows[r].astype(">u2").tobytes() for r in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def test_kitti_png_hand_built_file_needs_all_16_bits(tmp_path):
    # 300.015625 px = 32768 + 19201 and -0.984375 px = 32768 - 63: both bytes of each sample matter.
    samples = np.array([[[51969, 32705, 1], [32768, 32768, 0]], [[65535, 0, 1], [32769, 32767, 1]]], np.uint16)
    path = tmp_path / "000000_10.png"
    path.write_bytes(_hand_built_png_rgb16(samples))
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
    # Pillow sees a 16-bit RGB file (and would truncate it): the bytes are what KITTI's devkit expects.
    assert decode_png((tmp_path / "f.png").read_bytes()).dtype == np.uint16


def test_kitti_png_rejects_flow_it_cannot_represent(tmp_path):
    with pytest.raises(FlowFormatError, match="512"):
        write_flow(tmp_path / "big.png", np.full((2, 2, 2), 600.0, np.float32))


def test_kitti_png_rejects_8_bit_files(tmp_path):
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "eight.png")
    with pytest.raises(FlowFormatError, match="16-bit RGB"):
        read_flow(tmp_path / "eight.png")


# --- the PNG codec itself ----------------------------------------------------------------------


@pytest.mark.parametrize("filter_type", [None, 0, 1, 2, 3, 4])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(6, 11), (6, 11, 3)])
def test_png_codec_round_trip_every_filter(filter_type, dtype, shape):
    rng = np.random.default_rng(2)
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    back = decode_png(encode_png(image, filter_type))
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, image)


def test_png_codec_agrees_with_pillow_where_pillow_is_exact():
    rng = np.random.default_rng(3)
    smooth = np.cumsum(rng.integers(0, 8, (33, 47, 3)), axis=1).astype(np.uint8)  # makes Pillow pick varied filters
    buffer = io.BytesIO()
    Image.fromarray(smooth).save(buffer, format="PNG")
    np.testing.assert_array_equal(decode_png(buffer.getvalue()), smooth)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(encode_png(smooth)))), smooth)
    gray16 = rng.integers(0, 65536, (21, 13)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(gray16).save(buffer, format="PNG")
    np.testing.assert_array_equal(decode_png(buffer.getvalue()), gray16)


def test_png_codec_reports_corruption():
    data = bytearray(encode_png(np.zeros((4, 4), np.uint8)))
    data[40] ^= 0xFF
    with pytest.raises(PNGError, match="CRC|corrupt"):
        decode_png(bytes(data), "bad.png")
    with pytest.raises(PNGError, match="signature"):
        decode_png(b"GIF89a", "bad.png")


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


@pytest.mark.parametrize("pixels, description", [
    (np.zeros((3, 3), np.uint8), "8-bit with 1 channel"),
    (np.zeros((3, 3, 3), np.uint8), "8-bit with 3 channel"),
    (np.zeros((3, 3), np.uint16), "16-bit with 1 channel"),
])
def test_kitti_png_of_another_kind_is_described(tmp_path, pixels, description):
    path = tmp_path / "not_kitti.png"
    path.write_bytes(encode_png(pixels))
    with pytest.raises(FlowFormatError, match=rf"not_kitti\.png: KITTI flow PNGs are 16-bit RGB, this one is {description}"):
        read_flow(path)


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
    with pytest.raises(PNGError, match=r"expected an image \(H, W\) or \(H, W, 3\), got shape \(0, 2, 3\)"):
        write_flow(tmp_path / "empty.png", np.zeros((0, 2, 2), np.float32))


# --- the PNG codec against the PNG specification ------------------------------------------------

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
def test_png_decoder_undoes_every_filter_of_the_specification(dtype, shape, filters):
    rng = np.random.default_rng(5)
    samples = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    samples[2] = samples[2, :1]  # a flat row: Paeth ties between its neighbours
    decoded = decode_png(_spec_png(samples, filters))
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, samples)


def test_png_decoder_reads_split_image_data_and_skips_ancillary_chunks():
    """IDAT may be split over several chunks; unknown ancillary chunks (tEXt) and a suggested
    palette (PLTE, allowed in truecolour files) do not change the pixels."""
    rng = np.random.default_rng(6)
    samples = rng.integers(0, 65536, (4, 6, 3)).astype(np.uint16)
    extra = [_chunk(b"tEXt", b"Software\x00zoo tests"), _chunk(b"PLTE", bytes(range(6)))]
    np.testing.assert_array_equal(decode_png(_spec_png(samples, [1, 2, 3, 4], extra=extra, split_idat=True)), samples)


def test_png_decoder_sides_from_1_to_65536_px():
    samples = np.full((1, 1), 7, np.uint8)
    np.testing.assert_array_equal(decode_png(_spec_png(samples, [0])), samples)
    # 65536 px passes the header check: the decoder gets as far as the (deliberately short) data
    for width, height, expected in ((65536, 1, 65537), (1, 65536, 131072)):
        data = _SIGNATURE + _chunk(b"IHDR", _header(width, height)) + _chunk(b"IDAT", zlib.compress(b"\x00")) + \
            _chunk(b"IEND", b"")
        with pytest.raises(PNGError, match=f"image data holds 1 bytes, expected {expected} for {width}x{height}"):
            decode_png(data)


def _header(width=2, height=2, depth=8, colour=0, compression=0, filtering=0, interlace=0) -> bytes:
    return struct.pack(">IIBBBBB", width, height, depth, colour, compression, filtering, interlace)


@pytest.mark.parametrize("ihdr, message", [
    (_header(width=0), "implausible PNG size 0x2"),
    (_header(height=0), "implausible PNG size 2x0"),
    (_header(width=65537), "implausible PNG size 65537x2"),
    (_header(height=65537), "implausible PNG size 2x65537"),
    (_header(width=2 ** 32 - 1), "implausible PNG size 4294967295x2"),
    (_header(colour=2, depth=4), r"colour type 2 at 4 bits is not supported \(expected grayscale or RGB at 8 or 16 bits\)"),
    (_header(colour=3), "colour type 3 at 8 bits is not supported"),
    (_header(colour=6), "colour type 6 at 8 bits is not supported"),
    (_header(compression=1), "interlaced or non-standard PNGs are not supported"),
    (_header(filtering=1), "interlaced or non-standard PNGs are not supported"),
    (_header(interlace=1), "interlaced or non-standard PNGs are not supported"),
    (_header()[:12], "IHDR chunk has 12 bytes, expected 13"),
])
def test_png_decoder_refuses_what_it_does_not_support(ihdr, message):
    data = _spec_png(np.zeros((2, 2), np.uint8), [0, 0], ihdr=ihdr)
    with pytest.raises(PNGError, match=rf"^odd\.png: {message}"):
        decode_png(data, "odd.png")


def test_png_decoder_errors_name_the_file_and_what_is_wrong():
    good = _spec_png(np.zeros((2, 3), np.uint8), [0, 0])
    cases = [
        (good[:-2], r"truncated b'IEND' chunk"),                  # the CRC cut short
        (good[:-4], r"truncated b'IEND' chunk"),                  # only the chunk's length and type left
        (good[:-12], r"truncated PNG \(no IEND chunk\)"),
        (_SIGNATURE + _chunk(b"IDAT", zlib.compress(bytes(8))) + _chunk(b"IEND", b""), "PNG without IHDR or IDAT chunk"),
        (_SIGNATURE + _chunk(b"IHDR", _header()) + _chunk(b"IEND", b""), "PNG without IHDR or IDAT chunk"),
        (_SIGNATURE + _chunk(b"IHDR", _header()) + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b""),
         r"corrupt image data \(Error -3"),
        (_SIGNATURE + _chunk(b"IHDR", _header(width=3)) + _chunk(b"IDAT", zlib.compress(bytes(7))) + _chunk(b"IEND", b""),
         "image data holds 7 bytes, expected 8 for 3x2"),
        (_SIGNATURE + _chunk(b"IHDR", _header(width=3)) + _chunk(b"IDAT", zlib.compress(b"\x05" + bytes(7)))
         + _chunk(b"IEND", b""), r"unknown row filter type 5 \(expected 0..4\)"),
        (b"GIF89a", r"not a PNG file \(missing PNG signature\)"),
    ]
    for data, message in cases:
        with pytest.raises(PNGError, match=rf"^dir/name\.png: {message}"):
            decode_png(data, "dir/name.png")
    corrupt = bytearray(good)
    corrupt[20] ^= 1  # inside IHDR
    with pytest.raises(PNGError, match=r"^dir/name\.png: CRC mismatch in b'IHDR' chunk \(file corrupted\)"):
        decode_png(bytes(corrupt), "dir/name.png")
    with pytest.raises(PNGError, match=r"^<bytes>: not a PNG file"):
        decode_png(b"GIF89a")


def _idat_rows(png: bytes) -> list[bytes]:
    """The decompressed scanlines of a PNG with one IDAT chunk (spec 5.3: chunk layout)."""
    start = png.index(b"IDAT") - 4
    length = struct.unpack(">I", png[start:start + 4])[0]
    raw = zlib.decompress(png[start + 8:start + 8 + length])
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    stride = 1 + width * (1 if colour == 0 else 3) * depth // 8
    return [raw[r * stride:(r + 1) * stride] for r in range(height)]


def test_png_encoder_writes_the_forced_filter_and_a_standard_ending():
    image = np.random.default_rng(7).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    for kind in range(5):
        png = encode_png(image, kind)
        assert [row[0] for row in _idat_rows(png)] == [kind] * 4
        assert png.endswith(b"\x00\x00\x00\x00IEND\xaeB`\x82")  # spec 11.2.5: IEND is empty
    with pytest.raises(PNGError, match=r"filter_type must be None or 0..4, got 5"):
        encode_png(image, 5)


@pytest.mark.parametrize("rows, chosen", [
    # Row 1 minus the row above is 255 everywhere (cost 1 each as a signed byte) while its
    # difference to the left neighbour is 2 (cost 2): Up (2) wins; with unsigned costs Sub would.
    ([[10, 12, 14, 16, 18, 20], [9, 11, 13, 15, 17, 19]], 2),
    # Sub gives 255, 0, 0, ... (cost 1) and so do Up (1, 0, ...) and Paeth: the tie goes to the
    # lowest type, Sub; a byte of 255 costing more than 1 would hand it to Up.
    ([[254, 255, 255, 255, 255, 255], [255, 255, 255, 255, 255, 255]], 1),
    # Paeth gives one byte 127 (cost 127), Sub one byte 128 (cost 128): Paeth wins by one.
    ([[1, 1, 1, 1, 1, 1], [128, 128, 128, 128, 128, 128]], 4),
])
def test_png_encoder_picks_the_filter_with_the_smallest_signed_byte_sum(rows, chosen):
    """libpng's heuristic: per row, the filter minimising the sum of |filtered byte| read as signed."""
    image = np.array(rows, np.uint8)
    assert _idat_rows(encode_png(image))[1][0] == chosen


@pytest.mark.parametrize("shape, dtype, message", [
    ((2, 2), np.int16, "PNG samples must be uint8 or uint16, got int16"),
    ((2, 2, 2), np.uint8, r"expected an image \(H, W\) or \(H, W, 3\), got shape \(2, 2, 2\)"),
    ((1, 2, 2, 3), np.uint8, r"expected an image .*, got shape \(1, 2, 2, 3\)"),
    ((0, 3), np.uint8, r"expected an image .*, got shape \(0, 3, 1\)"),
])
def test_png_encoder_refuses_what_png_cannot_hold(shape, dtype, message):
    with pytest.raises(PNGError, match=rf"^{message}"):
        encode_png(np.zeros(shape, dtype))


def test_png_encoder_one_pixel_image():
    np.testing.assert_array_equal(decode_png(encode_png(np.array([[42]], np.uint8))), [[42]])
