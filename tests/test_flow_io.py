"""Flow and image formats: round trips, hand-built files in the exact formats, the real FlyingChairs sample."""

from __future__ import annotations

import io
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


def test_png_decoder_reads_split_image_data_and_skips_ancillary_chunks():
    """IDAT may be split over several chunks; unknown ancillary chunks (tEXt) and a suggested
    palette (PLTE, allowed in truecolour files) do not change the pixels."""
    rng = np.random.default_rng(6)
    samples = rng.integers(0, 65536, (4, 6, 3)).astype(np.uint16)
    extra = [_chunk(b"tEXt", b"Software\x00zoo tests"), _chunk(b"PLTE", bytes(range(6)))]
    np.testing.assert_array_equal(decode_png(_spec_png(samples, [1, 2, 3, 4], extra=extra, split_idat=True)), samples)
