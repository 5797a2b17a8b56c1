"""``zoo reconstruct`` and ``zoo interpolate``: grids of the bundled MNIST model from PNG files
and from the MNIST test file, a colour model from an official checkpoint, and the refusals."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.support.nvae_recipe import write_official_checkpoint
from zoo.cli import main
from zoo.cli.latent import mnist_test_digits, parse_groups

TILE = 32 + 2                                       # a 32-pixel tile and its 2-pixel padding
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def mnist_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "mnist"


@pytest.fixture(scope="module")
def bundled():
    if not (ROOT / "zoo" / "weights" / "nvae-mnist-cpu.safetensors").is_file():
        pytest.skip("the bundled nvae-mnist-cpu weights are absent")
    return zoo.load("nvae.mnist-cpu")


def _tile(grid: np.ndarray, row: int, col: int) -> np.ndarray:
    return grid[2 + row * TILE: 2 + row * TILE + 32, 2 + col * TILE: 2 + col * TILE + 32]


def _uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).squeeze(1).numpy()


def _padded_binary(digits: np.ndarray) -> torch.Tensor:
    """Independent of the command: pad 28 -> 32 with black, keep pixels > 127."""
    return torch.from_numpy((np.pad(digits, ((0, 0), (2, 2), (2, 2))) > 127).astype(np.float32))[:, None]


def test_reconstruct_png_files_of_both_sizes(bundled, mnist_dir: Path, tmp_path: Path) -> None:
    digits = mnist_test_digits(mnist_dir, 2, offset=10)
    small, large = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(digits[0]).save(small)                         # 28 x 28
    Image.fromarray(np.pad(digits[1], 2)).save(large)              # 32 x 32
    out = tmp_path / "grid" / "rec.png"
    assert main(["reconstruct", "nvae.mnist-cpu", str(small), str(large), "-o", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * TILE + 2, 2 * TILE + 2)              # inputs row, reconstructions row
    x = _padded_binary(digits)
    expected = _uint8(bundled.reconstruct(x))
    for col in range(2):
        np.testing.assert_array_equal(_tile(grid, 0, col), _uint8(x)[col])
        np.testing.assert_array_equal(_tile(grid, 1, col), expected[col])
    assert not list(out.parent.glob("*.tmp"))


def test_reconstruct_from_the_mnist_test_file(bundled, mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec.png"
    argv = ["reconstruct", "nvae.mnist-cpu", "--mnist-dir", str(mnist_dir), "--count", "3",
            "--offset", "5", "--columns", "2", "-o", str(out)]
    assert main(argv) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (4 * TILE + 2, 2 * TILE + 2)              # 2 pairs of rows
    x = _padded_binary(mnist_test_digits(mnist_dir, 3, offset=5))
    expected = _uint8(bundled.reconstruct(x))
    np.testing.assert_array_equal(_tile(grid, 2, 0), _uint8(x)[2])
    np.testing.assert_array_equal(_tile(grid, 3, 0), expected[2])
    assert not _tile(grid, 2, 1).any() and not _tile(grid, 3, 1).any()   # empty slots


def test_interpolate_row(bundled, mnist_dir: Path, tmp_path: Path) -> None:
    digits = mnist_test_digits(mnist_dir, 2)
    paths = [tmp_path / "one.png", tmp_path / "two.png"]
    for digit, path in zip(digits, paths):
        Image.fromarray(digit).save(path)
    out = tmp_path / "path.png"
    argv = ["interpolate", "nvae.mnist-cpu", *map(str, paths), "--steps", "5", "--groups", "0-3",
            "-o", str(out)]
    assert main(argv) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (TILE + 2, 7 * TILE + 2)                  # IMG1, 5 frames, IMG2
    x = _padded_binary(digits)
    frames = _uint8(bundled.interpolate(x[:1], x[1:], 5, groups=[0, 1, 2, 3])[0])
    np.testing.assert_array_equal(_tile(grid, 0, 0), _uint8(x)[0])
    np.testing.assert_array_equal(_tile(grid, 0, 1), _uint8(bundled.reconstruct(x[:1]))[0])
    np.testing.assert_array_equal(_tile(grid, 0, 5), frames[-1])
    np.testing.assert_array_equal(_tile(grid, 0, 6), _uint8(x)[1])


def test_colour_model_from_an_official_checkpoint(shared_dir: Path, tmp_path: Path) -> None:
    checkpoint = write_official_checkpoint(shared_dir / "fixtures" / "nvae" / "tiny-cifar-flow",
                                           tmp_path / "checkpoint.pt")
    rgb = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for image, path in zip(rgb, paths):
        Image.fromarray(image).save(path)
    out = tmp_path / "rec.png"
    assert main(["reconstruct", "nvae", *map(str, paths), "--weights", str(checkpoint),
                 "-o", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * TILE + 2, 2 * TILE + 2, 3)
    np.testing.assert_array_equal(_tile(grid, 0, 1), rgb[1])       # 8-bit input shown as read
    assert main(["interpolate", "nvae", "--weights", str(checkpoint), *map(str, paths),
                 "--steps", "3", "-o", str(out)]) == 0
    assert np.asarray(Image.open(out)).shape == (TILE + 2, 5 * TILE + 2, 3)


@pytest.mark.parametrize("argv, message", [
    (["reconstruct", "pwcnet.things", "x.png", "-o", "o.png"], "runs image-generation models; 'pwcnet' is an optical-flow model"),
    (["reconstruct", "nvae.mnist-cpu", "-o", "o.png"], "image files or --mnist-dir"),
    (["reconstruct", "nvae.mnist-cpu", "x.png", "-o", "o.jpg"], ".png"),
    (["reconstruct", "nvae.mnist-cpu", "{small}", "-o", "o.png"], "20x20 (H x W) image; this model takes 32x32 or 28x28"),
    (["reconstruct", "nvae.mnist-cpu", "{small}", "--mnist-dir", "{dir}", "-o", "o.png"], "not both"),
    (["reconstruct", "nvae.mnist-cpu", "--mnist-dir", "{dir}", "--count", "0", "-o", "o.png"], "--count"),
    (["reconstruct", "nvae.mnist-cpu", "--mnist-dir", "{tmp}", "-o", "o.png"], "not found"),
    (["reconstruct", "nvae.mnist-cpu", "{text}", "-o", "o.png"], "cannot read the image"),
    (["interpolate", "nvae.mnist-cpu", "{digit}", "{digit}", "--groups", "0-a", "-o", "o.png"], "--groups"),
    (["interpolate", "nvae.mnist-cpu", "{digit}", "{digit}", "--groups", "12", "-o", "o.png"], "groups must be"),
    (["interpolate", "nvae.mnist-cpu", "{digit}", "{digit}", "--steps", "1", "-o", "o.png"], "steps"),
])
def test_refusals_print_one_line(argv: list[str], message: str, mnist_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(tmp_path / "digit.png")
    (tmp_path / "text.png").write_text("not an image")
    names = {"small": tmp_path / "small.png", "digit": tmp_path / "digit.png", "dir": mnist_dir,
             "tmp": tmp_path, "text": tmp_path / "text.png"}
    argv = [a.format(**names) for a in argv]
    assert main([*argv[:-1], str(tmp_path / argv[-1])]) == 1
    error = capsys.readouterr().err
    assert error.startswith("zoo: error:") and message in error and error.count("\n") == 1


def test_binarize_is_refused_for_colour_models(shared_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture) -> None:
    checkpoint = write_official_checkpoint(shared_dir / "fixtures" / "nvae" / "tiny-cifar-flow",
                                           tmp_path / "checkpoint.pt")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    assert main(["reconstruct", "nvae", str(tmp_path / "a.png"), "--weights", str(checkpoint),
                 "--binarize", "threshold", "-o", str(tmp_path / "o.png")]) == 1
    assert "--binarize threshold" in capsys.readouterr().err


def test_group_ranges() -> None:
    assert parse_groups("0-3,7") == [0, 1, 2, 3, 7] and parse_groups("5") == [5]


def test_runs_as_python_module(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "interpolate", "--help"],
                            check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and "--steps" in result.stdout and "--groups" in result.stdout
