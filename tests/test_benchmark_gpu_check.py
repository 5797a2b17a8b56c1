"""benchmarks/gpu_check.py in its tiny CPU mode: every check runs and reports a rate (the CI smoke test
of the script a GPU session runs at full size)."""

from __future__ import annotations

import re

import torch

from benchmarks.gpu_check import main

CHECKS = ["pwcnet forward float32", "pwcnet forward bfloat16", "pwcnet training step float32",
          "supervisor forward+backward float32", "supervisor forward+backward bfloat16",
          "nvae training step mnist-cpu", "nvae sampling mnist-cpu"]


def test_tiny_cpu_run_passes_every_check(capsys):
    torch.set_num_threads(1)
    assert main(["--tiny", "--device", "cpu", "--no-compile"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("zoo gpu check on CPU")
    rows = {name: next(line for line in lines if line.startswith(name)) for name in CHECKS}
    for line in rows.values():
        rate = re.search(r"  ([0-9.]+) (pairs|images)/s", line)
        assert rate and float(rate.group(1)) > 0, line
        assert "FAILED" not in line
    assert "EPE to float32 0.0000 px" in rows["pwcnet forward float32"]
    # bfloat16 autocast of the estimators: a few hundredths of a px on these frames (0.02 measured)
    assert float(re.search(r"EPE to float32 ([0-9.]+)", rows["pwcnet forward bfloat16"]).group(1)) < 0.2
