"""The zoo's weights measured with each benchmark's published protocol, beside the published figure.

Optical flow (:func:`evaluate_flow`, protocols from :func:`flow_protocols`: those the dataset modules
declare, and the synthetic set's): every pair of the set at
full resolution (PWC-Net resizes to multiples of 64 inside and back, as the official script),
compared with the ground truth over the pixels ``valid`` marks, with the metrics of
:mod:`zoo.datamodules.flow.metrics`. Rows (metric names and units):

- ``epe`` (px): the end-point error, pooled or per image as the set's protocol says below;
- ``aae`` (degrees, Middlebury only): the angle between the vectors ``(u, v, 1)`` of the estimate and
  the ground truth (:class:`~zoo.datamodules.flow.metrics.AngularError`);
- ``epe-occ``, ``epe-non-occ`` (px, Sintel only): the EPE pooled over the valid pixels of frame 1
  that the release's occlusion maps (``training/occlusions``) mark occluded in frame 2, and over
  the others: Sintel's "unmatched" and "matched" EPE. ptlflow averages these per image instead,
  so its occluded / non-occluded figures are not directly comparable (the whole-frame Sintel EPE
  is the same either way where every pixel is valid: all frames have the same size). A tree without ``training/occlusions`` (the
  clean / final / flow part of the download only) gives no such rows and a one-line notice;
- ``wauc`` (%, higher is better, every set): Spring's weighted area under the accuracy curve for
  thresholds 0.05 .. 5 px (:class:`~zoo.datamodules.flow.metrics.WeightedAreaUnderCurve`), per image
  over its valid pixels, then averaged over the images, as ptlflow reports it (Spring: pooled, below);
- ``fl-all`` (%, KITTI 2015, Spring): see below;
- ``1px`` (%, Spring): the share of valid pixels whose EPE exceeds 1 px.

Sets (each declared, with its protocol, by its dataset module: :mod:`zoo.datamodules.flow.datasets`):

- ``sintel-clean``, ``sintel-final``: MPI-Sintel training, EPE over every pixel of every frame
  (one pooled mean) except the pixels of the release's invalid-pixel maps
  (``training/invalid``, which :class:`~zoo.datamodules.flow.datasets.Sintel` leaves out of ``valid``),
  and the same over its occluded and non-occluded pixels;
- ``kitti-2015``, ``kitti-2012``: training, ``flow_occ`` (every pixel with ground truth). EPE over
  each image's valid pixels, averaged over the images (how the PWC-Net paper and most others give
  KITTI train EPE); for 2015 also Fl-all, the percentage of valid pixels whose EPE exceeds both
  3 px and 5 % of the true flow's length, pooled over the set as the KITTI devkit does;
- ``spring``: Spring's held-out training scenes, scored as the Spring benchmark scores its test
  split against the 2x ground truth (:mod:`zoo.datamodules.flow.datasets.spring` says how): EPE,
  1px, Fl-all and WAUC pooled over every scored pixel;
- ``chairs``: FlyingChairs' official validation split (640 pairs), EPE over all pixels;
- ``chairs2``, ``things-subset[-clean|-final]``: FlyingChairs2's val split (forward) and the
  FlyingThings3D subset's val split (future), EPE pooled over all pixels and over the occluded and
  non-occluded ones of the release's occlusion maps, as Sintel's;
- ``middlebury``: the 8 ``other`` sequences with ground truth, EPE and ``aae`` (degrees, the average
  angular error of Baker et al. IJCV 2011) over each sequence's pixels with known flow, averaged over
  the sequences, as Middlebury reports per sequence;
- ``tartanair``, ``autoflow``, ``vkitti2``, ``viper`` (val), ``kubric``, ``monkaa``, ``driving``: EPE
  pooled over the valid pixels and WAUC (no benchmark protocol of their own);
- ``synthetic``: :class:`~zoo.datamodules.flow.synthetic.SyntheticFlow` pairs of the held-out seed 2
  (pwcnet.synth trained on seed 0 and selected on seed 1), written as an MPI-Sintel tree
  (8-bit PNG frames, ``.flo`` flow) in a temporary folder and read back by the Sintel reader, so
  they take exactly the path of the real datasets (the tree has no occlusion maps, and the
  protocol no occlusion rows).

NVAE (:func:`evaluate_nll`, datasets from :func:`image_protocols`: those the image datamodules declare), as NVlabs/NVAE's
``evaluate.py --eval_mode=evaluate``: batch norm in eval mode (running statistics, no
readjustment), the images quantised as the training pipeline, the importance-weighted bound on
``-log p(x)`` with K samples (:meth:`zoo.models.nvae.network.NVAE.log_likelihood`) for every image of
the evaluation split, averaged over images (the official ``AvgrageMeter`` weighs each batch by its
size). Splits as the official loaders: MNIST (dynamically binarised, 32x32) and CIFAR-10 test;
CelebA 64 the validation partition; CelebA-HQ 256 and FFHQ 256 the held-out split. Units: nats per
image for MNIST, bits per dimension otherwise. The official script prints only the mean; we add
its standard error over images (sample standard deviation / sqrt(N)), which covers the spread of
the images, of the binarisation and of the K-sample estimate.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from zoo.datamodules.flow.datasets.declaration import FAMILIES, POOLED, FlowProtocol
from zoo.datamodules.flow.metrics import (
    AngularError,
    EndPointError,
    FlAll,
    OutlierRate,
    WeightedAreaUnderCurve,
    occlusion_split,
)
from zoo.datamodules.images.datasets import IMAGE_SETS
from zoo.datamodules.images.declaration import ImageProtocol

__all__ = [
    "HELD_OUT_SEED",
    "METRIC_UNITS",
    "EvalRow",
    "FlowProtocol",
    "ImageProtocol",
    "evaluate_flow",
    "evaluate_nll",
    "flow_protocol",
    "flow_protocols",
    "image_batches",
    "image_protocols",
    "open_flow_dataset",
    "published_figure",
    "record_measured",
    "with_published",
]

#: SyntheticFlow seed that no zoo weights trained or were selected on.
HELD_OUT_SEED = 2

#: The unit of each row's metric, as the table shows it.
METRIC_UNITS = {"epe": "px", "aae": "deg", "epe-occ": "px", "epe-non-occ": "px", "fl-all": "%", "1px": "%", "wauc": "%",
                "nll_nats": "nats", "bpd": "bits/dim", "fid": "-"}


@dataclass(frozen=True)
class EvalRow:
    """One measured figure.

    Attributes:
        dataset: what was evaluated, e.g. ``sintel-clean-train`` (``-first-N`` when ``--limit``
            cut the set short).
        metric: ``epe``, ``epe-occ``, ``epe-non-occ`` (px), ``fl-all``, ``wauc`` (%), ``nll_nats``
            (nats per image) or ``bpd`` (bits/dim); :attr:`unit` names the unit.
        value: our figure.
        count: frame pairs or images evaluated.
        reference: the record key of the published figure for the whole set (``sintel-clean-train``).
        sequence: the scene of a per-sequence row (None: the whole set).
        stderr: standard error of ``value`` (NLL only).
        num_samples: importance samples K (NLL only).
        published: the weight record's figure, and ``published_as`` its record key and metric.
    """

    dataset: str
    metric: str
    value: float
    count: int
    reference: str
    sequence: str | None = None
    stderr: float | None = None
    num_samples: int | None = None
    published: float | None = None
    published_as: str | None = None

    @property
    def unit(self) -> str | None:
        """The metric's unit (:data:`METRIC_UNITS`; None for a metric it does not know)."""
        return METRIC_UNITS.get(self.metric)

    def as_dict(self) -> dict[str, Any]:
        """The table row: every field, ``unit`` and ``diff`` = ours - published (None without a published figure)."""
        diff = None if self.published is None else self.value - self.published
        return {"dataset": self.dataset, "sequence": self.sequence, "metric": self.metric, "unit": self.unit,
                "ours": self.value,
                "stderr": self.stderr, "num_samples": self.num_samples, "published": self.published,
                "diff": diff, "published_as": self.published_as, "count": self.count}


