"""``zoo`` itself: one-line errors for every exception, ZOO_DEBUG, a closed pipe, ``--device``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zoo.cli import info, main
from zoo.cli.device import torch_device

ROOT = Path(__file__).resolve().parents[3]


def _failing(error: BaseException):
    def command(args):
        raise error

    return command


@pytest.mark.parametrize("error, line", [
    (RuntimeError("boom"), "zoo: error: RuntimeError: boom"),
    (AssertionError("Torch not compiled with CUDA enabled"),
     "zoo: error: AssertionError: Torch not compiled with CUDA enabled"),
    (ValueError("weights do not fit the network:\n  missing keys (1): a\n  unexpected keys (2): b, c"),
     "zoo: error: weights do not fit the network: missing keys (1): a; unexpected keys (2): b, c"),
    (KeyError("unknown weights 'x'"), "zoo: error: unknown weights 'x'"),
    (ZeroDivisionError(), "zoo: error: ZeroDivisionError: (no message)"),
])
def test_every_exception_of_a_command_is_one_line_and_status_1(error, line, monkeypatch, capsys):
    monkeypatch.setattr(info, "_list", _failing(error))
    assert main(["list"]) == 1
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_zoo_debug_shows_the_traceback_and_ctrl_c_is_never_caught(monkeypatch):
    monkeypatch.setattr(info, "_list", _failing(RuntimeError("boom")))
    monkeypatch.setenv("ZOO_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["list"])
    monkeypatch.delenv("ZOO_DEBUG")
    monkeypatch.setattr(info, "_list", _failing(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        main(["list"])


def test_a_reader_that_stops_reading_ends_the_command_quietly_with_141():
    read_end, write_end = os.pipe()
    os.close(read_end)  # `zoo info ... | head -1` once head has exited
    try:
        result = subprocess.run([sys.executable, "-m", "zoo.cli", "info", "pwcnet.synth"], stdout=write_end,
                                stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120, check=False)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_python_m_zoo_cli_is_the_zoo_command():
    result = subprocess.run([sys.executable, "-m", "zoo.cli", "list", "pwcnet.synth"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "pwcnet.synth\n", "")


def test_device_cuda_on_a_cpu_only_build_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.version, "cuda", None)
    assert main(["flow", "a.png", "b.png", "-o", str(tmp_path / "f.flo"), "--device", "cuda"]) == 1
    assert capsys.readouterr().err == (
        f"zoo: error: --device cuda: CUDA is not available in this torch build ({torch.__version__} is CPU-only; "
        "install a CUDA build of torch, see README) - use --device cpu\n")
    assert main(["sample", "nvae.mnist-cpu", "-o", str(tmp_path / "s.png"), "--device", "cuda:0"]) == 1
    assert capsys.readouterr().err.startswith("zoo: error: --device cuda:0: CUDA is not available in this torch build")
    assert not list(tmp_path.iterdir())


def test_device_errors(monkeypatch):
    with pytest.raises(ValueError, match=r"^--device gpu: not a torch device \(expected e.g. cpu, cuda, cuda:1\)$"):
        torch_device("gpu")
    assert torch_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^--device cuda: this torch build has CUDA 12.4, but no CUDA device is visible"):
        torch_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert torch_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"^--device cuda:2: there are 2 CUDA device\(s\), numbered from 0$"):
        torch_device("cuda:2")


def test_version_comes_from_the_installed_metadata_else_the_package(monkeypatch, capsys):
    from importlib import metadata

    import zoo

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out == f"zoo {metadata.version('zoo')}\n"

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    monkeypatch.setattr(zoo, "__version__", "9.8.7")
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == "zoo 9.8.7\n"
