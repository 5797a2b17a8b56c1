"""Weights of the wrong dtype (issue 26, item 5): a file re-saved as int8 gave an all-zero flow,
bool NaN, complex64 silently dropped the imaginary part and float8 failed naming no file. Every
load goes through :func:`zoo.weights.checkpoint.load_state_dict_strict`, which refuses them in
one line naming the file and the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from tests.support.hostile import SYNTH_WEIGHTS, assert_one_line_error, call_cli, write_frames

pytestmark = pytest.mark.hostile


def _resaved(folder: Path, dtype: torch.dtype) -> Path:
    """The ``save_pretrained`` folder with every floating tensor of its safetensors cast to ``dtype``,
    its metadata kept (what a user converting the file by hand produces)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    weights = folder / "model.safetensors"
    with safe_open(str(weights), framework="pt") as f:
        metadata = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, str(weights),
              metadata=metadata)
    return folder


@pytest.fixture(scope="module")
def pretrained_folder(tmp_path_factory) -> Path:
    return zoo.save_pretrained("pwcnet.synth", tmp_path_factory.mktemp("pretrained") / "pwc")


@pytest.mark.parametrize("dtype", [torch.int8, torch.bool, torch.complex64, torch.float8_e4m3fn, torch.uint8])
def test_a_folder_resaved_in_a_non_float_dtype_is_refused_naming_file_and_key(pretrained_folder, tmp_path, dtype):
    folder = _resaved(Path(shutil.copytree(pretrained_folder, tmp_path / "resaved")), dtype)
    with pytest.raises(ValueError) as caught:
        zoo.load(str(folder))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / 'model.safetensors'}: tensor 'context.0.bias' is stored as {dtype}")
    assert "float32" in message


def test_float16_bfloat16_and_float64_files_still_load_to_the_same_values(pretrained_folder, tmp_path):
    """The allowed dtypes keep the weights (to the precision of the dtype)."""
    reference = zoo.load(str(pretrained_folder)).state_dict()
    for dtype, tolerance in ((torch.float64, 0.0), (torch.float16, 1e-3), (torch.bfloat16, 1e-2)):
        folder = _resaved(Path(shutil.copytree(pretrained_folder, tmp_path / str(dtype))), dtype)
        state = zoo.load(str(folder)).state_dict()
        for key, value in reference.items():
            torch.testing.assert_close(state[key], value, rtol=tolerance, atol=tolerance)


def test_an_integer_buffer_given_floats_is_refused(tmp_path):
    """The other direction: an integer entry of the network (BatchNorm's ``num_batches_tracked``)
    stored as a float. Checked on a tiny network through the same loading function."""
    from zoo.weights.checkpoint import load_state_dict_strict

    network = torch.nn.BatchNorm2d(2)
    state = {k: v.clone() for k, v in network.state_dict().items()}
    state["num_batches_tracked"] = torch.tensor(3.5)
    with pytest.raises(ValueError, match=r"^bn\.pt: tensor 'num_batches_tracked' is stored as torch\.float32"):
        load_state_dict_strict(network, state, source="bn.pt")
    state["num_batches_tracked"] = torch.tensor(3)
    load_state_dict_strict(network, state, source="bn.pt")
    assert int(network.num_batches_tracked) == 3


def test_the_flow_command_refuses_int8_weights_in_one_line(pretrained_folder, tmp_path):
    folder = _resaved(Path(shutil.copytree(pretrained_folder, tmp_path / "int8")), torch.int8)
    first, second = write_frames(tmp_path / "frames")
    result = call_cli("flow", first, second, "-o", tmp_path / "out.flo", "--weights", folder)
    assert_one_line_error(result, str(folder / "model.safetensors"), "torch.int8")
    assert not (tmp_path / "out.flo").exists()
    assert json.loads((folder / "config.json").read_text())["architecture"] == "pwcnet"
    assert SYNTH_WEIGHTS.is_file()
