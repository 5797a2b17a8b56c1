"""NVAE measured by FID as NVlabs/NVAE's ``evaluate.py --eval_mode=evaluate_fid`` measures it.

Samples (:func:`nvae_fid_samples`), as the official ``create_generator_vae``: batches drawn from the
prior at temperature 1.0, the image being the mean of the decoder's output distribution (Bernoulli
probabilities; the logistic mixture's mean, not a draw), in [0, 1]; batch norm in eval mode, or with
its statistics first re-estimated from samples (``--readjust-bn``, off by default as the official flag).
50,000 samples by default. Their pytorch-fid statistics are compared with the reference statistics: a
``.npz`` (what NVAE's ``scripts/precompute_fid_statistics.py`` or pytorch-fid wrote) or those of the
dataset's training images (:func:`training_statistics`, cached).

Several processes (a ``torch.distributed`` group, e.g. under ``torchrun``): each draws its share of the
samples with its own generator and the feature moments are summed over processes before the mean and
covariance are formed, so the figure is that of all samples together. The official code instead averages
each process's mean and covariance, which is not the covariance of the pooled samples (it leaves out the
spread between the processes' means, and gives each process an ``N - 1`` of its own).
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from zoo.datamodules.files.cache import cache_root
from zoo.datamodules.images.cache import CachedImages
from zoo.datamodules.images.datasets import IMAGE_SETS
from zoo.measure.evaluation import EvalRow
from zoo.measure.fid import FeatureMoments, FIDStatistics, frechet_distance, statistics_of_batches
from zoo.measure.inception import FIDInceptionV3

__all__ = ["FID_SAMPLES", "FID_TEMPERATURE", "TRAINING_STATISTICS_IMAGES", "evaluate_fid", "nvae_fid_samples",
           "pool_moments", "rank_share", "training_statistics"]

FID_SAMPLES = 50_000
FID_TEMPERATURE = 1.0  # test_vae_fid samples at 1.0 whatever --temp says
TRAINING_STATISTICS_IMAGES = 50_000  # precompute_fid_statistics.py's --max_samples default


def rank_share(total: int) -> tuple[int, int]:
    """``(rank, samples of this process)``: ``total`` split as evenly as possible over the process group."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 0, total
    rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    return rank, total // world + (rank < total % world)


def pool_moments(moments: FeatureMoments) -> FeatureMoments:
    """The feature moments of every process of the group, summed (this process's alone without a group)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return moments
    packed = torch.cat([torch.tensor([float(moments.count)], dtype=torch.float64, device=moments.total.device),
                        moments.total, moments.outer.flatten()])
    torch.distributed.all_reduce(packed)
    dims = len(moments.total)
    return FeatureMoments(int(round(float(packed[0]))), packed[1:dims + 1], packed[dims + 1:].view(dims, dims))


@torch.no_grad()
def nvae_fid_samples(network: Any, count: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """``count`` samples (B, C, S, S) in [0, 1] in batches: the output distribution's mean at temperature 1."""
    for start in range(0, count, batch_size):
        logits = network.sample_logits(min(batch_size, count - start), FID_TEMPERATURE, generator=generator)
        yield network.output_distribution(logits).mean().float()


def evaluate_fid(network: Any, reference: FIDStatistics, inception: FIDInceptionV3, *, reference_name: str,
                 num_samples: int = FID_SAMPLES, batch_size: int = 100, generator: torch.Generator | None = None,
                 readjust_bn: bool = False, readjust_seed: int = 0, progress: bool = False) -> list[EvalRow]:
    """FID of ``network``'s samples against ``reference``: one row, metric ``fid``.

    Args:
        network: an NVAE (``sample_logits``, ``output_distribution``, ``readjust_bn``); left in eval mode.
        reference: statistics of the real images, of ``inception``'s feature size.
        reference_name: the row's dataset (``<set>-train`` or the statistics file's name).
        num_samples: samples over all processes.
        generator: draws this process's samples (each process its own).
        readjust_bn: re-estimate batch-norm statistics from samples at temperature 1 first, drawn with
            ``readjust_seed``: the same on every process, so that all sample from the same network.
    """
    if num_samples < 2:
        raise ValueError(f"FID needs at least 2 samples, got {num_samples}")
    network.eval()
    if readjust_bn:
        device = next(network.parameters()).device
        network.readjust_bn(temperature=FID_TEMPERATURE, generator=torch.Generator(device).manual_seed(readjust_seed))
    rank, share = rank_share(num_samples)
    samples = nvae_fid_samples(network, share, batch_size, generator)
    moments = statistics_of_batches(inception, samples, dims=reference.dims, count=share,
                                    desc=f"FID samples (rank {rank})" if rank else "FID samples", progress=progress)
    statistics = pool_moments(moments).statistics()
    return [EvalRow(reference_name, "fid", frechet_distance(statistics, reference), statistics.count, reference_name)]


def training_statistics(name: str, data_dir: str, inception: FIDInceptionV3, *, batch_size: int = 100,
                        max_images: int = TRAINING_STATISTICS_IMAGES, dims: int = 2048,
                        cache_dir: str | None = None, progress: bool = False) -> tuple[FIDStatistics, Path]:
    """Statistics of the first ``max_images`` training images of image set ``name`` (a key of
    :data:`~zoo.datamodules.images.declaration.IMAGE_SETS`), without random transforms (no flip, and MNIST
    not binarised, as NVAE's precompute script says for binary sets); computed once and kept in
    ``<zoo cache>/fid-stats/`` under a key of the dataset's cache, the count and the Inception weights.

    Returns:
        ``(statistics, the .npz they are cached in)``.
    """
    if name not in IMAGE_SETS:
        raise ValueError(f"--fid-dataset: no image set {name!r}; known: {', '.join(IMAGE_SETS)}")
    datamodule = IMAGE_SETS[name](data_dir, batch_size=batch_size, num_workers=0, cache_dir=cache_dir)
    datamodule.prepare_data()
    datamodule.setup("fit")
    train = datamodule.datasets["train"]
    rows = train.indices[:max_images]
    key = hashlib.sha256(f"{train.folder.name}|{len(rows)}|{dims}|".encode())
    for tensor in inception.state_dict().values():  # statistics of other Inception weights are other statistics
        key.update(tensor.cpu().numpy().tobytes())
    key = key.hexdigest()[:16]
    path = cache_root() / "fid-stats" / f"{name}-train-{len(rows)}-{dims}d-{key}.npz"
    if path.is_file():
        return FIDStatistics.load(path), path
    print(f"zoo eval: computing the FID statistics of {len(rows):,} {name} training images once "
          f"(kept in {path})", file=sys.stderr)
    loader = DataLoader(CachedImages(train.folder, rows), batch_size=batch_size, shuffle=False)
    moments = statistics_of_batches(inception, (images for images, _ in loader), dims=dims, count=len(rows),
                                    desc=f"{name} training images", progress=progress)
    statistics = moments.statistics()
    statistics.save(path)
    return statistics, path

