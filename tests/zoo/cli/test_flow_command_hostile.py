"""``zoo flow``: every output format, non-contiguous flow arrays, outputs that would overwrite
each other or an input, and bad inputs (issue 12, item 2, and cases found beyond it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.hostile import CliResult, assert_one_line_error, call_cli, run_cli, tree, write_frames
from zoo.datamodules import read_flow, write_flow

pytestmark = pytest.mark.hostile

FLOW = ("flow", "--weights", "pwcnet.synth", "--precision", "float32")


def _flow(*args) -> CliResult:
    return call_cli(*FLOW, *args)


@pytest.mark.parametrize("suffix", [".png", ".pfm"])
def test_png_and_pfm_outputs_match_the_flo_output(tmp_path: Path, suffix: str) -> None:
    """``zoo flow A B -o out.png`` writes a KITTI 16-bit flow PNG (today: numpy's "last axis
    must be contiguous"); read back it equals the ``.flo`` output within KITTI's 1/64 px
    quantisation (rounding: at most 1/128 px); ``.pfm`` equals it exactly. Every pixel valid."""
    first, second = write_frames(tmp_path)
    for name in ("out.flo", f"out{suffix}"):
        result = _flow(first, second, "-o", tmp_path / name)
        assert result.rc == 0, result.stderr
    reference, reference_valid = read_flow(tmp_path / "out.flo")
    other, valid = read_flow(tmp_path / f"out{suffix}")
    assert reference_valid.all() and valid.all()
    tolerance = 1 / 128 + 1e-6 if suffix == ".png" else 0
    np.testing.assert_allclose(other, reference, rtol=0, atol=tolerance)


def _channels_first_view(flow: np.ndarray) -> np.ndarray:
    """What ``tensor.permute(1, 2, 0).numpy()`` gives for a (2, H, W) tensor: (H, W, 2) whose
    last axis is not contiguous."""
    return np.ascontiguousarray(flow.transpose(2, 0, 1)).transpose(1, 2, 0)


VIEWS = {
    "channels-first-memory": _channels_first_view,
    "reversed-columns": lambda flow: flow[:, ::-1],
    "transposed": lambda flow: flow.transpose(1, 0, 2),
    "every-other-column": lambda flow: flow[:, ::2],
}


@pytest.mark.parametrize("suffix", [".png", ".flo", ".pfm"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_write_flow_accepts_non_contiguous_views(tmp_path: Path, view: str, suffix: str) -> None:
    """``write_flow`` takes any (H, W, 2) array, whatever its strides, in every format."""
    rng = np.random.default_rng(0)
    flow = VIEWS[view]((rng.standard_normal((6, 8, 2)) * 10).astype(np.float32))
    assert not flow.flags["C_CONTIGUOUS"]
    path = tmp_path / f"flow{suffix}"
    write_flow(path, flow)
    read, valid = read_flow(path)
    expected = np.round(flow * 64) / 64 if suffix == ".png" else flow
    np.testing.assert_allclose(read, expected, rtol=0, atol=1e-6)
    assert valid.all()


@pytest.mark.parametrize("outputs", [
    ("-o", "{tmp}/same.flo", "--png", "{tmp}/same.flo"),  # the colour image would replace the flow
    ("-o", "{tmp}/out.flo", "--png", "{first}"),           # ... or the first input frame
    ("-o", "{second}"),                                     # the KITTI flow would replace a frame
], ids=["flow-and-colour-same-path", "colour-over-input", "flow-over-input"])
def test_outputs_that_would_overwrite_each_other_or_an_input_are_refused(tmp_path: Path, outputs) -> None:
    """Today the later write silently replaces the earlier file (exit 0). The command must
    refuse before writing anything, naming the clashing path, and leave the inputs intact."""
    first, second = write_frames(tmp_path)
    frames = {p: p.read_bytes() for p in (first, second)}
    args = [a.format(tmp=tmp_path, first=first, second=second) for a in outputs]
    result = _flow(first, second, *args)
    clash = args[-1]
    assert_one_line_error(result, clash)
    assert {p: p.read_bytes() for p in frames} == frames, "an input frame was overwritten"
    assert not (tmp_path / "same.flo").exists() and not (tmp_path / "out.flo").exists()


def test_frames_with_the_same_stem_are_refused(tmp_path: Path) -> None:
    """``--frames`` writes ``OUTDIR/<stem>.flo``: ``f.png`` and ``f.jpg`` would both write
    ``f.flo`` (today: "2 flow files" reported, one left). The clash is refused up front, the
    error names both frames, and nothing is written."""
    frames = tmp_path / "frames"
    write_frames(frames, ("f.png", "f.jpg", "g.png"))
    out = tmp_path / "out"
    result = _flow("--frames", frames, "-o", out)
    assert_one_line_error(result, "f.png", "f.jpg")
    assert not (out.exists() and list(out.glob("*.flo"))), "flow files were written"


def _bad_input(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.png"
    if kind == "directory":
        path.mkdir()
    elif kind == "text":
        path.write_text("not an image\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        full = write_frames(tmp_path / "full")[0].read_bytes()
        path.write_bytes(full[: len(full) // 3])
    return path  # "missing": never created


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "empty", "truncated"])
def test_unreadable_input_is_a_one_line_error_naming_it(tmp_path: Path, kind: str) -> None:
    """Guard (README: errors print one line): a missing file, a folder, a text file, an empty
    or truncated PNG as the first frame: the error names it, no flow file appears."""
    bad = _bad_input(tmp_path, kind)
    second = write_frames(tmp_path / "ok")[1]
    result = _flow(bad, second, "-o", tmp_path / "out.flo")
    assert_one_line_error(result, str(bad))
    assert not (tmp_path / "out.flo").exists()


@pytest.mark.parametrize("count", [0, 1])
def test_frames_folder_with_fewer_than_two_frames(tmp_path: Path, count: int) -> None:
    """Guard: an empty folder or a folder with one frame is a one-line error naming it."""
    frames = tmp_path / "frames"
    frames.mkdir()
    if count:
        write_frames(frames, ("only.png",))
    result = _flow("--frames", frames, "-o", tmp_path / "out")
    assert_one_line_error(result, str(frames))


def test_unicode_and_space_paths(tmp_path: Path) -> None:
    """Guard: frames and outputs in a folder with spaces and non-ASCII characters."""
    folder = tmp_path / "dossier ü 流"
    first, second = write_frames(folder, ("image un.png", "image deux.png"))
    out = folder / "flot résultat.flo"
    result = _flow(first, second, "-o", out, "--png", folder / "couleur é.png")
    assert result.rc == 0, result.stderr
    flow, valid = read_flow(out)
    assert flow.shape == (64, 80, 2) and valid.all()
    assert (folder / "couleur é.png").is_file()


def test_frames_of_different_sizes_are_refused(tmp_path: Path) -> None:
    """Guard (README): frames of different sizes are refused, naming both."""
    first = write_frames(tmp_path / "a", ("first.png",), height=64, width=80)[0]
    second = write_frames(tmp_path / "b", ("second.png",), height=64, width=96)[0]
    assert_one_line_error(_flow(first, second, "-o", tmp_path / "out.flo"), str(first), str(second))


def test_frames_with_nan_are_refused(tmp_path: Path) -> None:
    """README: "frames ... NaN values are refused". A float TIFF (mode F) can hold NaN; today
    Pillow's conversion to 8-bit RGB turns it into a number and the flow is computed anyway.
    One line naming the file and NaN."""
    from PIL import Image

    values = np.full((64, 80), 0.5, np.float32)
    values[10, 10] = np.nan
    first = tmp_path / "nan.tif"
    Image.fromarray(values).save(first)
    second = tmp_path / "ok.tif"
    Image.fromarray(np.full((64, 80), 0.5, np.float32)).save(second)
    result = _flow(first, second, "-o", tmp_path / "out.flo")
    assert_one_line_error(result, str(first), "NaN")
    assert not (tmp_path / "out.flo").exists()


def test_frames_under_64_px_are_padded(tmp_path: Path) -> None:
    """Guard (README): images under 64 px are padded; the flow has the frames' size."""
    first, second = write_frames(tmp_path, height=20, width=30)
    result = _flow(first, second, "-o", tmp_path / "out.flo")
    assert result.rc == 0, result.stderr
    assert read_flow(tmp_path / "out.flo")[0].shape == (20, 30, 2)


def test_failed_write_names_the_output_and_leaves_nothing(tmp_path: Path) -> None:
    """README: every file is written atomically. A write that fails half-way (``ulimit -f 16``:
    the 40 KB ``.flo`` hits "File too large", as on a full disk) leaves neither the output nor a
    temporary file, and the one-line error names the output (today: "[Errno 27] File too
    large", no file named)."""
    first, second = write_frames(tmp_path / "frames")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "flow.flo"
    result = run_cli(*FLOW, first, second, "-o", out, file_limit_kb=16)
    assert_one_line_error(result, str(out))
    assert tree(out_dir) == {}, f"left behind: {sorted(tree(out_dir))}"
