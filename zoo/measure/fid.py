"""Frechet Inception Distance: Inception statistics of images and the distance between two of them.

The numbers are pytorch-fid's (the code NVAE's ``test_vae_fid`` and most papers call): features of
:class:`~zoo.measure.inception.FIDInceptionV3` (images in [0, 1], resized to 299, pool3 by
default), their mean ``mu`` and unbiased covariance ``sigma`` (``np.cov``), and

    FID = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)),

all in float64. Statistics files are pytorch-fid's / TTUR's / NVAE's ``.npz`` with arrays ``mu``
(D,) and ``sigma`` (D, D).

Statistics are accumulated as sums (count, sum of features, sum of outer products, float64), so
the features of many batches, or of several DDP processes, pool exactly into the statistics of
all the images together (:meth:`FeatureMoments.merge`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from zoo.datamodules.files.atomic import atomic_output
from zoo.measure.inception import FEATURE_DIMS, FIDInceptionV3

__all__ = [
    "IMAGE_EXTENSIONS",
    "FIDStatistics",
    "FeatureMoments",
    "folder_images",
    "frechet_distance",
    "image_batches_of_folder",
    "load_inception",
    "statistics_of_batches",
    "statistics_of_folder",
]

#: The image files of a folder that pytorch-fid reads (lower-case suffixes, the folder itself only).
IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")


@dataclass(frozen=True)
class FIDStatistics:
    """Mean (D,) and covariance (D, D) of Inception features, float64; ``count`` images (0: unknown,
    a file that does not say)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int = 0

    def __post_init__(self) -> None:
        if self.mu.ndim != 1 or self.sigma.shape != (len(self.mu), len(self.mu)):
            raise ValueError(f"statistics need mu (D,) and sigma (D, D), got {self.mu.shape} and {self.sigma.shape}")

    @property
    def dims(self) -> int:
        return len(self.mu)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``mu``, ``sigma`` (and ``count``) as a compressed ``.npz``, atomically, as pytorch-fid does."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"{path}: statistics files end in .npz (numpy adds the suffix otherwise)")
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            np.savez_compressed(f, mu=self.mu, sigma=self.sigma, count=np.int64(self.count))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> FIDStatistics:
        """Read a statistics ``.npz`` (``mu``, ``sigma``; ``count`` where we wrote it), never unpickling."""
        path = Path(path)
        arrays = _read_npz(path)
        missing = [key for key in ("mu", "sigma") if key not in arrays]
        if missing:
            raise ValueError(f"{path}: a statistics file holds arrays 'mu' and 'sigma'; "
                             f"missing {', '.join(missing)} (found: {', '.join(arrays) or 'none'})")
        mu, sigma = arrays["mu"], arrays["sigma"]
        count = arrays.get("count", np.int64(0))
        if count.size != 1 or count.dtype.kind not in "iu":
            raise ValueError(f"{path}: 'count' must be one integer, got {count.dtype} {count.shape}")
        if mu.dtype.kind != "f" or sigma.dtype.kind != "f":
            raise ValueError(f"{path}: 'mu' and 'sigma' must be floating point, got {mu.dtype} and {sigma.dtype}")
        if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
            raise ValueError(f"{path}: expected mu (D,) and sigma (D, D), got {mu.shape} and {sigma.shape}")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise ValueError(f"{path}: 'mu' or 'sigma' holds NaN or infinite values")
        return cls(mu.astype(np.float64), sigma.astype(np.float64), int(count))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` (object arrays refused: nothing is unpickled)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such statistics file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz archive")
            return {key: data[key] for key in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz statistics file ({error})") from None


@dataclass
class FeatureMoments:
    """Running sums of features: ``count``, ``total`` (D,) and ``outer`` (D, D), float64.

    Pooling two sets of features is adding their moments (:meth:`merge`); DDP processes all-reduce them.
    """

    count: int
    total: torch.Tensor
    outer: torch.Tensor

    @classmethod
    def zeros(cls, dims: int, device: torch.device | str = "cpu") -> FeatureMoments:
        return cls(0, torch.zeros(dims, dtype=torch.float64, device=device),
                   torch.zeros(dims, dims, dtype=torch.float64, device=device))

    def add(self, features: torch.Tensor) -> None:
        """Add (B, D) features."""
        f = features.to(self.total.device, torch.float64)
        self.count += f.shape[0]
        self.total += f.sum(0)
        self.outer += f.T @ f

    def merge(self, other: FeatureMoments) -> FeatureMoments:
        return FeatureMoments(self.count + other.count, self.total + other.total.to(self.total.device),
                              self.outer + other.outer.to(self.outer.device))

    def statistics(self) -> FIDStatistics:
        """Mean and unbiased covariance (``np.cov``'s ``N - 1``); needs two features or more."""
        if self.count < 2:
            raise ValueError(f"FID statistics need at least 2 images, got {self.count}")
        mu = self.total / self.count
        sigma = (self.outer - self.count * torch.outer(mu, mu)) / (self.count - 1)
        return FIDStatistics(mu.cpu().numpy(), sigma.cpu().numpy(), self.count)


def frechet_distance(first: FIDStatistics, second: FIDStatistics) -> float:
    """The Frechet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2), float64.

    ``tr((sigma1 sigma2)^(1/2))`` is the sum of the square roots of the eigenvalues of the
    symmetric positive semi-definite ``A sigma2 A`` with ``A = sigma1^(1/2)`` (both by symmetric
    eigendecompositions; eigenvalues within rounding of zero, ``|l| <= D eps max|l|``, count as zero,
    else the square roots of that rounding noise, ~1e-8 each, would add up). ``sigma1 sigma2`` has
    the same eigenvalues, so this is the trace pytorch-fid's ``scipy.linalg.sqrtm`` computes,
    without its complex detours or an ``eps`` added to singular covariances (fewer images than
    feature dimensions): there it stays exact where ``sqrtm`` loses accuracy.
    """
    if first.dims != second.dims:
        raise ValueError(f"statistics of different feature sizes: {first.dims} and {second.dims}")
    diff = first.mu - second.mu
    root_first = _psd_sqrt(first.sigma)
    product = root_first @ second.sigma @ root_first
    trace_sqrt = float(np.sqrt(_without_rounding_noise(np.linalg.eigvalsh((product + product.T) / 2))).sum())
    return float(diff @ diff + np.trace(first.sigma) + np.trace(second.sigma) - 2 * trace_sqrt)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix (negative rounding clipped)."""
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(_without_rounding_noise(eigenvalues))) @ vectors.T


def _without_rounding_noise(eigenvalues: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with those within rounding of zero set to zero."""
    tolerance = len(eigenvalues) * np.finfo(np.float64).eps * max(float(np.abs(eigenvalues).max(initial=0)), 0.0)
    return np.where(eigenvalues > tolerance, eigenvalues, 0.0)


# --- features of images -------------------------------------------------------------------------


def load_inception(weights: str | os.PathLike | None = None, device: torch.device | str = "cpu",
                   progress: bool | None = None) -> FIDInceptionV3:
    """The FID Inception network with pytorch-fid's weights, in eval mode on ``device``.

    Args:
        weights: a local ``pt_inception-2015-12-05-6726825d.pth`` (or any file in its layout); None
            fetches the published file once into the zoo cache (:func:`zoo.weights.cache.fid_inception_file`).
    """
    from zoo.weights.checkpoint import load_state_dict_strict, read_checkpoint

    if weights is None:
        from zoo.weights.cache import fid_inception_file

        weights = fid_inception_file(progress=progress)
    state = read_checkpoint(weights)
    network = FIDInceptionV3()
    load_state_dict_strict(network, state, source=f"{weights} (the FID Inception network)")
    return network.eval().requires_grad_(False).to(device)


@torch.no_grad()
def statistics_of_batches(network: FIDInceptionV3, batches: Iterable[torch.Tensor], *, dims: int = 2048,
                          count: int | None = None, desc: str = "FID features", progress: bool = False,
                          moments: FeatureMoments | None = None) -> FeatureMoments:
    """Inception feature moments of image batches.

    Args:
        network: the FID Inception (eval mode), on the device the batches are moved to.
        batches: (B, C, H, W) in [0, 1], C = 3 (RGB) or 1 (grey, repeated to RGB as NVAE's FID does).
        dims: feature size (:data:`~zoo.measure.inception.FEATURE_DIMS`).
        count: images expected (the progress bar's total).
        moments: add to these instead of new ones.
    """
    if dims not in FEATURE_DIMS:
        raise ValueError(f"--dims must be one of {', '.join(map(str, FEATURE_DIMS))}, got {dims}")
    device = next(network.parameters()).device
    if moments is None:  # float64 sums on the network's device, on the CPU where it has no float64 (MPS)
        moments = FeatureMoments.zeros(dims, device if device.type != "mps" else "cpu")
    with tqdm(total=count, desc=desc, unit="image", disable=None if progress else True) as bar:
        for batch in batches:
            images = batch.to(device, torch.float32)
            if images.ndim != 4 or images.shape[1] not in (1, 3):
                raise ValueError(f"{desc}: images must be (B, 1 or 3, H, W), got {tuple(images.shape)}")
            if images.shape[1] == 1:
                images = images.expand(-1, 3, -1, -1)
            moments.add(network.features(images, dims))
            bar.update(images.shape[0])
    return moments


def folder_images(folder: str | os.PathLike) -> list[Path]:
    """The images pytorch-fid reads from ``folder``: files ending in :data:`IMAGE_EXTENSIONS`, not in sub-folders, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder of images")
    files = sorted(p for p in folder.iterdir() if p.suffix[1:] in IMAGE_EXTENSIONS and p.is_file())
    if len(files) < 2:
        raise ValueError(f"{folder}: FID needs at least 2 images ({', '.join('.' + e for e in IMAGE_EXTENSIONS)}), "
                         f"found {len(files)}")
    return files


def _read_image(path: Path) -> torch.Tensor:
    """(3, H, W) float32 in [0, 1]: the file decoded to RGB and divided by 255 (torchvision's ToTensor)."""
    try:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ValueError(f"{path}: cannot decode image ({error})") from None
    return torch.from_numpy(rgb.copy()).permute(2, 0, 1).float().div(255)


def image_batches_of_folder(files: list[Path], batch_size: int) -> Iterator[torch.Tensor]:
    """Batches of up to ``batch_size`` consecutive images of one size; a new size starts a new batch
    (each image is resized to 299 on its own, so the grouping changes no feature)."""
    batch: list[torch.Tensor] = []
    for path in files:
        image = _read_image(path)
        if batch and (len(batch) == batch_size or image.shape != batch[0].shape):
            yield torch.stack(batch)
            batch = []
        batch.append(image)
    if batch:
        yield torch.stack(batch)


def statistics_of_folder(network: FIDInceptionV3, folder: str | os.PathLike, *, batch_size: int = 50,
                         dims: int = 2048, progress: bool = False) -> FIDStatistics:
    """Inception statistics of the images in ``folder`` (:func:`folder_images`)."""
    files = folder_images(folder)
    moments = statistics_of_batches(network, image_batches_of_folder(files, batch_size), dims=dims, count=len(files),
                                    desc=str(folder), progress=progress)
    return moments.statistics()

