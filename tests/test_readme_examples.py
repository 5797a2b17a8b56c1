"""The README's Python quick-start runs as printed, in a fresh process, offline.

Nothing in it is substituted: it uses only the bundled weights, so it needs no download. The
one thing no machine has offline, the Hub repository ``my-org/pwcnet-synth``, is placed in a
Hugging Face cache at revision ``v1``, and the example's free names (``image1``, ``image2``,
``x``) are defined first. The test then checks what the comments beside the lines promise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo
from tests.support.hf_hub import place_in_cache

ROOT = Path(__file__).resolve().parents[1]

PRELUDE = """
import torch
generator = torch.Generator().manual_seed(0)
image1, image2 = torch.rand(2, 1, 3, 64, 96, generator=generator)
x = torch.rand(2, 1, 32, 32, generator=generator)
"""

CHECKS = """
assert sorted(zoo.list_models("pwcnet.*")) == sorted(n for n in zoo.list_models() if n.startswith("pwcnet."))
assert flow.shape == (1, 2, 64, 96) and images.shape == (16, 1, 32, 32)
assert 0 <= float(images.min()) and float(images.max()) <= 1
assert log_px.shape == (2,) and bool((log_px < 0).all()) and torch.equal(nll, -log_px)
assert frames.shape == (1, 8, 1, 32, 32)
assert module.hparams.lr == 1e-5 and torch.equal(net(image1, image2), flow_net(image1, image2))
assert sorted(p.name for p in Path("out/pwcnet-synth").iterdir()) == ["README.md", "config.json", "model.safetensors"]
assert again.zoo_record.arch == "pwcnet" and torch.equal(again(image1, image2), flow)
assert torch.equal(zoo.load("out/pwcnet-synth/model.safetensors")(image1, image2), flow)
assert Path("pwcnet.onnx").stat().st_size > 1e6
try:
    flow_net(image1 * 255, image2 * 255)
except ValueError as error:
    assert "[0, 1]" in str(error)
else:
    raise AssertionError("[0, 255] images were accepted")
print("README example ran")
"""


def readme_python_blocks() -> list[str]:
    """The README's ```python blocks, in order."""
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.DOTALL)


def test_quick_start_runs_as_printed(tmp_path):
    pytest.importorskip("onnxscript", reason="the example exports ONNX: pip install -e '.[test,export]'")
    example = readme_python_blocks()[0]
    code = "\n".join(line.split("#")[0] for line in example.splitlines())
    assert "pwcnet.things" not in code and "hf-hub:my-org/pwcnet-synth@v1" in code  # offline as printed
    cache = tmp_path / "hub-cache"
    folder = zoo.save_pretrained("pwcnet.synth", tmp_path / "hub-repo", repo_id="my-org/pwcnet-synth")
    place_in_cache(folder, cache, "my-org/pwcnet-synth", "c" * 40, refs=("main", "v1"))
    code = f"{PRELUDE}\n{example}\nfrom pathlib import Path\n{CHECKS}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ZOO_OFFLINE": "1", "ZOO_HOME": str(tmp_path / "zoo-home"),
           "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf-home"),
           "PYTHONPATH": str(ROOT)}
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=work, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("README example ran")


def test_training_example_names_what_exists():
    """The training block needs Sintel on disk; what it calls exists with the arguments it passes."""
    import inspect

    from zoo.datamodules import FlowDataModule

    example = readme_python_blocks()[1]
    assert 'zoo.load_module("pwcnet.things", schedule="fine", robust=True)' in example
    assert 'FlowDataModule(train="sintel-clean+sintel-final", data_dir="/data")' in example
    module = zoo.load_module("pwcnet.synth", schedule="fine", robust=True)
    assert module.hparams.schedule == "fine" and module.hparams.robust is True
    assert {"train", "data_dir"} <= set(inspect.signature(FlowDataModule).parameters)
    with pytest.raises(FileNotFoundError, match="/data/MPI-Sintel-complete"):
        FlowDataModule(train="sintel-clean+sintel-final", data_dir="/data").setup("fit")


def readme_quick_start_commands() -> list[str]:
    """The command lines of the Quick start's ```bash block, comments stripped."""
    section = (ROOT / "README.md").read_text().split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_quick_start_commands_run_offline_as_printed(tmp_path):
    """Each line of the shell quick start runs as printed on a machine with no network; the one
    that uses the default (downloaded) weights fails in one line that names the bundled ones."""
    from zoo.datamodules.flow.formats import read_flow

    commands = readme_quick_start_commands()
    assert commands[0] == "zoo demo" and len(commands) == 5
    env = {**os.environ, "ZOO_OFFLINE": "1", "ZOO_HOME": str(tmp_path / "zoo-home"), "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in commands:
        result = subprocess.run(["bash", "-c", command], check=False, cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=600)
        if "--weights" not in command and command.startswith("zoo flow"):  # the default: pwcnet.things
            assert result.returncode == 1 and "pwcnet.synth" in result.stderr, (command, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1
        else:
            assert result.returncode == 0, (command, result.stderr[-2000:])
    flow, valid = read_flow(tmp_path / "flow.flo")
    assert flow.shape == (384, 512, 2) and valid.all()
    assert {p.name for p in (tmp_path / "demo").iterdir()} >= {"frame1.png", "frame2.png", "flow.flo", "flow.png",
                                                               "nvae_samples.png"}
    assert (tmp_path / "flow.png").stat().st_size > 0 and (tmp_path / "samples.png").stat().st_size > 0
