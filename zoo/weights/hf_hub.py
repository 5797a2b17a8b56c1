"""Weights hosted on the Hugging Face Hub: ``zoo.load("hf-hub:ORG/NAME[@REVISION]")``.

A zoo repository on the Hub holds three files (written by :func:`zoo.publish.pretrained.save_pretrained`):

* ``model.safetensors``: the network in our format, with its metadata (architecture, config, the
  weight record under ``zoo.info["record"]``);
* ``config.json``: ``{"architecture": "pwcnet", "config": {...}, ...}``;
* ``README.md``: the model card (:mod:`zoo.publish.card`).

Files are fetched with ``huggingface_hub.hf_hub_download``, so the Hub's own cache
(``HF_HUB_CACHE`` / ``HF_HOME``), ``HF_HUB_OFFLINE=1``, ``HF_ENDPOINT`` and the token
(``HF_TOKEN`` or ``hf auth login``) behave as they do for every Hub library; ``ZOO_OFFLINE=1``
also keeps the zoo off the network here (cached files only). Both files of one load come from the
same commit: the revision is resolved once, by the first file.

Before asking the Hub, the zoo opens one TCP connection to its host (or to the proxy that reaches
it), waiting at most :data:`PROBE_TIMEOUT_S`: when that fails the load goes on from the cache only,
so a machine with no route to the Hub gets its one-line error at once instead of
``huggingface_hub``'s retries (six "Retrying in Ns" lines over about 24 s).
"""

from __future__ import annotations

import json
import re
import socket
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from zoo.catalog.records import HUB_PREFIX, WeightsInfo, hub_name
from zoo.datamodules.files.download import FileUnavailableError, is_offline
from zoo.weights.checkpoint import read_zoo_metadata

__all__ = [
    "CARD_FILE",
    "CONFIG_FILE",
    "HUB_PREFIX",
    "PRETRAINED_FILES",
    "PROBE_TIMEOUT_S",
    "WEIGHTS_FILE",
    "download",
    "folder_weights",
    "hub_name",
    "hub_unreachable",
    "hub_weights",
    "is_hub_name",
    "offline_switches",
    "parse_hub_name",
    "read_config",
]

#: Seconds the reachability probe waits for a TCP connection to the Hub's host (or its proxy).
PROBE_TIMEOUT_S = 3.0

WEIGHTS_FILE, CONFIG_FILE, CARD_FILE = "model.safetensors", "config.json", "README.md"
#: Exactly the files of a zoo repository (and of a :func:`~zoo.publish.pretrained.save_pretrained` folder).
PRETRAINED_FILES = (WEIGHTS_FILE, CONFIG_FILE, CARD_FILE)


def is_hub_name(text: object) -> bool:
    """Whether ``text`` names Hub weights (``hf-hub:...``)."""
    return isinstance(text, str) and text.startswith(HUB_PREFIX)


def parse_hub_name(text: str) -> tuple[str, str | None]:
    """``"hf-hub:ORG/NAME@REV"`` -> ``("ORG/NAME", "REV")``; the revision is None when absent.

    Raises:
        ValueError: not of the form ``hf-hub:ORG/NAME[@REVISION]``.
    """
    repo_id, at, revision = text.removeprefix(HUB_PREFIX).partition("@")
    org, _, name = repo_id.partition("/")
    if not is_hub_name(text) or not _HUB_PART.fullmatch(org) or not _HUB_PART.fullmatch(name) or (at and not revision):
        raise ValueError(f"{text!r}: expected hf-hub:ORG/NAME or hf-hub:ORG/NAME@REVISION (ORG and NAME of letters, "
                         f"digits, '-', '_', '.')")
    if at and not _is_ref_name(revision):
        raise ValueError(f"{text!r}: revision {revision!r} is no branch, tag or commit name")
    return repo_id, revision or None


