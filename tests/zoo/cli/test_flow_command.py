"""``zoo flow``: two images and a folder of frames, written files checked against the network."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.flow_fixtures import hand_built_png
from zoo.cli import flow as flow_command
from zoo.datamodules.flow.formats import read_flow, read_image
from zoo.datamodules.flow.visualize import flow_to_color
from zoo.models.flow_inference import estimate_flow
from zoo.models.pwcnet.network import PWCNet
from zoo.weights.checkpoint import save_weights


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "pwcnet-random.safetensors"
    return save_weights(path, PWCNet().state_dict(), arch="pwcnet",
                        config={"context": True, "channel_order": "BGR", "max_displacement": 4})


@pytest.fixture(scope="module")
def network(weights) -> PWCNet:
    import zoo

    return zoo.load("pwcnet", weights=weights)


def _frames(folder: Path, count: int, size=(70, 100), mode="RGB") -> list[Path]:
    """Frames of a smooth pattern moving right by 2 px per frame, saved as PNG."""
    folder.mkdir(parents=True, exist_ok=True)
    y, x = np.mgrid[0:size[0], 0:size[1]].astype(np.float64)
    paths = []
    for index in range(count):
        pattern = 0.5 + 0.25 * np.sin((x - 2 * index) / 5.0) + 0.2 * np.cos(y / 7.0)
        rgb = np.stack([pattern, pattern[::-1], 1 - pattern], axis=2)
        image = Image.fromarray((rgb * 255).round().astype(np.uint8))
        path = folder / f"frame_{index + 1}.png"  # natural order: frame_2 before frame_10
        (image.convert("L") if mode == "L" else image).save(path)
        paths.append(path)
    return paths


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    flow_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["flow", *argv])
    return args.func(args)


def _expected(network, first: Path, second: Path) -> np.ndarray:
    image1, image2 = (torch.from_numpy(read_image(p)).permute(2, 0, 1)[None] for p in (first, second))
    return estimate_flow(network, image1, image2, precision="float32")[0].permute(1, 2, 0).numpy()


def test_two_images_write_flow_and_colour_image(tmp_path, weights, network):
    first, second = _frames(tmp_path / "in", 2)
    out, color = tmp_path / "out" / "flow.flo", tmp_path / "out" / "flow.png"
    assert _run(str(first), str(second), "-o", str(out), "--png", str(color), "--weights", str(weights),
                "--precision", "float32") == 0
    flow, valid = read_flow(out)
    expected = _expected(network, first, second)
    assert flow.shape == (70, 100, 2) and valid.all()
    np.testing.assert_array_equal(flow, expected)
    np.testing.assert_array_equal(np.asarray(Image.open(color)), flow_to_color(expected))


@pytest.mark.parametrize("suffix", [".png", ".pfm"])
def test_two_images_write_kitti_png_and_pfm_flow(tmp_path, weights, network, suffix):
    first, second = _frames(tmp_path / "in", 2)
    out = tmp_path / f"flow{suffix}"
    assert _run(str(first), str(second), "-o", str(out), "--weights", str(weights), "--precision", "float32") == 0
    flow, valid = read_flow(out)
    expected = _expected(network, first, second)
    assert flow.shape == (70, 100, 2) and valid.all() and np.abs(expected).max() < 512
    # KITTI PNGs store 1/64 px steps; PFM stores float32 as is
    np.testing.assert_array_equal(flow, np.rint(expected * 64) / 64 if suffix == ".png" else expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", out.name])  # no temporary file left


def test_frames_folder_is_processed_in_batches_in_natural_order(tmp_path, weights, network):
    paths = _frames(tmp_path / "frames", 11, size=(40, 64))
    out = tmp_path / "flows"
    assert _run("--frames", str(tmp_path / "frames"), "-o", str(out), "--png", "--batch-size", "4",
                "--weights", str(weights), "--precision", "float32") == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted([f"frame_{i}.flo" for i in range(1, 11)] + [f"frame_{i}.png" for i in range(1, 11)])
    for index in (0, 8, 9):  # first pair, a pair across a batch boundary, last pair
        flow, _ = read_flow(out / f"{paths[index].stem}.flo")
        np.testing.assert_allclose(flow, _expected(network, paths[index], paths[index + 1]), atol=1e-4)


def test_grayscale_and_tiny_images(tmp_path, weights, network):
    gray = _frames(tmp_path / "gray", 2, size=(30, 50), mode="L")
    out = tmp_path / "gray.flo"
    assert _run(*map(str, gray), "-o", str(out), "--weights", str(weights), "--precision", "float32") == 0
    flow, _ = read_flow(out)
    assert flow.shape == (30, 50, 2)
    np.testing.assert_array_equal(flow, _expected(network, *gray))


def test_missing_unreadable_and_mismatched_images(tmp_path, weights):
    first, second = _frames(tmp_path / "a", 2)
    small = _frames(tmp_path / "b", 1, size=(64, 64))[0]
    broken = tmp_path / "broken.png"
    broken.write_text("not an image")
    common = ("-o", str(tmp_path / "x.flo"), "--weights", str(weights))
    with pytest.raises(FileNotFoundError, match="nope.png: no such image file"):
        _run(str(first), str(tmp_path / "nope.png"), *common)
    with pytest.raises(OSError, match="broken.png"):
        _run(str(broken), str(second), *common)
    with pytest.raises(ValueError, match=r"b/frame_1.png is 64x64 but .*a/frame_1.png is 70x100 \(H x W\); all frames must"):
        _run(str(first), str(small), *common)
    assert not (tmp_path / "x.flo").exists()


def test_frames_of_different_sizes_are_refused(tmp_path, weights):
    folder = tmp_path / "frames"
    _frames(folder, 2, size=(40, 64))
    Image.new("RGB", (80, 40)).save(folder / "frame_3.png")
    with pytest.raises(ValueError, match=r"frame_3.png is 40x80 but .*frame_1.png is 40x64 \(H x W\)"):
        _run("--frames", str(folder), "-o", str(tmp_path / "out"), "--weights", str(weights))


@pytest.mark.parametrize("argv, message", [
    (("a.png",), "expected two images"),
    (("a.png", "b.png", "c.png"), "expected two images"),
    (("a.png", "b.png", "--png"), "--png needs a file name"),
    (("a.png", "b.png", "--frames", "dir"), "not both"),
    (("a.png", "b.png", "--batch-size", "0"), "--batch-size"),
])
def test_bad_arguments(argv, message):
    with pytest.raises(ValueError, match=message):
        _run(*argv, "-o", "out.flo")


def test_frames_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        _run("--frames", str(tmp_path / "missing"), "-o", str(tmp_path / "out"))
    _frames(tmp_path / "one", 1)
    with pytest.raises(ValueError, match="at least two frames"):
        _run("--frames", str(tmp_path / "one"), "-o", str(tmp_path / "out"))
    _frames(tmp_path / "two", 2)
    with pytest.raises(ValueError, match="must differ"):
        _run("--frames", str(tmp_path / "two"), "-o", str(tmp_path / "two"), "--png")


def _claims(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` but that holds one row of 4 pixels:
    decoding it would fail, so an error about its size proves it was never decoded."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(hand_built_png(np.zeros((1, 4, 3), np.uint8), claimed_size=(width, height)))
    return path


def test_frames_over_the_pixel_budget_are_refused_from_the_header(tmp_path, monkeypatch):
    first, second = (_claims(tmp_path / "big" / f"{n}.png", 10000, 10000) for n in ("a", "b"))
    monkeypatch.setattr(flow_command, "load_network", lambda args: pytest.fail("loaded the network"))
    with pytest.raises(ValueError) as info:
        _run(str(first), str(second), "-o", str(tmp_path / "out.flo"))
    assert str(info.value) == (
        f"{first} is 10000x10000 (H x W): 100.0 MP for the network, over --max-pixels 8,388,608 (about 46.5 GB on CPU); "
        "pass --max-size 2896 to estimate on downscaled frames and scale the flow back, or raise --max-pixels")
    with pytest.raises(ValueError, match=r"is 10000x10000 \(H x W\): 8.4 MP for the network at --max-size 2897, .* "
                                         r"pass --max-size 2896 "):
        _run(str(first), str(second), "-o", str(tmp_path / "out.flo"), "--max-size", "2897")
    wide = _claims(tmp_path / "wide.png", 16000, 2000)
    with pytest.raises(ValueError, match="pass --max-size 8192 "):  # 8192 x 1024 = 2**23 px exactly
        _run(str(wide), str(wide), "-o", str(tmp_path / "out.flo"))
    with pytest.raises(ValueError, match=r"over --max-pixels 1,000 \(about 46.5 GB on CPU\); raise --max-pixels$"):
        _run("--frames", str(tmp_path / "big"), "-o", str(tmp_path / "flows"), "--max-pixels", "1000")
    assert not (tmp_path / "out.flo").exists() and not (tmp_path / "flows").exists()


def test_max_size_estimates_downscaled_and_writes_full_resolution_flow(tmp_path, weights, network):
    first, second = _frames(tmp_path / "in", 2, size=(70, 100))
    out = tmp_path / "flow.flo"
    assert _run(str(first), str(second), "-o", str(out), "--max-size", "64", "--weights", str(weights),
                "--precision", "float32") == 0
    flow, valid = read_flow(out)
    image1, image2 = (torch.from_numpy(read_image(p)).permute(2, 0, 1)[None] for p in (first, second))
    expected = estimate_flow(network, image1, image2, precision="float32", max_size=64)[0].permute(1, 2, 0).numpy()
    assert flow.shape == (70, 100, 2) and valid.all()
    np.testing.assert_array_equal(flow, expected)
    assert not np.array_equal(flow, _expected(network, first, second))  # not the full-resolution flow
    with pytest.raises(ValueError, match="--max-size must be at least 64 px .*, got 32"):
        _run(str(first), str(second), "-o", str(out), "--max-size", "32")


def test_batches_shrink_to_fit_the_pixel_budget(tmp_path, weights, network, monkeypatch):
    from zoo.models import flow_inference as inference

    paths = _frames(tmp_path / "frames", 6, size=(40, 64))
    batches = []
    original = inference.estimate_flow
    monkeypatch.setattr(inference, "estimate_flow",
                        lambda net, a, b, **kw: batches.append(len(a)) or original(net, a, b, **kw))
    assert _run("--frames", str(tmp_path / "frames"), "-o", str(tmp_path / "flows"), "--batch-size", "4",
                "--max-pixels", str(2 * 40 * 64 + 1), "--weights", str(weights), "--precision", "float32") == 0
    assert batches == [2, 2, 1]
    for index in (0, 4):
        flow, _ = read_flow(tmp_path / "flows" / f"{paths[index].stem}.flo")
        np.testing.assert_allclose(flow, _expected(network, paths[index], paths[index + 1]), atol=1e-4)


def _weights_file(path: Path, edit) -> Path:
    """Our safetensors layout written with safetensors itself: ``save_weights`` refuses to write
    the non-finite weights these tests need."""
    from safetensors.torch import save_file

    torch.manual_seed(0)
    state = PWCNet().state_dict()
    edit(state)
    config = {"context": True, "channel_order": "BGR", "max_displacement": 4}
    save_file({k: v.contiguous() for k, v in state.items()}, str(path),
              metadata={"zoo.arch": "pwcnet", "zoo.config": json.dumps(config), "zoo.info": "{}"})
    return path


def test_non_finite_weights_are_refused_at_load_naming_the_file_and_key(tmp_path):
    import zoo

    def poison(state):
        state["decoders.4.convs.0.weight"][0, 0, 0, 0] = float("nan")

    path = _weights_file(tmp_path / "nan.safetensors", poison)
    with pytest.raises(ValueError) as info:
        zoo.load("pwcnet", weights=path)
    assert str(info.value) == (f"{path}: tensor 'decoders.4.convs.0.weight' holds NaN or infinite values "
                               "(a corrupt file or a diverged run)")


def test_non_finite_flow_is_refused_naming_the_weights(tmp_path, capsys):
    from zoo.cli import main

    def overflow(state):  # finite weights whose flow overflows float32
        state["decoders.6.predict_flow.weight"].fill_(3e38)

    path = _weights_file(tmp_path / "huge.safetensors", overflow)
    first, second = _frames(tmp_path / "in", 2)
    out = tmp_path / "flow.flo"
    assert main(["flow", str(first), str(second), "-o", str(out), "--weights", str(path),
                 "--precision", "float32"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"zoo: error: --weights {path}: the network's flow holds ") and err.count("\n") == 1
    assert err.endswith(" NaN or infinite values of 14,000 (broken weights, or an overflow at --precision float32: "
                        "try float32); nothing written\n")
    assert not out.exists()


def _one_line_error(capsys, *argv: str) -> str:
    """Run ``zoo flow ARGV`` through the ``zoo`` entry point: status 1 and one line on stderr."""
    from zoo.cli import main

    assert main(["flow", *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith("zoo: error: ")
    return captured.err[len("zoo: error: "):-1]


def test_careless_paths_are_one_line_errors_naming_the_path_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(flow_command, "load_network", lambda args: pytest.fail("loaded the network"))
    image = _frames(tmp_path / "in", 1)[0]
    folder = tmp_path / "a folder.png"
    folder.mkdir()
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    (tmp_path / "empty").mkdir()
    _frames(tmp_path / "one", 1)
    out = str(tmp_path / "out.flo")
    assert _one_line_error(capsys, str(image), str(tmp_path / "nope.png"), "-o", out) == \
        f"{tmp_path / 'nope.png'}: no such image file"
    assert _one_line_error(capsys, str(folder), str(image), "-o", out) == f"{folder}: is a folder, not an image file"
    assert _one_line_error(capsys, str(image), str(text), "-o", out) == \
        f"{text}: not an image file (no image format that Pillow reads matches its content)"
    assert _one_line_error(capsys, "--frames", str(tmp_path / "empty"), "-o", str(tmp_path / "flows")) == \
        f"{tmp_path / 'empty'}: needs at least two frames (.png, .jpg, .jpeg, .ppm, .bmp, .tif, .tiff), found 0"
    assert _one_line_error(capsys, "--frames", str(tmp_path / "one"), "-o", str(tmp_path / "flows")).endswith(
        "needs at least two frames (.png, .jpg, .jpeg, .ppm, .bmp, .tif, .tiff), found 1")
    under_a_file = tmp_path / "notes.png" / "sub" / "out.flo"
    assert _one_line_error(capsys, str(image), str(image), "-o", str(under_a_file)) == \
        f"-o {under_a_file}: cannot create the folder {under_a_file.parent}: {text} is a file"
    assert _one_line_error(capsys, str(image), str(image), "-o", str(folder)) == \
        f"-o {folder}: is a folder; give a file name ending in .flo, .png or .pfm"
    assert _one_line_error(capsys, str(image), str(image), "-o", str(tmp_path / "out.txt")) == \
        f"-o {tmp_path / 'out.txt'}: unknown file extension '.txt' (expected .flo, .png or .pfm)"
    assert _one_line_error(capsys, str(image), str(image), "-o", out, "--png", str(under_a_file.with_suffix(".png"))) \
        == f"--png {under_a_file.with_suffix('.png')}: cannot create the folder {under_a_file.parent}: {text} is a file"
    _frames(tmp_path / "two", 2)
    assert _one_line_error(capsys, "--frames", str(tmp_path / "two"), "-o", str(text)) == \
        f"-o {text}: is a file; --frames writes flow files into a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a folder.png", "empty", "in", "notes.png", "one", "two"]


def test_every_frame_is_checked_before_the_first_flow_and_a_failure_midway_leaves_only_whole_files(
        tmp_path, capsys, weights):
    paths = _frames(tmp_path / "frames", 4, size=(40, 64))
    paths[2].write_text("not an image")
    out = tmp_path / "flows"
    assert _one_line_error(capsys, "--frames", str(tmp_path / "frames"), "-o", str(out), "--weights", str(weights)) == \
        f"{paths[2]}: not an image file (no image format that Pillow reads matches its content)"
    assert not out.exists()  # refused before any flow
    data = paths[0].read_bytes()
    paths[2].write_bytes(data[:len(data) // 2])  # a valid header, then the data stops
    assert _one_line_error(capsys, "--frames", str(tmp_path / "frames"), "-o", str(out), "--weights", str(weights),
                           "--batch-size", "1", "--precision", "float32").startswith(f"{paths[2]}: cannot read image (")
    assert sorted(p.name for p in out.iterdir()) == ["frame_1.flo"]  # the pair before it, whole; no .tmp file
    assert read_flow(out / "frame_1.flo")[0].shape == (40, 64, 2)
