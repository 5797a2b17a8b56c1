"""``zoo sample``: the PNG grid of NVAE samples, from an official checkpoint, and its refusals."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from tests.support.nvae_recipe import write_official_checkpoint
from zoo.cli import sample as sample_command


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sample_command.add_parser(parser.add_subparsers())
    return parser.parse_args(["sample", *argv])


@pytest.fixture(scope="module")
def checkpoint(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    fixture = shared_dir / "fixtures" / "nvae" / "tiny-mnist"
    return write_official_checkpoint(fixture, tmp_path_factory.mktemp("nvae") / "checkpoint.pt")


def test_grid_of_temperature_zero_samples(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid" / "samples.png"
    args = _parse(["nvae", "--weights", str(checkpoint), "-n", "5", "-t", "0", "--columns", "3",
                   "-o", str(out), "--batch-size", "2", "--no-readjust-bn"])
    assert args.func(args) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 34 + 2, 3 * 34 + 2)          # 2 rows x 3 columns of 32 px + 2 px
    network = zoo.load("nvae", weights=checkpoint)
    with torch.no_grad():
        expected = torch.sigmoid(network.sample_logits(1, 0.0))[0, 0]
    expected = (expected * 255).round().to(torch.uint8).numpy()
    for row, col in [(0, 0), (0, 2), (1, 1)]:               # temperature 0: identical tiles
        tile = grid[2 + row * 34: 2 + row * 34 + 32, 2 + col * 34: 2 + col * 34 + 32]
        np.testing.assert_array_equal(tile, expected)
    assert not grid[2 + 34: 2 + 34 + 32, 2 + 2 * 34: 2 + 2 * 34 + 32].any()  # 6th slot empty
    assert not list(out.parent.glob("*.tmp"))


def test_readjust_bn_path_runs_and_writes(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.png"
    args = _parse(["nvae", "--weights", str(checkpoint), "-n", "4", "-t", "0.7", "-o", str(out),
                   "--readjust-bn", "--readjust-batches", "2"])
    assert args.func(args) == 0
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 34 + 2, 2 * 34 + 2) and grid.max() > 0


def test_batch_norms_are_readjusted_unless_asked_not_to(checkpoint: Path, tmp_path: Path, monkeypatch) -> None:
    from zoo.models.nvae.network import NVAE

    calls = []
    monkeypatch.setattr(NVAE, "readjust_bn", lambda self, batches, temperature, generator, progress: calls.append(
        (batches, temperature, torch.is_grad_enabled())))
    for extra in ([], ["--readjust-batches", "7", "-t", "0.6"], ["--no-readjust-bn"]):
        args = _parse(["nvae", "--weights", str(checkpoint), "-n", "2", "-o", str(tmp_path / "s.png"), *extra])
        assert args.func(args) == 0
    assert calls == [(40, 0.7, False), (7, 0.6, False)]  # the default, then the options; none with --no-


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_readjustment_progress_is_a_bar_on_a_terminal_after_a_second_and_lines_off_one(monkeypatch) -> None:
    from zoo.cli.sample import _readjust_progress

    monkeypatch.setattr("sys.stderr", _Terminal())
    bar = _readjust_progress(range(3))
    assert not bar.disable and list(bar) == [0, 1, 2]
    assert bar.delay == 1.0  # a re-estimation under a second shows nothing
    log = io.StringIO()
    monkeypatch.setattr("sys.stderr", log)
    assert list(_readjust_progress(range(3))) == [0, 1, 2]  # lines: tests/zoo/cli/test_sample_progress.py
    assert log.getvalue().splitlines()[0] == "re-estimating batch norms: 3 batches"


@pytest.mark.parametrize("argv, message", [
    (["pwcnet.things"], "runs image-generation models; .pwcnet. is an optical-flow model"),
    (["nvae.mnist", "-t", "1.5"], "temperature"),
    (["nvae.mnist", "-n", "0"], "num-samples"),
    (["nvae.mnist", "-o", "samples.jpg"], ".png"),
])
def test_bad_arguments_are_refused(argv: list[str], message: str) -> None:
    args = _parse(argv)
    with pytest.raises(ValueError, match=message):
        args.func(args)


def test_unimported_official_weights_say_how_to_get_them(tmp_path: Path) -> None:
    args = _parse(["nvae.celeba64", "-o", str(tmp_path / "x.png")])
    with pytest.raises(FileNotFoundError, match="zoo import nvae.celeba64"):
        args.func(args)