# --- optical flow -----------------------------------------------------------------------------


#: The held-out synthetic set's protocol; its key is filled in by :func:`flow_protocol`.
SYNTHETIC_PROTOCOL = FlowProtocol("synthetic{recipe}-seed{seed}-{height}x{width}", POOLED)


def flow_protocols() -> dict[str, FlowProtocol]:
    """``zoo eval --data`` name -> protocol: every name a dataset module declares with one, and ``synthetic``."""
    declared = {name: entry.protocol for family in FAMILIES.values() for name, entry in family.names.items()
                if entry.protocol is not None}
    return {**declared, "synthetic": SYNTHETIC_PROTOCOL}


#: Row metric -> (metric class, pixels it is measured over: None = all valid, or a region of the
#: dataset's occlusion maps, "occ" / "non-occ").
_FLOW_METRICS = {"epe": (EndPointError, None), "aae": (AngularError, None), "epe-occ": (EndPointError, "occ"),
                 "epe-non-occ": (EndPointError, "non-occ"), "fl-all": (FlAll, None), "1px": (OutlierRate, None),
                 "wauc": (WeightedAreaUnderCurve, None)}


def flow_protocol(name: str, synthetic_size: tuple[int, int] = (192, 256), synthetic_recipe: str = "v1") -> FlowProtocol:
    """The protocol of dataset ``name`` (a key of :func:`flow_protocols`); the synthetic set's key
    names its size and, for recipes other than v1 (the one the first figures were measured on), the recipe."""
    protocols = flow_protocols()
    if name not in protocols:
        raise ValueError(f"no flow evaluation protocol for {name!r}; known: {', '.join(protocols)}")
    protocol = protocols[name]
    height, width = synthetic_size
    recipe = "" if synthetic_recipe == "v1" else f"-{synthetic_recipe}"
    return replace(protocol, key=protocol.key.format(seed=HELD_OUT_SEED, height=height, width=width, recipe=recipe))


