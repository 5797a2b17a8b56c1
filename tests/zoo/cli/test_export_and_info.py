"""``zoo export`` says the precision it wrote; ``zoo info`` describes the file it wrote."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from zoo.cli import main


def test_export_says_float16_and_info_reads_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "nvae.mnist-cpu", "-o", "mine.safetensors"]) == 0
    assert capsys.readouterr().out.strip() == "mine.safetensors: float16 weights (--fp32 keeps float32)"
    with safe_open("mine.safetensors", framework="pt") as f:
        dtypes = {f.get_tensor(key).dtype for key in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    assert torch.float16 in dtypes and torch.float32 not in dtypes
    for name in ("mine.safetensors", "./mine.safetensors", str(tmp_path / "mine.safetensors")):
        assert main(["info", name]) == 0
        rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines() if len(line.split(None, 1)) == 2)
        assert rows["architecture"] == "nvae" and rows["name"] == str(Path(name))
    assert main(["export", "nvae.mnist-cpu", "-o", "full.safetensors", "--fp32"]) == 0
    assert capsys.readouterr().out.strip() == "full.safetensors: float32 weights"
    save_file({"w": torch.zeros(2)}, "plain.safetensors")  # no zoo metadata
    assert main(["info", "plain.safetensors"]) == 1
    assert "plain.safetensors: a safetensors file without zoo metadata" in capsys.readouterr().err
