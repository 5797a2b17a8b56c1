"""``zoo flow --video`` on clips with known motion, and the shared ``--max-size`` helper.

The clips pan a window over a smooth texture by (dx, dy) = (3, 1) px per frame, so the true flow
of every pair is (-3, -1) px everywhere (the borders, where new content enters, are left out of
the means). The bundled ``pwcnet.synth`` is a small CPU-trained model (held-out EPE 2.05 px on
its synthetic scenes); on this pure translation its mean flow is within 0.16 px of the truth at
full size and within 0.2 px with ``--max-size 96`` (measured when the tests were written), so
the tests allow 0.3 px: a tenth of the motion, while zero flow would be 3.2 px off.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.video_fixtures import panning_clip
from zoo.cli import flow_estimation, main
from zoo.datamodules.flow.formats import read_flow
from zoo.datamodules.flow.video import video_frames, video_info, video_writer
from zoo.datamodules.flow.visualize import flow_to_color
from zoo.models.flow_inference import estimate_flow

SIZE, STEP, FRAMES = (128, 192), (3, 1), 6
TRUE_FLOW = np.array([-STEP[0], -STEP[1]], np.float32)
BORDER = 8
TOLERANCE_PX = 0.3


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "pan.mkv"
    written = panning_clip(path, FRAMES, SIZE, STEP)
    decoded = [frame for _, frame in video_frames(path)]
    assert len(decoded) == FRAMES and all(np.array_equal(a, b) for a, b in zip(decoded, written))  # lossless
    return path


def _mean_interior_flow(path: Path) -> np.ndarray:
    flow, valid = read_flow(path)
    assert valid.all()
    return flow[BORDER:-BORDER, BORDER:-BORDER].reshape(-1, 2).mean(0)


def test_video_flow_files_png_and_flow_video(clip, tmp_path, monkeypatch, capsys):
    batches = []
    estimate = flow_estimation.estimate
    monkeypatch.setattr(flow_estimation, "estimate", lambda net, a, b, args: batches.append(len(a)) or estimate(net, a, b, args))
    out = tmp_path / "flow"
    assert main(["flow", "--video", str(clip), "-o", str(out), "--weights", "pwcnet.synth", "--precision", "float32",
                 "--batch-size", "2", "--png", "--video-out", str(tmp_path / "flow.mp4")]) == 0
    assert batches == [2, 2, 1]  # streamed: 5 pairs in batches of 2, never more than 3 frames held
    names = [f"{i:06d}" for i in range(FRAMES - 1)]
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{n}.flo" for n in names] + [f"{n}.png" for n in names])
    for name in names:
        np.testing.assert_allclose(_mean_interior_flow(out / f"{name}.flo"), TRUE_FLOW, atol=TOLERANCE_PX)
    captured = capsys.readouterr()
    assert "frame/s" not in captured.err and "zoo flow --video" not in captured.err  # no bar: stderr is no terminal
    assert f"{FRAMES - 1} flow files" in captured.out and "frames/s" in captured.out
    assert f"({SIZE[0]}x{SIZE[1]}, H x W)" in captured.out  # the clip's size as every command prints sizes

    info = video_info(tmp_path / "flow.mp4")
    assert (info.width, info.height, info.fps) == (SIZE[1], SIZE[0], 25)
    colour = [frame for _, frame in video_frames(tmp_path / "flow.mp4")]
    assert len(colour) == FRAMES - 1
    expected = flow_to_color(read_flow(out / "000000.flo")[0]).astype(np.float32)
    assert np.abs(colour[0].astype(np.float32) - expected).mean() < 4.0  # H.264 yuv420p is lossy, a few levels


def test_every_n_frames_doubles_the_motion(clip, tmp_path):
    out = tmp_path / "flow"
    assert main(["flow", "--video", str(clip), "-o", str(out), "--weights", "pwcnet.synth",
                 "--precision", "float32", "--every", "2"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["000000.flo", "000002.flo"]  # frames 0, 2, 4 kept
    for name in ("000000.flo", "000002.flo"):
        np.testing.assert_allclose(_mean_interior_flow(out / name), 2 * TRUE_FLOW, atol=2 * TOLERANCE_PX)


def test_max_size_runs_smaller_and_scales_the_flow_back(clip, tmp_path):
    out = tmp_path / "flow"
    assert main(["flow", "--video", str(clip), "-o", str(out), "--weights", "pwcnet.synth",
                 "--precision", "float32", "--max-size", "96"]) == 0
    flow, _ = read_flow(out / "000000.flo")
    assert flow.shape == (*SIZE, 2)  # the input resolution, not the network's 64x96
    np.testing.assert_allclose(_mean_interior_flow(out / "000000.flo"), TRUE_FLOW, atol=TOLERANCE_PX)


class _ConstantFlow(torch.nn.Module):
    """A stand-in network: flow (1, 2) px of its own input grid everywhere; records input sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.sizes: list[tuple[int, int]] = []

    def forward(self, image1, image2):
        self.sizes.append(tuple(image1.shape[-2:]))
        flow = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
        return flow.expand(image1.shape[0], 2, *image1.shape[-2:]) + self.weight