def _is_ref_name(revision: str) -> bool:
    """Whether ``revision`` is a valid git ref name (``git check-ref-format``'s rules that matter
    here: no ``..``, no leading or trailing ``/`` or ``.``, no control characters, spaces or
    ``~^:?*[\\``): anything else could reach outside the Hub cache's ``refs/`` folder."""
    return (not revision.startswith(("/", ".")) and not revision.endswith(("/", ".", ".lock"))
            and ".." not in revision and "//" not in revision and "@{" not in revision
            and not any(c in _REF_FORBIDDEN or ord(c) < 32 or ord(c) == 127 for c in revision))


def hub_unreachable(endpoint: str | None = None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the Hub at ``endpoint`` (default ``huggingface_hub``'s, i.e. ``HF_ENDPOINT``) cannot be
    reached: one TCP connection to its host, or to the proxy the environment names for its scheme,
    within ``timeout`` seconds. None when the connection opens."""
    if endpoint is None:
        from huggingface_hub import constants

        endpoint = constants.ENDPOINT
    target = urllib.parse.urlsplit(endpoint)
    proxy = urllib.request.getproxies().get(target.scheme)
    if proxy and not urllib.request.proxy_bypass(target.netloc):
        target = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    host, port = target.hostname, target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:  # unresolvable host, refused, unreachable network, timeout
        return f"{host}:{port}: {error.strerror or error}"
    return None


def download(repo_id: str, filename: str, revision: str | None = None) -> Path:
    """The local path of ``filename`` of the model repository ``repo_id`` at ``revision``
    (default ``main``), from the Hub's cache or downloaded into it.

    Raises:
        FileUnavailableError: the file is not cached and the Hub cannot be asked (offline), or
            the repository, revision or file does not exist (or is gated / private without a
            token); the message names the repository and says what to do.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{hub_name(repo_id, revision)}: {filename}"
    offline = offline_switches() or hub_unreachable()
    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, local_files_only=bool(offline)))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled):
        raise FileUnavailableError(
            f"{where} is not in the Hugging Face cache and the Hub cannot be reached "
            f"({offline or 'no network'}); load it once with network access, or set HF_HUB_CACHE to a cache "
            f"that holds it") from None
    except GatedRepoError:
        raise FileUnavailableError(f"{where}: the repository is gated; accept its terms on the Hub and log in "
                                      f"(hf auth login, or set HF_TOKEN)") from None
    except RepositoryNotFoundError:
        raise FileUnavailableError(f"{where}: no such repository on the Hub (or it is private: log in with "
                                      f"hf auth login, or set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise FileUnavailableError(f"{where}: the repository has no revision {revision!r}") from None
    except EntryNotFoundError:
        raise FileUnavailableError(f"{where}: no such file in the repository; a zoo repository holds "
                                      f"{', '.join(PRETRAINED_FILES)}") from None
    except HfHubHTTPError as error:
        raise FileUnavailableError(f"{where}: the Hub answered {error}") from None


_HUB_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")  # the Hub's repository name rule, roughly
_REF_FORBIDDEN = set(" ~^:?*[\\")


def offline_switches() -> str | None:
    """Which offline switches are set (``"ZOO_OFFLINE and HF_HUB_OFFLINE set"``), ``HF_HUB_OFFLINE``
    as ``huggingface_hub`` reads it; None when neither is."""
    from huggingface_hub import constants

    names = [name for name, on in (("ZOO_OFFLINE", is_offline()), ("HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)) if on]
    return f"{' and '.join(names)} set" if names else None


_MAX_CONFIG_BYTES = 1 << 20  # a zoo config.json is a few kB; refuse to parse a huge one


def read_config(path: Path) -> tuple[str, dict[str, Any]]:
    """(architecture name, network config) of a zoo ``config.json``.

    Raises:
        ValueError: the file is over 1 MiB, not JSON, or lacks ``architecture`` / ``config``.
    """
    try:
        size = path.stat().st_size
        if size > _MAX_CONFIG_BYTES:
            raise ValueError(f"{path}: {size:,} bytes; a zoo config.json is a few kB (limit {_MAX_CONFIG_BYTES:,})")
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable zoo config.json ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("architecture"), str) \
            or not isinstance(data.get("config"), dict):
        raise ValueError(f"{path}: a zoo config.json needs 'architecture' (a name) and 'config' (an object)")
    if not data["architecture"].isidentifier():
        raise ValueError(f"{path}: 'architecture' must be an architecture name such as pwcnet or nvae, "
                         f"got {data['architecture'][:80]!r}")
    return data["architecture"], data["config"]


def _read_pretrained(name: str, config_path: Path, weights_path: Path) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(architecture, config, weight record) of a save_pretrained pair ``config.json`` + ``model.safetensors``.

    Raises:
        ValueError: the files are not a zoo pair, or they disagree on the architecture or config.
    """
    arch, config = read_config(config_path)
    metadata = read_zoo_metadata(weights_path)
    if metadata is None:
        raise ValueError(f"{name}: {WEIGHTS_FILE} has no zoo metadata; it was not written by zoo.save_pretrained")
    if metadata["arch"] != arch or metadata["config"] != config:
        raise ValueError(f"{name}: {CONFIG_FILE} ({arch}, {config}) disagrees with the metadata of {WEIGHTS_FILE} "
                         f"({metadata['arch']}, {metadata['config']})")
    record = metadata["info"].get("record") or {}
    if not isinstance(record, dict):
        raise ValueError(f"{weights_path}: metadata 'zoo.info' key 'record' must be a JSON object, "
                         f"got {type(record).__name__}")
    return arch, config, record


def _record(name: str, record: dict[str, Any], config: dict[str, Any], weights_path: Path, **fields: Any) -> WeightsInfo:
    """The weight record of a zoo folder or repository; ValueError naming the file and the field
    of its metadata's record that has the wrong type."""
    try:
        return WeightsInfo.from_description(name, {**record, "config": config}, **fields)
    except ValueError as error:
        raise ValueError(f"{weights_path}: metadata 'zoo.info' key 'record': {error}") from None


def hub_weights(name: str) -> tuple[str, Path, WeightsInfo]:
    """Resolve ``hf-hub:ORG/NAME[@REVISION]``: (architecture name, local ``model.safetensors``, record).

    The record is rebuilt from the weight file's metadata (licence, paper, recipe, metrics, ...)
    with the repository's ``config.json`` as its config.

    Raises:
        FileUnavailableError: see :func:`download`.
        ValueError: the files are not a zoo repository, or ``config.json`` and the weight file's
            metadata disagree on the architecture or config.
    """
    repo_id, revision = parse_hub_name(name)
    config_path = download(repo_id, CONFIG_FILE, revision)
    commit = config_path.parent.name  # huggingface_hub's snapshot folder is named by the commit
    weights_path = download(repo_id, WEIGHTS_FILE, commit)
    arch, config, record = _read_pretrained(name, config_path, weights_path)
    info = _record(name, record, config, weights_path, hf_repo=repo_id, hf_revision=revision)
    return arch, weights_path, info


def folder_weights(folder: Path) -> tuple[str, Path, WeightsInfo]:
    """Resolve a local :func:`~zoo.publish.pretrained.save_pretrained` folder (or a Hub snapshot folder):
    (architecture name, its ``model.safetensors``, record named by the folder), as :func:`hub_weights`.

    Raises:
        FileNotFoundError: the folder lacks ``config.json`` or ``model.safetensors``.
        ValueError: as :func:`hub_weights`.
    """
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: no {' or '.join(missing)} in this folder; a zoo model folder (written by "
                                f"zoo.save_pretrained) holds {CONFIG_FILE} and {WEIGHTS_FILE}")
    arch, config, record = _read_pretrained(str(folder), folder / CONFIG_FILE, folder / WEIGHTS_FILE)
    info = _record(str(folder), record, config, folder / WEIGHTS_FILE)
    return arch, folder / WEIGHTS_FILE, info
