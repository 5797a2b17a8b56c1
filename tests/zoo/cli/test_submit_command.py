"""``zoo submit``: the network's flows for a test split, found under ``--data-dir`` or ``--root``."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.flow_fixtures import make_kitti
from tests.support.png_decode import decode_png
from zoo.cli import main
from zoo.datamodules.flow import submission


@pytest.fixture()
def two_pair_kitti(monkeypatch: pytest.MonkeyPatch) -> None:
    """The KITTI 2015 server's list narrowed to the two pairs of the tiny tree."""
    names = {Path("flow/000000_10.png"), Path("flow/000001_10.png")}
    monkeypatch.setitem(submission.BENCHMARKS, "kitti-2015",
                        replace(submission.BENCHMARKS["kitti-2015"], expected=lambda: names))


def test_submit_kitti_2015_writes_the_networks_flow_and_the_zip(tmp_path: Path, two_pair_kitti, capsys) -> None:
    import zoo
    from zoo.models.flow_inference import estimate_flow

    make_kitti(tmp_path / "data" / "KITTI2015", 2015, scenes=2)
    out = tmp_path / "submissions"
    assert main(["submit", "pwcnet.synth", "--benchmark", "kitti-2015", "--data-dir", str(tmp_path / "data"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (f"zoo submit kitti-2015: 2 files in {out / 'kitti-2015'} (2 written, 0 kept from an earlier "
                          "run); every file the server expects is there")
    assert printed[-1] == f"next: upload {out / 'kitti-2015'}.zip (folder flow/ at its root, as the KITTI 2015 devkit asks)"
    with zipfile.ZipFile(out / "kitti-2015.zip") as bundle:
        assert sorted(bundle.namelist()) == ["flow/000000_10.png", "flow/000001_10.png"]

    network = zoo.load("pwcnet.synth")
    frames = tmp_path / "data" / "KITTI2015" / "testing" / "image_2"
    for n in range(2):
        images = [torch.from_numpy(np.asarray(Image.open(frames / f"{n:06d}_1{k}.png").convert("RGB"), np.float32) / 255)
                  .permute(2, 0, 1)[None] for k in (0, 1)]
        expected = estimate_flow(network, *images)[0].permute(1, 2, 0).double().numpy()
        samples = decode_png(out / "kitti-2015" / "flow" / f"{n:06d}_10.png")
        np.testing.assert_allclose((samples[..., :2] - 2.0**15) / 64, expected, rtol=0, atol=1 / 128 + 1e-4)

    assert main(["submit", "pwcnet.synth", "--benchmark", "kitti-2015", "--root", str(tmp_path / "data" / "KITTI2015"),
                 "--out", str(out)]) == 0
    assert "(0 written, 2 kept from an earlier run)" in capsys.readouterr().out


def test_the_commands_benchmark_choices_are_the_submission_modules() -> None:
    from zoo.cli.submit import BENCHMARK_NAMES  # a literal, so that building the parser imports no torch

    assert set(BENCHMARK_NAMES) == set(submission.BENCHMARKS)


@pytest.mark.parametrize("argv, message", [
    (["submit", "nvae.mnist-cpu", "--benchmark", "sintel", "--out", "x", "--root", "y"], "writes optical flow"),
    (["submit", "pwcnet.synth", "--benchmark", "spring", "--out", "x", "--root", "/no/such/spring"],
     "/no/such/spring/test does not exist"),
])
def test_submit_errors_are_one_line(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and message in err and err.count("\n") == 1, err