def test_estimate_flow_max_size_helper_is_exact():
    """(downscaled_size itself: tests/models/pwcnet/test_inference.py.)"""
    network = _ConstantFlow()
    images = torch.rand(2, 3, 360, 640)
    flow = estimate_flow(network, images, images, max_size=320)
    assert network.sizes == [(180, 320)] and flow.shape == (2, 2, 360, 640)
    # (1, 2) px at half resolution are (2, 4) px at full resolution
    torch.testing.assert_close(flow, torch.tensor([2.0, 4.0]).view(1, 2, 1, 1).expand(2, 2, 360, 640))


def test_video_writer_is_atomic_and_refuses_unknown_extensions(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="stop"), video_writer(target, 10) as write:
        write(np.zeros((16, 16, 3), np.uint8))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left
    with pytest.raises(ValueError, match="unknown video extension"), video_writer(tmp_path / "out.gif", 10):
        pass
    with video_writer(target, 10) as write:  # odd sides are padded for yuv420p
        for value in (0, 128, 255):
            write(np.full((15, 17, 3), value, np.uint8))
    frames = [frame for _, frame in video_frames(target)]
    assert len(frames) == 3 and frames[0].shape == (16, 18, 3)
    assert abs(float(frames[2].mean()) - 255) < 3 and abs(float(frames[1].mean()) - 128) < 3


@pytest.mark.parametrize("argv, message", [
    (["--video", "missing.mp4"], "missing.mp4: no such video file"),
    (["--video", "{clip}", "--every", "0"], "--every and --batch-size must be at least 1"),
    (["--video", "{clip}", "--png", "x.png"], "--png is a flag"),
    (["--video", "{clip}", "--video-out", "flow.gif"], "expected a file name ending in .mp4"),
    (["--video", "{clip}", "a.png", "b.png"], "give one input"),
    (["--video-out", "flow.mp4", "a.png", "b.png"], "--video-out and --every apply to --video"),
    (["--video", "{clip}", "--max-size", "0"], "--max-size must be at least 64 px"),
])
def test_bad_video_arguments_give_one_line_errors(clip, tmp_path, capsys, argv, message):
    argv = [a.replace("{clip}", str(clip)) for a in argv]
    assert main(["flow", *argv, "-o", str(tmp_path / "out"), "--weights", "pwcnet.synth"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and message in err and err.count("\n") == 1


def test_not_a_video_and_too_short_clips_are_refused(tmp_path, capsys):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    assert main(["flow", "--video", str(junk), "-o", str(tmp_path / "a"), "--weights", "pwcnet.synth"]) == 1
    assert f"{junk}: not a readable video file" in capsys.readouterr().err
    single = tmp_path / "one.mkv"
    panning_clip(single, 1, (64, 64), (1, 0))
    assert main(["flow", "--video", str(single), "-o", str(tmp_path / "b"), "--weights", "pwcnet.synth",
                 "--video-out", str(tmp_path / "b.mp4")]) == 1
    assert "needs at least two frames" in capsys.readouterr().err
    assert not (tmp_path / "b.mp4").exists()
