"""A network as a Hugging Face Hub repository: ``zoo.save_pretrained`` and ``zoo push``.

    zoo.save_pretrained("pwcnet.synth", "out/pwcnet-synth")   # model.safetensors, config.json, README.md
    zoo.push_to_hub("pwcnet.synth", "my-org/pwcnet-synth")     # the same folder, committed to the Hub

The folder is what :mod:`zoo.weights.hf_hub` reads back (``zoo.load("hf-hub:my-org/pwcnet-synth")``).
Pushing goes through ``huggingface_hub`` (``HF_ENDPOINT``; token from ``HF_TOKEN`` or
``hf auth login`` unless given).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo.datamodules.files.atomic import write_atomic
from zoo.datamodules.files.outputs import check_outputs, local_files
from zoo.publish.card import model_card
from zoo.weights.checkpoint import save_weights
from zoo.weights.hf_hub import CARD_FILE, CONFIG_FILE, PRETRAINED_FILES, WEIGHTS_FILE, hub_name
from zoo.weights.loader import as_model

__all__ = ["push_to_hub", "save_pretrained"]


def _check_folder(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory}: exists and is not a folder")
    others = sorted(p.name for p in directory.iterdir() if p.name not in PRETRAINED_FILES) if directory.is_dir() else []
    if others:
        raise ValueError(f"{directory}: holds other files ({', '.join(others)}); save_pretrained writes exactly "
                         f"{', '.join(PRETRAINED_FILES)} into an empty (or earlier save_pretrained) folder")


def save_pretrained(model_or_name: torch.nn.Module | str | os.PathLike, directory: str | os.PathLike, *,
                    repo_id: str | None = None, arch: str | None = None) -> Path:
    """Write ``model.safetensors``, ``config.json`` and ``README.md`` of a network into ``directory``.

    Args:
        model_or_name: a network from :func:`zoo.load`, or a registry / ``hf-hub:`` name or weight
            file (see :func:`zoo.weights.loader.as_model`).
        directory: the folder, created if needed; it may hold only these three files (an earlier save).
        repo_id: the Hub repository ``ORG/NAME`` the folder is meant for (its card shows
            ``zoo.load("hf-hub:ORG/NAME")``); default: the weights' own name.
        arch: architecture of a weight file that does not record it.

    Returns:
        ``directory`` as a Path. Weights keep the network's dtype; every file is written atomically.

    Raises:
        ValueError: ``directory`` holds other files, or one of the three files is the source
            itself (re-saving a folder into itself, or onto a link to the weight file).
    """
    directory = Path(directory)
    _check_folder(directory)
    check_outputs([("directory", directory / name) for name in PRETRAINED_FILES],
                  local_files({"model_or_name": model_or_name}))
    network = as_model(model_or_name, arch=arch)
    record = network.zoo_record
    if record.file is not None:  # a name's bundled or cached file, or the file the network came from
        check_outputs([("directory", directory / name) for name in PRETRAINED_FILES], {"weights file": record.file})
    config = dict(record.weights.description()["config"])
    save_weights(directory / WEIGHTS_FILE, network.state_dict(), arch=record.arch, config=config,
                 info={"record": record.weights.description(), "saved_from": record.weights.name})
    manifest: dict[str, Any] = {"architecture": record.arch, "config": config, "format": "zoo safetensors",
                                "weights": record.weights.name}
    write_atomic(directory / CONFIG_FILE, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    card = model_card(record.arch, record.weights, name=hub_name(repo_id) if repo_id else None)
    write_atomic(directory / CARD_FILE, card.encode())
    return directory


def _check_online(repo_id: str) -> None:
    """An upload is the one thing offline mode cannot serve from a cache: refuse it before any request."""
    from zoo.weights.hf_hub import offline_switches

    offline = offline_switches()
    if offline:
        raise OSError(f"cannot push to {repo_id}: {offline} (offline mode); nothing was sent. "
                      f"Unset it to push, or keep the folder with zoo.save_pretrained")


def push_to_hub(model_or_name: torch.nn.Module | str | os.PathLike, repo_id: str, *, private: bool | None = None,
                token: str | None = None, commit_message: str | None = None, arch: str | None = None) -> str:
    """Create (if needed) the Hub model repository ``repo_id`` and commit the
    :func:`save_pretrained` folder of the network to its ``main`` branch.

    Returns:
        The commit's URL.

    Raises:
        ValueError: ``repo_id`` is not ``ORG/NAME``.
        OSError: offline (``ZOO_OFFLINE`` or ``HF_HUB_OFFLINE`` set): refused before any request.
        huggingface_hub.errors.HfHubHTTPError: the Hub refused (no token, no write access, ...).
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"{repo_id!r}: expected a Hub repository ORG/NAME")
    _check_online(repo_id)
    network = as_model(model_or_name, arch=arch)
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as tmp:
        folder = save_pretrained(network, tmp, repo_id=repo_id)
        api.create_repo(repo_id, private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(folder / name))
                      for name in PRETRAINED_FILES]
        message = commit_message or f"zoo push {network.zoo_record.weights.name}"
        commit = api.create_commit(repo_id, operations, commit_message=message)
    return commit.commit_url
