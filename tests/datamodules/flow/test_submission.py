"""Benchmark submissions on tiny test splits in the published layouts, the written files read back
by independent parsers (numpy for .flo, a specification-only PNG decoder for KITTI, h5py for .flo5).

The benchmarks' lists of expected files are narrowed to the tiny trees (``dataclasses.replace``);
the real lists are checked on their own (sizes and names from the servers' tools)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.flow_fixtures import make_kitti, make_sintel
from tests.support.png_decode import decode_png
from tests.support.spring_tree import make_spring
from zoo.datamodules.flow.submission import BENCHMARKS, check_submission, submission_entries, write_submission

SCALE = 8.0


def red_of_both_frames(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """A stand-in predictor whose flow says which pair it saw: u = 8 x red of frame 1, v = -8 x red of frame 2."""
    return torch.cat([image1[:, :1], -image2[:, :1]], dim=1) * SCALE


def expected_flow(first: Path, second: Path) -> np.ndarray:
    """The stand-in's flow (H, W, 2) from the frames as Pillow reads them."""
    red = [np.asarray(Image.open(p).convert("RGB"), np.float64)[..., 0] / 255 for p in (first, second)]
    return np.stack([red[0], -red[1]], axis=-1) * SCALE


def read_flo_numpy(path: Path) -> np.ndarray:
    """Middlebury .flo: float32 202021.25, int32 width, int32 height, float32 u, v row by row."""
    raw = path.read_bytes()
    assert np.frombuffer(raw[:4], "<f4")[0] == np.float32(202021.25)
    width, height = np.frombuffer(raw[4:12], "<i4")
    assert len(raw) == 12 + 8 * width * height
    return np.frombuffer(raw[12:], "<f4").reshape(height, width, 2)


def sintel(scenes=("alley_1", "bamboo_2"), frames=3):
    return replace(BENCHMARKS["sintel"], scenes=scenes, count=2 * len(scenes) * (frames - 1))


def test_sintel_writes_frameNNNN_flo_per_pass_and_scene_as_the_bundler_reads(tmp_path: Path) -> None:
    root = make_sintel(tmp_path / "MPI-Sintel-complete")
    report = write_submission(sintel(), root, tmp_path / "out", red_of_both_frames, progress=False)
    folder = tmp_path / "out" / "sintel"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        f"{pass_}/{scene}/frame{n:04d}.flo" for pass_ in ("clean", "final") for scene in ("alley_1", "bamboo_2")
        for n in (1, 2)]
    assert report.written == 8 and report.kept == 0 and report.archive is None
    for pass_ in ("clean", "final"):
        for n in (1, 2):
            frames = root / "test" / pass_ / "bamboo_2"
            flow = read_flo_numpy(folder / pass_ / "bamboo_2" / f"frame{n:04d}.flo")
            expected = expected_flow(frames / f"frame_{n:04d}.png", frames / f"frame_{n + 1:04d}.png")
            np.testing.assert_allclose(flow, expected, rtol=0, atol=1e-5)  # float32 of a float64 formula


@pytest.mark.parametrize("year, inside", [(2015, "flow/"), (2012, "")])
def test_kitti_writes_16_bit_pngs_zipped_as_each_devkit_asks(tmp_path: Path, year: int, inside: str) -> None:
    """2015: ``flow/000000_10.png`` in the zip; 2012: ``000000_10.png`` at its root. The PNG read by a
    specification-only decoder gives u = (R - 2**15) / 64, v = (G - 2**15) / 64, B = 1 everywhere."""
    import zipfile

    root = make_kitti(tmp_path / f"KITTI{year}", year, scenes=2)
    names = {Path(f"{inside}{n:06d}_10.png") for n in range(2)}
    benchmark = replace(BENCHMARKS[f"kitti-{year}"], expected=lambda: names)
    report = write_submission(benchmark, root, tmp_path / "out", red_of_both_frames, progress=False)
    assert report.archive == tmp_path / "out" / f"kitti-{year}.zip"
    with zipfile.ZipFile(report.archive) as bundle:
        assert sorted(bundle.namelist()) == sorted(p.as_posix() for p in names)
    frames = root / "testing" / ("image_2" if year == 2015 else "colored_0")
    for n in range(2):
        samples = decode_png(tmp_path / "out" / f"kitti-{year}" / inside / f"{n:06d}_10.png")
        assert samples.dtype == np.uint16 and samples.shape[2] == 3
        flow = (samples[..., :2].astype(np.float64) - 2**15) / 64
        expected = expected_flow(frames / f"{n:06d}_10.png", frames / f"{n:06d}_11.png")
        np.testing.assert_allclose(flow, expected, rtol=0, atol=1 / 128)  # rounded to the 1/64 px grid
        assert (samples[..., 2] == 1).all()


