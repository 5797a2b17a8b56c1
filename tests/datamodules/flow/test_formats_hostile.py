"""PFM headers that the format's definition allows, or that are broken (issue 26, item 18): a scale
``-``, ``.`` or ``e`` raised a bare ``could not convert string to float`` naming no file, and a
header written with Windows line ends (``\\r\\n``) was misread by one byte. The files are built
byte by byte here from the PFM definition (header lines ``PF``, ``W H``, scale; negative scale =
little-endian; rows bottom to top)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from zoo.datamodules.flow.formats import FlowFormatError, read_flow, read_pfm

pytestmark = pytest.mark.hostile

ROWS = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)  # (H, W, 3), top row first


def _pfm(header: bytes, image: np.ndarray = ROWS, dtype: str = "<f4") -> bytes:
    return header + np.flipud(image).astype(dtype).tobytes()


@pytest.mark.parametrize("scale", [b"-", b".", b"e", b"-e", b"1e", b"+"])
def test_a_scale_that_is_no_number_names_the_file(tmp_path, scale):
    path = tmp_path / "bad.pfm"
    path.write_bytes(_pfm(b"PF\n3 2\n" + scale + b"\n"))
    with pytest.raises(FlowFormatError, match="^" + re.escape(f"{path}: PFM scale '{scale.decode()}' is not a number")):
        read_pfm(path)


@pytest.mark.parametrize(("header", "dtype"), [(b"PF\r\n3 2\r\n-1.0\r\n", "<f4"), (b"PF\r\n3 2\r\n1.0\r\n", ">f4"),
                                               (b"PF\n3 2\n-1.0\n", "<f4"), (b"PF 3 2 -1 ", "<f4")])
def test_line_ends_of_any_platform_read_the_same_values(tmp_path, header, dtype):
    path = tmp_path / "flow.pfm"
    path.write_bytes(_pfm(header, dtype=dtype))
    np.testing.assert_array_equal(read_pfm(path), ROWS)
    flow, valid = read_flow(path)
    np.testing.assert_array_equal(flow, ROWS[..., :2])
    assert valid.all()


def test_a_body_one_byte_short_or_long_is_still_refused(tmp_path):
    path = tmp_path / "flow.pfm"
    for body in (_pfm(b"PF\r\n3 2\r\n-1.0\r\n")[:-1], _pfm(b"PF\n3 2\n-1.0\n") + b"\0"):
        path.write_bytes(body)
        with pytest.raises(FlowFormatError, match="needs 72 data bytes"):
            read_pfm(path)
