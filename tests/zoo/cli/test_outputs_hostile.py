"""Every command that writes a file, pointed at its own inputs in every spelling (the path itself,
a ``..`` detour, a symlinked folder, a symlink, a hard link) and at the wrong suffix: each refuses
in one line naming the output and the input, and leaves every file as it was (issue 26, items 1-3).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.support.hostile import MNIST_CPU_WEIGHTS, SYNTH_WEIGHTS, assert_one_line_error, call_cli, write_frames
from tests.support.output_spellings import SPELLINGS, snapshot, spell

pytestmark = [pytest.mark.hostile, pytest.mark.usefixtures("zoo_argv")]

FLOW = ("flow", "--weights", "pwcnet.synth", "--precision", "float32")


def _refused(result, output: Path, input_: Path, *, before: dict, folders: tuple[Path, ...]) -> None:
    """One line naming both paths; nothing under ``folders`` changed."""
    assert_one_line_error(result, str(output), str(input_), "the same file as")
    assert snapshot(*folders) == before, "a file was written or changed"


@pytest.fixture()
def frames(tmp_path: Path) -> list[Path]:
    return write_frames(tmp_path / "in")


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("option", ["-o", "--png"])
def test_flow_of_two_images_onto_an_input(tmp_path: Path, frames: list[Path], how: str, option: str) -> None:
    target = spell(frames[1], how, ".png")
    outputs = {"-o": tmp_path / "out.flo", "--png": tmp_path / "out.png", option: target}
    before = snapshot(tmp_path)
    result = call_cli(*FLOW, *frames, "-o", outputs["-o"], "--png", outputs["--png"])
    _refused(result, target, frames[1], before=before, folders=(tmp_path,))


@pytest.mark.parametrize("how", ["hardlink", "symlink"])
def test_flow_of_frames_onto_a_frame_in_another_folder(tmp_path: Path, frames: list[Path], how: str) -> None:
    """``--frames in -o out --png`` writes ``out/a.png``: refused where that is another name of ``in/a.png``."""
    out = tmp_path / "out"
    out.mkdir()
    link = out / "a.png"
    (link.symlink_to(frames[0]) if how == "symlink" else link.hardlink_to(frames[0]))
    before = snapshot(tmp_path)
    result = call_cli(*FLOW, "--frames", frames[0].parent, "-o", out, "--png")
    _refused(result, link, frames[0], before=before, folders=(tmp_path,))


def test_flow_of_frames_into_a_symlink_of_the_frames_folder(tmp_path: Path, frames: list[Path]) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(frames[0].parent, target_is_directory=True)
    before = snapshot(tmp_path)
    result = call_cli(*FLOW, "--frames", frames[0].parent, "-o", alias, "--png")
    assert_one_line_error(result, str(alias), "must differ from the frames folder")
    assert snapshot(tmp_path) == before


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    from tests.support.video_fixtures import panning_clip

    path = tmp_path / "in" / "clip.mkv"
    path.parent.mkdir()
    panning_clip(path, 3, (64, 64), (2, 1))
    return path


@pytest.mark.parametrize("how", SPELLINGS)
def test_flow_video_out_onto_the_clip(tmp_path: Path, clip: Path, how: str) -> None:
    """Issue 26 item 1: ``--video-out clip.mkv`` replaced the input video (exit 0)."""
    target = spell(clip, how)
    before = snapshot(tmp_path)
    result = call_cli(*FLOW, "--video", clip, "-o", tmp_path / "out", "--video-out", target)
    _refused(result, target, clip, before=before, folders=(tmp_path,))


def test_flow_video_files_onto_the_weights(tmp_path: Path, clip: Path) -> None:
    """A flow file of the clip (``OUT/000000.flo``) that is a hard link to the ``--weights`` file."""
    weights = tmp_path / "in" / "w.safetensors"
    shutil.copyfile(SYNTH_WEIGHTS, weights)
    out = tmp_path / "out"
    out.mkdir()
    (out / "000000.flo").hardlink_to(weights)
    before = snapshot(tmp_path)
    result = call_cli("flow", "--weights", weights, "--video", clip, "-o", out)
    _refused(result, out / "000000.flo", weights, before=before, folders=(tmp_path,))


def test_flow_video_writes_when_nothing_clashes(tmp_path: Path, clip: Path) -> None:
    """The control of the refusals above: the same command with a free ``--video-out`` works."""
    result = call_cli(*FLOW, "--video", clip, "-o", tmp_path / "out", "--video-out", tmp_path / "flow.mkv")
    assert result.rc == 0, result.stderr
    assert (tmp_path / "flow.mkv").stat().st_size > 0 and len(list((tmp_path / "out").glob("*.flo"))) == 2


@pytest.mark.parametrize("name", ["clip.txt", "clip"])
def test_flow_video_out_with_an_unknown_container(tmp_path: Path, clip: Path, name: str) -> None:
    result = call_cli(*FLOW, "--video", clip, "-o", tmp_path / "out", "--video-out", tmp_path / name)
    assert_one_line_error(result, str(tmp_path / name), ".mp4")
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------ zoo export
@pytest.fixture()
def weights_file(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "m.safetensors"
    path.parent.mkdir(exist_ok=True)
    shutil.copyfile(SYNTH_WEIGHTS, path)
    return path


@pytest.mark.parametrize("how", SPELLINGS)
def test_export_onto_its_source(tmp_path: Path, weights_file: Path, how: str) -> None:
    """Issue 26 item 2: ``zoo export m.safetensors -o m.safetensors`` downcast the file in place."""
    target = spell(weights_file, how)
    before = snapshot(tmp_path)
    result = call_cli("export", weights_file, "-o", target)
    _refused(result, target, weights_file, before=before, folders=(tmp_path,))


@pytest.mark.parametrize(("output", "fmt"), [("run.ckpt", "safetensors"), ("out.txt", "safetensors"),
                                             ("out", "safetensors"), ("out.safetensors", "onnx"),
                                             ("out.onnx", "safetensors")])
def test_export_refuses_a_suffix_that_is_not_the_format(tmp_path: Path, weights_file: Path, output: str,
                                                        fmt: str) -> None:
    """``zoo export run.ckpt -o run.ckpt`` (a Lightning checkpoint replaced by safetensors under its
    own name) and ``-o out.txt`` are refused by the suffix before any file is read."""
    before = snapshot(tmp_path)
    result = call_cli("export", weights_file, "--format", fmt, "-o", tmp_path / output)
    assert_one_line_error(result, str(tmp_path / output), f".{fmt}")
    assert snapshot(tmp_path) == before


def test_export_into_a_folder_names_the_folder(tmp_path: Path, weights_file: Path) -> None:
    folder = tmp_path / "out.safetensors"
    folder.mkdir()
    result = call_cli("export", weights_file, "-o", folder)
    line = assert_one_line_error(result, str(folder), "is a folder")
    assert ".tmp" not in line


# ---------------------------------------------------------------------------- reconstruct / interpolate
@pytest.fixture()
def digits(tmp_path: Path) -> list[Path]:
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(2):
        path = folder / f"d{index}.png"
        Image.fromarray((rng.random((28, 28)) > 0.7).astype(np.uint8) * 255).save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("command", ["reconstruct", "interpolate"])
def test_latent_grids_onto_an_input_image(tmp_path: Path, digits: list[Path], how: str, command: str) -> None:
    """Issue 26 item 3: ``zoo reconstruct ... d0.png d1.png -o d0.png`` overwrote the input."""
    victim = digits[0] if command == "reconstruct" else digits[1]
    target = spell(victim, how)
    before = snapshot(tmp_path)
    result = call_cli(command, "nvae.mnist-cpu", *digits, "-o", target)
    _refused(result, target, victim, before=before, folders=(tmp_path,))


def test_reconstruct_onto_its_weights_file(tmp_path: Path, digits: list[Path]) -> None:
    weights = tmp_path / "in" / "w.safetensors"
    shutil.copyfile(MNIST_CPU_WEIGHTS, weights)
    target = spell(weights, "hardlink", ".png")
    before = snapshot(tmp_path)
    result = call_cli("reconstruct", "nvae", *digits, "--weights", weights, "-o", target)
    _refused(result, target, weights, before=before, folders=(tmp_path,))


@pytest.mark.parametrize("command", ["reconstruct", "interpolate", "sample"])
def test_latent_and_sample_grids_must_be_png(tmp_path: Path, digits: list[Path], command: str) -> None:
    images = [] if command == "sample" else digits
    result = call_cli(command, "nvae.mnist-cpu", *images, "-o", tmp_path / "grid.jpg")
    assert_one_line_error(result, str(tmp_path / "grid.jpg"), ".png")


def test_reconstruct_writes_when_nothing_clashes(tmp_path: Path, digits: list[Path]) -> None:
    result = call_cli("reconstruct", "nvae.mnist-cpu", *digits, "-o", tmp_path / "grid.png")
    assert result.rc == 0, result.stderr
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("how", ["hardlink", "symlink"])
def test_sample_onto_its_weights_file(tmp_path: Path, how: str) -> None:
    weights = tmp_path / "in" / "w.safetensors"
    weights.parent.mkdir()
    shutil.copyfile(MNIST_CPU_WEIGHTS, weights)
    target = spell(weights, how, ".png")
    before = snapshot(tmp_path)
    result = call_cli("sample", "nvae", "--weights", weights, "-n", "1", "-o", target)
    _refused(result, target, weights, before=before, folders=(tmp_path,))


# ------------------------------------------------------------------------------ demo, eval tables
def test_flow_demo_onto_its_weights(tmp_path: Path) -> None:
    from zoo.cli.demo_flow import flow_demo

    out = tmp_path / "out"
    out.mkdir()
    weights = out / "flow.flo"  # the weights file the demo is told to use, where it writes its flow
    shutil.copyfile(SYNTH_WEIGHTS, weights)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="the same file as weights"):
        flow_demo(out, weights=weights)
    assert snapshot(tmp_path) == before


def test_nvae_demo_onto_its_weights(tmp_path: Path) -> None:
    from zoo.cli.demo_nvae import nvae_demo

    weights = tmp_path / "w.safetensors"
    shutil.copyfile(MNIST_CPU_WEIGHTS, weights)
    (tmp_path / "nvae_samples.png").symlink_to(weights)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="the same file as weights"):
        nvae_demo(tmp_path, weights=weights)
    assert snapshot(tmp_path) == before


def test_eval_tables_onto_an_input(tmp_path: Path) -> None:
    """``zoo eval --out DIR`` / ``zoo benchmark --out DIR``: a table file that is another name of
    the weights file is refused before any of the three tables is written."""
    from zoo.measure.tables import write_tables

    weights = tmp_path / "w.safetensors"
    shutil.copyfile(SYNTH_WEIGHTS, weights)
    out = tmp_path / "out"
    out.mkdir()
    (out / "eval-x.json").hardlink_to(weights)
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match="the same file as --weights"):
        write_tables(out, "eval-x", "t", [("a", "A")], [{"a": 1}], {}, inputs={"--weights": weights})
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [("demo", "--out"), ("fit", "--trainer.default_root_dir")])
def test_an_output_folder_that_is_a_file_is_named(tmp_path: Path, command: tuple[str, str]) -> None:
    victim = tmp_path / "notes.txt"
    victim.write_text("mine\n")
    extra = ("--config", str(Path(__file__).resolve().parents[3] / "configs" / "pwcnet" / "synthetic.yaml"))
    result = call_cli(command[0], *(extra if command[0] == "fit" else ()), command[1], victim)
    assert_one_line_error(result, str(victim), "is a file")
    assert victim.read_text() == "mine\n"


@pytest.mark.parametrize("command", ["flow", "flow-frames", "sample", "reconstruct"])
def test_a_registry_name_protects_the_file_it_reads(tmp_path: Path, request: pytest.FixtureRequest,
                                                    command: str) -> None:
    """``--weights pwcnet.synth`` / ``nvae.mnist-cpu`` read the package's bundled file: an output that is
    another name of it is refused once the name is resolved, before anything is written (a symlink
    here, so that a failing test replaces the link, never the package's file)."""
    bundled = SYNTH_WEIGHTS if command.startswith("flow") else MNIST_CPU_WEIGHTS
    inputs = request.getfixturevalue("frames" if command.startswith("flow") else "digits")
    out = tmp_path / "out"
    out.mkdir()
    link = out / ("a.flo" if command == "flow-frames" else "grid.png" if command != "flow" else "out.flo")
    link.symlink_to(bundled)
    argv = {"flow": (*FLOW, *inputs, "-o", link),
            "flow-frames": (*FLOW, "--frames", inputs[0].parent, "-o", out),
            "sample": ("sample", "nvae.mnist-cpu", "-n", "1", "-o", link),
            "reconstruct": ("reconstruct", "nvae.mnist-cpu", *inputs, "-o", link)}[command]
    before = snapshot(tmp_path)
    result = call_cli(*argv)
    assert_one_line_error(result, str(link), f"the same file as weights file {bundled}")
    assert snapshot(tmp_path) == before
