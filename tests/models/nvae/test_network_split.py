"""``models/nvae/network.py`` split into towers (modules and passes) and network (the user API):
what users and files name stays where it was."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import torch

import zoo
from zoo.catalog.registry import architecture, resolve_import
from zoo.models.nvae.network import NVAE, build_nvae
from zoo.models.nvae.towers import NVAETowers

README = Path(__file__).resolve().parents[3] / "README.md"


def test_nvae_keeps_its_import_path():
    # Lightning checkpoints name the class by module path, the catalog the builder by import string
    assert (NVAE.__module__, NVAE.__qualname__) == ("zoo.models.nvae.network", "NVAE")
    assert resolve_import(architecture("nvae").network) is build_nvae
    assert issubclass(NVAE, NVAETowers)


def test_the_bundled_nvae_loads_with_the_state_dict_keys_of_its_file():
    from safetensors import safe_open

    net = zoo.load("nvae.mnist-cpu")
    path = Path(zoo.__file__).parent / "weights" / "nvae-mnist-cpu.safetensors"
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == set(net.state_dict())
    assert isinstance(net, NVAE) and net.memory_format == torch.channels_last  # set by NVAE over the towers


def test_readme_states_the_readjust_bn_default():
    default = inspect.signature(NVAE.readjust_bn).parameters["num_batches"].default
    (stated,) = re.findall(r"readjust_bn\(num_batches=(\d+)", README.read_text())
    assert int(stated) == default == 40