@contextlib.contextmanager
def open_flow_dataset(name: str, data_dir: str | None, *, synthetic_size: tuple[int, int] = (192, 256),
                      synthetic_pairs: int = 64, synthetic_recipe: str = "v1") -> Iterator[Dataset]:
    """The evaluation set of flow dataset ``name`` (see the module docstring), open while in the block.

    Real sets are read from their published layouts under ``data_dir`` by
    :class:`~zoo.datamodules.flow.datamodule.FlowDataModule` (its folder names and ``ZOO_DATA_*``
    variables); ``synthetic`` renders ``synthetic_pairs`` pairs of ``synthetic_size`` (H, W) of the
    generator's ``synthetic_recipe`` into a temporary MPI-Sintel tree that is removed afterwards.
    """
    from zoo.datamodules.flow.datamodule import FlowDataModule
    from zoo.datamodules.flow.datasets import Sintel
    from zoo.datamodules.flow.layouts import write_sintel
    from zoo.datamodules.flow.synthetic import SyntheticFlow

    flow_protocol(name)
    if name != "synthetic":
        datamodule = FlowDataModule(val=name, data_dir=data_dir, num_workers=0)
        datamodule.setup("validate")
        yield datamodule.val_datasets[0]
        return
    with tempfile.TemporaryDirectory(prefix="zoo-eval-synthetic-") as root:
        write_sintel(SyntheticFlow(synthetic_size, synthetic_pairs, seed=HELD_OUT_SEED, recipe=synthetic_recipe), root)
        yield Sintel(root, "training", "clean")


def evaluate_flow(predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], dataset: Dataset,
                  protocol: FlowProtocol, *, limit: int | None = None, per_sequence: bool = False,
                  progress: bool = False) -> list[EvalRow]:
    """The protocol's metrics of ``predict`` over the first ``limit`` pairs of ``dataset`` (all: None).

    Args:
        predict: ``(image1, image2)`` (1, 3, H, W) RGB in [0, 1] -> (1, 2, H, W) flow in pixels,
            e.g. ``functools.partial(zoo.models.flow_inference.estimate_flow, network)``.
        dataset: items with ``image1``, ``image2``, ``flow``, ``valid`` and ``meta["sequence"]``,
            as the flow datasets give them, and ``flow_blocks`` (K, 2, H, W) where the ground truth
            has K values per pixel (Spring's, scored as its benchmark does); for the occlusion rows also ``occlusion(index)``, bool
            (H, W), and ``has_occlusions`` (as :class:`~zoo.datamodules.flow.datasets.Sintel`). Without
            them the occlusion rows are left out, with a one-line notice on stderr.
        protocol: the metrics and record key (:func:`flow_protocol`).
        per_sequence: also one row per metric and sequence (scene), after the whole-set rows.
        progress: a progress bar on stderr when it is a terminal.

    Returns:
        Rows for the whole set (``sequence`` None), then per sequence in order of appearance.
    """
    count = len(dataset) if limit is None else min(limit, len(dataset))
    if count < 1:
        raise ValueError(f"{protocol.key}: nothing to evaluate (limit {limit}, {len(dataset)} pairs)")
    protocol = _without_missing_regions(protocol, dataset)
    with_regions = any(_FLOW_METRICS[name][1] for name, _ in protocol.metrics)
    groups: dict[str | None, dict[str, Any]] = {}
    for index in tqdm(range(count), desc=protocol.key, unit="pair", disable=None if progress else True):
        item = dataset[index]
        pred = predict(item["image1"][None], item["image2"][None]).float().cpu()
        target, valid = item.get("flow_blocks", item["flow"])[None], item["valid"][None]
        masks = {None: valid}
        if with_regions:
            masks["occ"], masks["non-occ"] = occlusion_split(valid, torch.from_numpy(dataset.occlusion(index))[None])
        for group in (None, item["meta"]["sequence"]) if per_sequence else (None,):
            metrics = groups.setdefault(group, {"count": 0, "metrics": _flow_metrics(protocol)})
            metrics["count"] += 1
            for name, metric in metrics["metrics"].items():
                metric.update(pred, target, masks[_FLOW_METRICS[name][1]])
    dataset_name = protocol.key if count == len(dataset) else f"{protocol.key}-first-{count}"
    return [EvalRow(dataset_name, name, float(metric.compute()), group["count"], protocol.key, sequence=sequence)
            for sequence, group in groups.items() for name, metric in group["metrics"].items()]


