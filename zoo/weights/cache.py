"""Weight files of registered weight sets: bundled, downloaded into the verified cache, imported,
or fetched from the Hugging Face Hub into its own cache (:mod:`zoo.weights.hf_hub`).

The cache itself (download, verification, manifest, locks) is the generic service of
:mod:`zoo.datamodules.files`; this module knows what a :class:`~zoo.catalog.records.WeightsInfo` promises
(URLs and mirrors, hashes, size, a hand-fetched file) and says what to do when a file cannot be had.
"""

from __future__ import annotations

from pathlib import Path

from zoo.catalog.records import WeightsInfo
from zoo.datamodules.files.cache import cache_root, cached_file, verify_file
from zoo.datamodules.files.download import DownloadError, FileUnavailableError, OfflineError, download_any

__all__ = ["BUNDLED_DIR", "FID_INCEPTION_SHA256", "FID_INCEPTION_URL", "MAX_WEIGHTS_BYTES", "cache_target",
           "fid_inception_file", "weights_file"]

BUNDLED_DIR = Path(__file__).resolve().parent
MAX_WEIGHTS_BYTES = 4 << 30  # a download of unknown size stops here (the largest NVAE file is ~1.3 GB)

#: pytorch-fid's FID Inception weights (TensorFlow's 2015-12-05 Inception v3 ported to PyTorch), the file
#: pytorch-fid, NVAE's FID and torchmetrics' FID load; its SHA-256 begins with the 6726825d its name carries.
FID_INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                     "pt_inception-2015-12-05-6726825d.pth")
FID_INCEPTION_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
_FID_INCEPTION_MAX_BYTES = 200 << 20  # the file is about 96 MB


def manual_target(info: WeightsInfo) -> Path:
    """Where the cache keeps a weight file that users fetch by hand and ``zoo import``."""
    return cache_root() / "manual" / info.name / (info.file_name or f"{info.name}.bin")


def cache_target(info: WeightsInfo) -> Path:
    """The cache path of a downloadable or hand-fetched weight set's file."""
    return cached_file(info.urls[0]) if info.urls else manual_target(info)


def _what_to_do(info: WeightsInfo, alternatives: list[str]) -> str:
    hint = (f"Download {info.urls[0]} on a machine with network access, then run: "
            f"zoo import {info.name} PATH/TO/FILE")
    if alternatives:
        hint += f"; or use weights bundled with the package, which need no network: {', '.join(alternatives)}"
    return hint


def weights_file(info: WeightsInfo, *, bundled_alternatives: list[str] = (), progress: bool | None = None) -> Path:
    """The verified local file of a registered weight set, downloading it if needed.

    Args:
        info: the registry entry.
        bundled_alternatives: names of bundled weight sets of the same architecture, offered in
            the error when the file cannot be had.
        progress: show a download progress bar (default: when stderr is a terminal).

    Raises:
        FileUnavailableError: the file must be fetched by hand, or it is not cached and the
            network is unreachable or forbidden (``ZOO_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` for Hub
            entries); the message says what to do.
        zoo.datamodules.files.cache.ChecksumError: the file does not match the published hash.
    """
    if info.bundled:
        path = BUNDLED_DIR / info.bundled
        if not path.is_file():
            raise FileUnavailableError(f"{info.name}: bundled file {path} is missing from the install")
        return path
    if info.hf_repo:
        from zoo.weights.hf_hub import WEIGHTS_FILE, download

        path = download(info.hf_repo, WEIGHTS_FILE, info.hf_revision)
        if info.sha256 or info.git_sha1:  # else the Hub's commit is the reference (no trust-on-first-use record)
            verify_file(path, info.sha256, size=info.file_size, git_sha1=info.git_sha1, what=info.name)
        return path
    if not info.urls:
        target = manual_target(info)
        if target.is_file():
            verify_file(target, info.sha256, size=info.file_size, git_sha1=info.git_sha1, what=info.name)
            return target
        raise FileUnavailableError(
            f"{info.name}: the weights cannot be downloaded automatically. "
            f"{info.manual_download or ''} Then run: zoo import {info.name} PATH/TO/FILE")
    try:
        return download_any(info.urls, info.sha256, git_sha1=info.git_sha1, size=info.file_size,
                            max_size=MAX_WEIGHTS_BYTES, progress=progress)
    except OfflineError:
        raise FileUnavailableError(
            f"{info.name}: not in the cache and ZOO_OFFLINE=1. " + _what_to_do(info, list(bundled_alternatives))
        ) from None
    except DownloadError as error:
        raise FileUnavailableError(
            f"{info.name}: not in the cache and could not be downloaded ({error}). "
            + _what_to_do(info, list(bundled_alternatives))) from None


def fid_inception_file(*, url: str = FID_INCEPTION_URL, sha256: str = FID_INCEPTION_SHA256,
                       progress: bool | None = None) -> Path:
    """The verified local copy of pytorch-fid's Inception weights, downloaded once into the zoo cache.

    Raises:
        FileUnavailableError: not cached and the network is unreachable or forbidden
            (``ZOO_OFFLINE=1``); the message says how to give the file by hand.
        zoo.datamodules.files.cache.ChecksumError: the file does not match the pinned SHA-256.
    """
    hint = f"Download {url} on a machine with network access and pass it with --inception-weights FILE"
    try:
        return download_any([url], sha256, max_size=_FID_INCEPTION_MAX_BYTES, progress=progress)
    except OfflineError:
        raise FileUnavailableError(f"the FID Inception weights are not in the cache and ZOO_OFFLINE=1. {hint}") from None
    except DownloadError as error:
        raise FileUnavailableError(
            f"the FID Inception weights are not in the cache and could not be downloaded ({error}). {hint}") from None
