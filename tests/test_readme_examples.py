"""The README's quick start runs as printed, in a fresh process, offline.

Nothing in the Python block is substituted or prepended: it reads the frames the demo writes
(written here by the demo's own flow half), draws the demo's digits itself and uses only the
bundled weights. The test then checks what the comments beside the lines promise.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import zoo

ROOT = Path(__file__).resolve().parents[1]

CHECKS = """
from pathlib import Path
assert sorted(zoo.list_models("pwcnet.*")) == sorted(n for n in zoo.list_models() if n.startswith("pwcnet."))
assert image1.shape == image2.shape == (1, 3, 384, 512) and image1.dtype == torch.float32
assert 0 <= float(image1.min()) and float(image1.max()) <= 1
assert x.shape == (10, 1, 32, 32) and set(x.unique().tolist()) == {0.0, 1.0}
assert flow.shape == (1, 2, 384, 512) and images.shape == (16, 1, 32, 32)
assert 0 <= float(images.min()) and float(images.max()) <= 1
assert log_px.shape == (10,) and bool((log_px < 0).all()) and torch.equal(nll, -log_px)
assert frames.shape == (1, 8, 1, 32, 32)
assert sorted(p.name for p in Path("out/pwcnet-synth").iterdir()) == ["README.md", "config.json", "model.safetensors"]
with torch.inference_mode():
    assert module.hparams.lr == 1e-5 and torch.equal(module.network(image1, image2), flow)
    assert again.zoo_record.arch == "pwcnet" and torch.equal(again(image1, image2), flow)
    assert torch.equal(zoo.load("out/pwcnet-synth/model.safetensors")(image1, image2), flow)
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
    """The block runs unchanged on the demo's frames, with no network and no extra installed."""
    from zoo.cli.demo_flow import flow_demo

    example = readme_python_blocks()[0]
    code = "\n".join(line.split("#")[0] for line in example.splitlines())
    assert "pwcnet.things" not in code and "hf-hub:" not in code and "export_onnx" not in code  # offline, no extra
    work = tmp_path / "work"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ZOO_OFFLINE": "1", "ZOO_HOME": str(tmp_path / "zoo-home"),
           "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home"), "PYTHONPATH": str(ROOT)}
    flow_demo(work / "demo")  # demo/frame1.png and demo/frame2.png, as `zoo demo` writes them
    result = subprocess.run([sys.executable, "-c", f"{example}\n{CHECKS}"], check=False, cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("README example ran")


def test_quick_start_lists_what_needs_a_network_or_an_extra():
    """What the block leaves out follows it, each line saying what it needs."""
    section = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    needs = section.split("What needs more than the demo's install", 1)[1]
    for line, need in (("zoo flow demo/frame1.png demo/frame2.png -o flow.flo", "a network"),
                       ('zoo.load("hf-hub:my-org/pwcnet-synth@v1")', "a network"),
                       ('zoo.export_onnx("pwcnet.synth", "pwcnet.onnx", size=(384, 512))', "the `export` extra")):
        item = next(entry for entry in needs.split("\n- ") if line in entry)
        assert need in item, item


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
    """Each line of the shell quick start runs as printed on a machine with no network; the line
    that uses the default (downloaded) weights, listed below the block, fails in one line that
    names the bundled ones."""
    from zoo.datamodules.flow.formats import read_flow

    commands = readme_quick_start_commands()
    assert commands[0] == "zoo demo" and len(commands) == 4
    commands.append("zoo flow demo/frame1.png demo/frame2.png -o flow-things.flo")
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
