"""FlyingChairs (Dosovitskiy et al. 2015) in its release layout, with the official train/val split."""

from __future__ import annotations

from pathlib import Path

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    check_numbered,
    layout_error,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import POOLED, DataSource, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["FlyingChairs"]


CHAIRS_LAYOUT = """\
  data/00001_img1.ppm, data/00001_img2.ppm, data/00001_flow.flo, ... (22,872 pairs)
  FlyingChairs_train_val.txt   (one line per pair: 1 = train, 2 = validation)"""
CHAIRS_SOURCE = "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs.en.html"


class FlyingChairs(FlowDataset):
    """FlyingChairs (Dosovitskiy et al. 2015): 22,872 pairs of 384x512, ``.ppm`` frames and ``.flo`` flow.

    Args:
        root: the unpacked ``FlyingChairs_release`` folder.
        split: ``"train"`` (22,232 pairs) or ``"val"`` (640) by the official
            ``FlyingChairs_train_val.txt``, or ``"all"``.
    """

    name = "chairs"

    def __init__(self, root: PathLike, split: str = "train", transform: Transform | None = None) -> None:
        if split not in ("train", "val", "all"):
            raise ValueError(f"FlyingChairs split must be 'train', 'val' or 'all', got {split!r}")
        root = Path(root)
        data = require(root / "data", "FlyingChairs", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        flows = numbered(data.glob("*_flow.flo"), r"(\d+)_flow\.flo")
        if not flows:
            raise none_found(data, "FlyingChairs", "*_flow.flo files", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        split_file = root / "FlyingChairs_train_val.txt"
        if split != "all":
            require(split_file, "FlyingChairs", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        labels = _split_labels(split_file) if split_file.is_file() else None
        # pairs are numbered from 1: line n of the split file labels pair n, whatever else is on disk
        count = len(labels) if labels is not None else max(flows)
        problem = (f"{split_file} lists {count:,} pairs but {data} holds {len(flows):,} flow files"
                   if labels is not None else f"{data} numbers its pairs from 1 to {count:,}")
        check_numbered(flows, range(1, count + 1), lambda n: data / f"{n:05d}_flow.flo", "FlyingChairs",
                       CHAIRS_LAYOUT, CHAIRS_SOURCE, problem=problem)
        numbers = sorted(flows)
        if split != "all":
            wanted = "1" if split == "train" else "2"
            numbers = [n for n in numbers if labels[n - 1] == wanted]
        samples = [
            FlowSample(data / f"{n:05d}_img1.ppm", data / f"{n:05d}_img2.ppm", flows[n], "chairs", n) for n in numbers
        ]
        check_complete(samples, "FlyingChairs", CHAIRS_LAYOUT, CHAIRS_SOURCE)
        super().__init__(samples, transform)


def _split_labels(split_file: Path) -> list[str]:
    """The labels of ``FlyingChairs_train_val.txt``, one per pair in pair order: ``1`` (train) or
    ``2`` (validation); :class:`DatasetNotFoundError` for another value."""
    labels = split_file.read_text().split()
    wrong = next(((line, label) for line, label in enumerate(labels, 1) if label not in ("1", "2")), None)
    if wrong is not None:
        raise layout_error("FlyingChairs", f"{split_file} line {wrong[0]}: {wrong[1]!r} is no split label (1 = train, "
                           f"2 = validation)", CHAIRS_LAYOUT, CHAIRS_SOURCE)
    return labels


declare(FlowFamily(
    "chairs", "FlyingChairs_release",
    names={"chairs": FlowName(
        lambda root, training, options: [FlyingChairs(root, "train" if training else "val", **options)],
        "FlyingChairs official train split (22,232)", "official val split (640)", FlowProtocol("chairs-val", POOLED))},
    source=DataSource(
        urls=("https://lmb.informatik.uni-freiburg.de/data/FlyingChairs/FlyingChairs.zip",),
        sha256=None,
        prefix="FlyingChairs_release/",
        extra=((
            "https://lmb.informatik.uni-freiburg.de/resources/datasets/FlyingChairs/FlyingChairs_train_val.txt",
            None,
            "FlyingChairs_train_val.txt",
        ),),
        present="FlyingChairs_train_val.txt",
    ),
))
