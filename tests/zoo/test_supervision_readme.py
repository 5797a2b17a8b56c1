"""The README's supervision example runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_supervision_example_runs_as_printed(capsys):
    section = (ROOT / "README.md").read_text().split("## PWC-Net as supervision", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
    assert namespace["model"].weight.grad is not None  # the loss reached the model
    assert namespace["supervisor"].network.features.levels[0][0].weight.grad is None
    value = float(re.fullmatch(r"E_warp (\d\.\d{4})\n", capsys.readouterr().out).group(1))
    assert 0 < value < 1