def _flow_metrics(protocol: FlowProtocol) -> dict[str, Any]:
    return {name: _FLOW_METRICS[name][0](average=average) for name, average in protocol.metrics}


def _without_missing_regions(protocol: FlowProtocol, dataset: Dataset) -> FlowProtocol:
    """``protocol`` without its occlusion rows when ``dataset`` has no occlusion maps (notice on stderr)."""
    regional = [name for name, _ in protocol.metrics if _FLOW_METRICS[name][1]]
    if not regional or getattr(dataset, "has_occlusions", False):
        return protocol
    where = getattr(dataset, "occlusion_root", None)
    print(f"zoo eval: {protocol.key}: no occlusion maps{f' ({where} is missing)' if where else ''}, "
          f"so no {', '.join(regional)} rows", file=sys.stderr)
    return replace(protocol, metrics=tuple(m for m in protocol.metrics if m[0] not in regional))


# --- NVAE negative log-likelihood -------------------------------------------------------------


def image_protocols() -> dict[str, ImageProtocol]:
    """``zoo eval --data`` name -> NVAE protocol, for every image set a datamodule declares."""
    return {name: datamodule.declared.protocol for name, datamodule in IMAGE_SETS.items()}


def image_batches(name: str, data_dir: str, *, batch_size: int = 100, limit: int | None = None,
                  cache_dir: str | None = None) -> tuple[ImageProtocol, DataLoader, int, int]:
    """The evaluation split of image set ``name`` as batches (B, C, H, W) float in [0, 1].

    The datamodule decodes the set once into its uint8 cache (``cache_dir``, default the zoo
    cache); random transforms (MNIST's dynamic binarisation) draw from torch's global generator.

    Returns:
        ``(protocol, loader, images in the loader, images in the split)``; the loader yields
        ``(images, labels)``.
    """
    if name not in IMAGE_SETS:
        raise ValueError(f"no NLL evaluation protocol for {name!r}; known: {', '.join(IMAGE_SETS)}")
    protocol = IMAGE_SETS[name].declared.protocol
    datamodule = IMAGE_SETS[name](data_dir, batch_size=batch_size, num_workers=0, cache_dir=cache_dir,
                                  **protocol.options)
    datamodule.prepare_data()
    datamodule.setup("test")
    split = datamodule.datasets[protocol.split]
    count = len(split) if limit is None else min(limit, len(split))
    subset = split if count == len(split) else Subset(split, range(count))
    return protocol, DataLoader(subset, batch_size=batch_size, shuffle=False), count, len(split)


