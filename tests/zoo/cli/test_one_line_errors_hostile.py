"""README: "errors print one line (``zoo: error: ...``) and exit non-zero" (issue 12, item 8,
plus NaN weights from item 12 and the README's pickle promise). Each bad weight file is given
to ``zoo flow --weights FILE`` and the error must name it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.hostile import (
    PYTHON,
    ROOT,
    SYNTH_WEIGHTS,
    assert_no_traceback,
    assert_one_line_error,
    call_cli,
    cli_env,
    payload_weights,
    safetensors_variant,
    truncated_copy,
    write_frames,
)
from zoo.datamodules import write_flow

pytestmark = pytest.mark.hostile


def _flow_with_weights(tmp_path: Path, weights: str | Path, *extra: str):
    first, second = write_frames(tmp_path / "frames")
    return call_cli("flow", first, second, "-o", tmp_path / "out.flo", "--weights", weights, *extra)


def _bad_weights(tmp_path: Path, kind: str) -> tuple[Path, tuple]:
    """A bad weight file and the fragments (besides its path) its error must contain."""
    path = tmp_path / f"{kind}.safetensors"
    if kind == "truncated-safetensors":
        return truncated_copy(SYNTH_WEIGHTS, path), ()
    if kind == "unknown-config-key":
        return safetensors_variant(path, config={"bogus_key": 1}), ("bogus_key",)
    if kind == "bad-json-metadata":
        return safetensors_variant(path, metadata={"zoo.config": "{not json"}), ("zoo.config",)
    if kind == "nan-weights":  # issue 12, item 12: today exit 0 and an all-unknown flow file
        return safetensors_variant(path, tensors=lambda t: torch.full_like(t, float("nan"))
                                   if t.is_floating_point() else t), (re.compile(r"NaN|non-finite", re.IGNORECASE),)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated-safetensors", "unknown-config-key", "bad-json-metadata", "nan-weights"])
def test_bad_weight_file_is_a_one_line_error_naming_it(tmp_path: Path, kind: str) -> None:
    """Today: a SafetensorError traceback (truncated), a TypeError traceback (unknown key), a
    JSON message without the file name (bad metadata), exit 0 with NaN flow (NaN weights).
    The error names the file (and the key / the metadata field / the NaN); no flow is written."""
    weights, fragments = _bad_weights(tmp_path, kind)
    result = _flow_with_weights(tmp_path, weights)
    assert_one_line_error(result, str(weights), *fragments)
    assert not (tmp_path / "out.flo").exists()


def test_flow_file_offered_as_weights_is_not_called_a_code_running_pickle(tmp_path: Path) -> None:
    """A ``.flo`` given as ``--weights`` is reported as "not a weight file", not as a pickle
    that "could run code when unpickled" (today's message, with torch's advice to set
    ``weights_only=False``)."""
    weights = tmp_path / "flow.flo"
    write_flow(weights, np.zeros((4, 5, 2), np.float32))
    line = assert_one_line_error(_flow_with_weights(tmp_path, weights), str(weights), "not a weight file")
    assert not re.search(r"run code|unpickl|weights_only", line), line


@pytest.mark.parametrize("command", ["flow", "import"])
def test_pickle_with_a_payload_is_refused_and_never_runs(tmp_path: Path, command: str) -> None:
    """Guard (README: no fall-back to unsafe unpickling): a ``torch.save`` file whose pickle
    calls ``os.system`` is refused with one line naming it; the payload's marker file never
    appears. Today the refusal holds but its message spans 7 lines and relays torch's advice
    that "re-running torch.load with weights_only set to False will likely succeed"."""
    marker = tmp_path / "payload-ran"
    weights = payload_weights(tmp_path / "evil.pth", marker)
    if command == "flow":
        result = _flow_with_weights(tmp_path, weights)
    else:
        result = call_cli("import", "pwcnet.things", weights)
    line = assert_one_line_error(result, str(weights))
    assert "weights_only" not in line, "the error relays torch's advice to unpickle unsafely"
    assert not marker.exists(), "the pickle's payload ran"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only build of torch")
def test_cuda_device_on_a_cpu_only_build(tmp_path: Path) -> None:
    """``--device cuda`` without CUDA: one line naming the device (today: AssertionError
    "Torch not compiled with CUDA enabled" with a traceback)."""
    result = _flow_with_weights(tmp_path, "pwcnet.synth", "--device", "cuda")
    assert_one_line_error(result, "cuda")


def test_output_closed_early_is_not_an_error() -> None:
    """``zoo info NAME | head -1``: when the reader goes away, the command stops quietly with
    the status a shell gives ``cat`` there, 141 = 128 + SIGPIPE, as the README states (it was:
    "zoo: error: [Errno 32] Broken pipe", exit 1). The pipe's read end is closed
    before ``zoo`` writes, which is what ``head`` exiting after its line does to a command that
    writes at exit."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.run([PYTHON, "-m", "zoo.cli", "info", "pwcnet.things"], stdout=write_end,
                                 stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT, timeout=60,
                                 check=False)
    finally:
        os.close(write_end)
    assert process.returncode == 141, process.stderr
    assert process.stderr == "", process.stderr


def test_no_match_in_zoo_list_is_a_zoo_error_line() -> None:
    """``zoo list PATTERN`` without a match exits 1, so its message is an error line too
    (today: "no model matches ..." without the ``zoo: error:`` prefix)."""
    result = call_cli("list", "zzz-nothing*")
    assert_one_line_error(result, "zzz-nothing*")
    assert_no_traceback(result)