def test_kitti_flow_beyond_the_encodable_range_is_clipped_and_counted(tmp_path: Path) -> None:
    root = make_kitti(tmp_path / "KITTI2015", 2015, scenes=1)
    benchmark = replace(BENCHMARKS["kitti-2015"], expected=lambda: {Path("flow/000000_10.png")})
    far = lambda a, b: torch.full((1, 2, *a.shape[-2:]), 600.0) * torch.tensor([1.0, -1.0])[:, None, None]
    report = write_submission(benchmark, root, tmp_path / "out", far, progress=False)
    samples = decode_png(tmp_path / "out" / "kitti-2015" / "flow" / "000000_10.png")
    assert (samples[..., 0] == 65535).all() and (samples[..., 1] == 0).all()
    assert report.clipped == samples.shape[0] * samples.shape[1]


SPRING_FILES = {Path(p) for p in (
    "0003/flow_FW_left/flow_FW_left_0001.flo5", "0003/flow_FW_left/flow_FW_left_0002.flo5",
    "0003/flow_BW_left/flow_BW_left_0003.flo5", "0003/flow_BW_left/flow_BW_left_0002.flo5",
    "0003/flow_FW_right/flow_FW_right_0001.flo5", "0003/flow_FW_right/flow_FW_right_0002.flo5",
    "0003/flow_BW_right/flow_BW_right_0003.flo5", "0003/flow_BW_right/flow_BW_right_0002.flo5")}


def spring_benchmark():
    return replace(BENCHMARKS["spring"], expected=lambda: SPRING_FILES)


def test_spring_writes_flo5_at_frame_resolution_in_the_submission_layout(tmp_path: Path) -> None:
    """``<scene>/flow_<dir>_<cam>/flow_<dir>_<cam>_NNNN.flo5``; BW NNNN is the flow from frame NNNN to NNNN - 1."""
    root = make_spring(tmp_path / "spring", {"0003": 3}, split="test")
    write_submission(spring_benchmark(), root, tmp_path / "out", red_of_both_frames, progress=False)
    folder = tmp_path / "out" / "spring"
    assert {p.relative_to(folder) for p in folder.rglob("*.flo5")} == SPRING_FILES
    with h5py.File(folder / "0003/flow_BW_right/flow_BW_right_0003.flo5", "r") as file:
        assert list(file) == ["flow"] and file["flow"].dtype == np.float32
        flow = file["flow"][()]
    frames = root / "test" / "0003" / "frame_right"
    expected = expected_flow(frames / "frame_right_0003.png", frames / "frame_right_0002.png")
    assert flow.shape == (6, 8, 2)
    np.testing.assert_allclose(flow, expected, rtol=0, atol=1e-5)


def test_an_interrupted_run_resumes_and_skips_finished_files(tmp_path: Path) -> None:
    """The first run stops at the fourth pair (an exception, as a Ctrl-C); the second predicts only the
    five pairs left, keeps the three finished files byte for byte and leaves no temporary file."""
    root = make_spring(tmp_path / "spring", {"0003": 3}, split="test")
    calls = []

    def interrupted(image1, image2):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(1)
        return red_of_both_frames(image1, image2)

    with pytest.raises(KeyboardInterrupt):
        write_submission(spring_benchmark(), root, tmp_path / "out", interrupted, progress=False)
    folder = tmp_path / "out" / "spring"
    finished = {p: p.read_bytes() for p in folder.rglob("*.flo5")}
    assert len(finished) == 3 and not list(folder.rglob(".*.tmp"))

    counted = []
    report = write_submission(spring_benchmark(), root, tmp_path / "out",
                              lambda a, b: counted.append(1) or red_of_both_frames(a, b), progress=False)
    assert (report.kept, report.written, len(counted)) == (3, 5, 5)
    assert all(path.read_bytes() == data for path, data in finished.items())


def test_the_completeness_check_names_a_missing_file(tmp_path: Path) -> None:
    root = make_spring(tmp_path / "spring", {"0003": 3}, split="test")
    benchmark = spring_benchmark()
    write_submission(benchmark, root, tmp_path / "out", red_of_both_frames, progress=False)
    gone = tmp_path / "out" / "spring" / "0003/flow_BW_left/flow_BW_left_0002.flo5"
    gone.unlink()
    with pytest.raises(ValueError, match="1 of 8 files missing or malformed") as error:
        check_submission(benchmark, tmp_path / "out" / "spring", submission_entries(benchmark, root))
    assert str(gone) in str(error.value)


def test_the_servers_lists_of_files() -> None:
    """Spring: 3,960 flows (the subsampling tool's 10 scenes, both cameras, both directions: 4 x 990);
    KITTI: 000000..000194 (2012, root) and 000000..000199 (2015, flow/); Sintel: the bundler's 12 scenes."""
    spring = BENCHMARKS["spring"].expected()
    assert len(spring) == 3960
    assert Path("0046/flow_BW_right/flow_BW_right_0117.flo5") in spring
    assert Path("0046/flow_FW_right/flow_FW_right_0117.flo5") not in spring
    assert Path("0003/flow_BW_left/flow_BW_left_0001.flo5") not in spring
    assert BENCHMARKS["kitti-2012"].expected() == {Path(f"{n:06d}_10.png") for n in range(195)}
    assert BENCHMARKS["kitti-2015"].expected() == {Path(f"flow/{n:06d}_10.png") for n in range(200)}
    assert len(BENCHMARKS["sintel"].scenes) == 12 and BENCHMARKS["sintel"].count == 2 * 552