def evaluate_nll(network: Any, batches: Iterable[Any], protocol: ImageProtocol, *, num_samples: int, count: int,
                 full_count: int | None = None, generator: torch.Generator | None = None,
                 progress: bool = False) -> list[EvalRow]:
    """Importance-weighted NLL of ``network`` (an NVAE) over ``batches``, one row.

    Args:
        network: has ``quantize``, ``log_likelihood(x, num_samples, generator=)`` (``(B,)`` nats)
            and ``bits_per_dim``; put in eval mode here.
        batches: ``images`` (B, C, S, S) in [0, 1] or ``(images, labels)`` pairs, ``count`` images in all.
        protocol: the set's names and unit (:func:`image_protocols`).
        num_samples: importance samples K per image.
        full_count: images in the whole split (the row is named ``-first-N`` when ``count`` is less).
        generator: draws the posterior samples.

    Returns:
        ``[EvalRow]``: ``nll_nats`` (nats per image) or ``bpd``, mean over images with its standard error.
    """
    network.eval()
    device = next(network.parameters()).device
    values = []
    for batch in tqdm(batches, desc=protocol.key, unit="batch", disable=None if progress else True):
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        x = network.quantize(images.to(device))
        values.append(-network.log_likelihood(x, num_samples, generator=generator).double().cpu())
    nll = torch.cat(values)
    if len(nll) != count:
        raise ValueError(f"{protocol.key}: expected {count} images, the batches held {len(nll)}")
    metric = "nll_nats" if protocol.unit == "nats" else "bpd"
    if metric == "bpd":
        nll = network.bits_per_dim(nll)
    stderr = float(nll.std(unbiased=True)) / math.sqrt(count) if count > 1 else None
    name = protocol.key if full_count in (None, count) else f"{protocol.key}-first-{count}"
    return [EvalRow(name, metric, float(nll.mean()), count, protocol.reference, stderr=stderr,
                    num_samples=num_samples)]


# --- published and recorded figures -----------------------------------------------------------


def published_figure(metrics: Mapping[str, Mapping[str, float]], row: EvalRow) -> tuple[float, str] | None:
    """The record's figure comparable with ``row``, and ``"<record key>: <metric>"``; None if none.

    Record keys are tried in this order: the row's dataset (``mnist-test-first-1000`` where the
    record has a figure for that subset), then its reference (the whole set); a key may carry a
    parenthesised note (``"synthetic-seed2-192x256 (64 pairs, ...)"``). Metric names: with K
    importance samples ``<metric>_k<K>`` first, then ``<metric>``, then ``<metric>_k*`` of any K.
    """
    if row.sequence is not None:
        return None
    for dataset in dict.fromkeys((row.dataset, row.reference)):
        for record_key, values in metrics.items():
            if record_key != dataset and not record_key.startswith(dataset + " ("):
                continue
            names = [f"{row.metric}_k{row.num_samples}"] if row.num_samples else []
            names += [row.metric] + sorted(n for n in values if n.startswith(f"{row.metric}_k")
                                           and n[len(row.metric) + 2:].isdigit())
            for name in names:
                if name in values:
                    return float(values[name]), f"{record_key}: {name}"
    return None


def with_published(rows: Iterable[EvalRow], metrics: Mapping[str, Mapping[str, float]]) -> list[EvalRow]:
    """``rows`` with ``published`` / ``published_as`` filled from a weight record's ``metrics``."""
    out = []
    for row in rows:
        found = published_figure(metrics, row)
        out.append(row if found is None else replace(row, published=found[0], published_as=found[1]))
    return out


def record_measured(name: str, weights_path: str | Path, rows: Iterable[EvalRow], command: str,
                    store: str | Path | None = None) -> Path:
    """Keep the whole-set figures of ``rows`` as the measured figures of bundled weights ``name``.

    They go to :mod:`zoo.catalog.measured` (``store``: another file), keyed by the SHA-256 of
    ``weights_path``, with ``command`` and the sample counts as their source; NLL metrics are
    stored as ``<metric>_k<K>`` and their standard error as ``<metric>_k<K>_stderr``.
    """
    from zoo.catalog import measured

    sha256 = hashlib.sha256(Path(weights_path).read_bytes()).hexdigest()
    figures: dict[str, dict[str, float]] = {}
    counts: dict[str, str] = {}
    for row in rows:
        if row.sequence is None:
            metric = f"{row.metric}_k{row.num_samples}" if row.num_samples else row.metric
            figures.setdefault(row.dataset, {})[metric] = round(row.value, 4)
            if row.stderr is not None:
                figures[row.dataset][f"{metric}_stderr"] = round(row.stderr, 4)
            counted = "images" if row.num_samples else "samples" if row.metric == "fid" else "pairs"
            counts[row.dataset] = f"{command} ({row.count:,} {counted}; weights sha256 {sha256[:12]})"
    return measured.record(name, sha256, figures, counts, store)
