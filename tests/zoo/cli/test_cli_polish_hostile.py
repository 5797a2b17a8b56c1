"""Smaller promises (issue 12, item 12, and one trap found beside it): progress bars, no
LightningCLI warning on every ``zoo fit``, ``zoo --version``, ``zoo sample`` readjusting batch
norms by default, the README's wording of ``log_likelihood``, integer Trainer limits.

API assumed: ``zoo --version`` prints ``zoo <version>``; ``zoo sample`` readjusts batch norms
unless ``--no-readjust-bn`` is given (``--readjust-bn`` stays accepted).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import zoo
from tests.support.hostile import ROOT, call_cli, run_cli

pytestmark = pytest.mark.hostile

CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))


def test_no_config_turns_the_progress_bar_off() -> None:
    """``configs/pwcnet/synthetic.yaml`` has ``enable_progress_bar: false``; a CPU run of an
    hour shows no progress at all."""
    off = [str(p.relative_to(ROOT)) for p in CONFIGS
           if yaml.safe_load(p.read_text()).get("trainer", {}).get("enable_progress_bar") is False]
    assert off == []


def test_zoo_fit_prints_no_lightningcli_args_warning() -> None:
    """Every ``zoo fit`` prints LightningCLI's "args parameter is intended to run from within
    Python" warning, since ``zoo`` passes ``args=`` while ``sys.argv`` is set."""
    result = run_cli("fit", "--config", ROOT / "configs" / "pwcnet" / "synthetic.yaml", "--print_config")
    assert result.rc == 0, result.stderr[-2000:]
    assert "args parameter is intended" not in result.stderr


def test_version() -> None:
    """``zoo --version`` prints the version and exits 0 (today: "the following arguments are
    required: COMMAND", exit 2)."""
    result = call_cli("--version")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"zoo {zoo.__version__}"


def _sample(tmp_path: Path, name: str, *flags: str) -> bytes:
    out = tmp_path / f"{name}.png"
    result = call_cli("sample", "nvae.mnist-cpu", "-n", "4", "-t", "0.7", "--seed", "0",
                      "--readjust-batches", "2", "-o", out, *flags)
    assert result.rc == 0, result.stderr
    return out.read_bytes()


def test_zoo_sample_readjusts_batch_norm_by_default(tmp_path: Path) -> None:
    """Without readjusted batch norms NVAE samples are blurry blobs, and the demo readjusts; so
    the plain command does too: its grid equals ``--readjust-bn``'s for a fixed seed, and
    ``--no-readjust-bn`` gives another (today ``--no-readjust-bn`` does not exist, exit 2)."""
    default = _sample(tmp_path, "default")
    assert default == _sample(tmp_path, "readjusted", "--readjust-bn")
    assert default != _sample(tmp_path, "plain", "--no-readjust-bn")


def test_readme_does_not_call_the_log_likelihood_an_nll() -> None:
    """``log_likelihood`` returns log p(x) (negative numbers); the README's example stores it as
    ``nll = vae.log_likelihood(...)``."""
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if "log_likelihood" in line]
    assert lines, "the README no longer mentions log_likelihood"
    wrong = [line for line in lines if re.search(r"\bnll\b", line, re.IGNORECASE)]
    assert wrong == []


@pytest.mark.parametrize(("option", "value", "config"), [
    ("limit_train_batches", None, "configs/nvae/mnist-cpu.yaml"),   # the config's 480 batches per epoch
    ("limit_val_batches", "1", "configs/nvae/mnist-cpu.yaml"),
    ("limit_val_batches", "1", "configs/pwcnet/synthetic.yaml"),
])
def test_integer_batch_limits_stay_integers(option: str, value: str | None, config: str) -> None:
    """Found beside item 11: Lightning types ``limit_*_batches`` as ``Union[float, int]``, so
    ``zoo fit`` parses 480 as 480.0 and 1 as 1.0, which Lightning reads as fractions: 480.0
    x the epoch (mnist-cpu's "epochs of 480 batches" are whole passes of 1,718 batches) and
    1.0 = every validation batch instead of one. An integer must stay an integer."""
    args = ["fit", "--config", ROOT / config, "--print_config"]
    if value is not None:
        args[3:3] = [f"--trainer.{option}", value]
    result = call_cli(*args)
    assert result.rc == 0, result.stderr[-2000:]
    printed = yaml.safe_load(result.stdout)["trainer"][option]
    expected = int(value) if value is not None else yaml.safe_load((ROOT / config).read_text())["trainer"][option]
    assert type(printed) is int and printed == expected, f"{option}: {printed!r}"


@pytest.mark.parametrize("command", ["list", "info", "download", "import", "demo", "flow", "sample", "fit"])
def test_every_command_has_help(command: str) -> None:
    """Guard (README: every command has ``--help``)."""
    result = call_cli(command, "--help")
    assert result.rc == 0 and "usage" in result.stdout.lower(), result.stderr[-2000:]


@pytest.mark.parametrize(("flag", "value"), [("-n", "0"), ("-n", "-3"), ("-t", "-1"), ("-t", "1.5"), ("-t", "nan")])
def test_zoo_sample_rejects_bad_counts_and_temperatures(tmp_path: Path, flag: str, value: str) -> None:
    """Guard: a count below 1 or a temperature outside [0, 1] (NaN included) is one line
    naming the option; nothing is written. (``-n 10**9``: see test_memory_bounds.)"""
    from tests.support.hostile import assert_one_line_error

    option = {"-n": "--num-samples", "-t": "--temperature"}[flag]
    result = call_cli("sample", "nvae.mnist-cpu", flag, value, "-o", tmp_path / "grid.png")
    assert_one_line_error(result, option)
    assert not (tmp_path / "grid.png").exists()
