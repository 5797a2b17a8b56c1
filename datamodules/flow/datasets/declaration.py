"""How a flow dataset declares itself, once, in its own module.

A dataset module ends with one :func:`declare` call: its family (the key of ``roots=`` and of
``ZOO_DATA_<FAMILY>``), the default folder under ``data_dir``, its public archive if it has one, and
the composition names it answers to, each with the sets it stands for and, where the set has
ground truth to evaluate on, the benchmark's protocol. :class:`~zoo.datamodules.flow.datamodule.FlowDataModule`,
``zoo eval --data`` and the docs read :data:`FAMILIES`; importing the module (one line in
``datamodules/flow/datasets/__init__.py``) is all it takes to make a new dataset known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

__all__ = [
    "FAMILIES",
    "OCCLUSION_SPLIT",
    "POOLED",
    "WAUC",
    "Builder",
    "DataSource",
    "FlowFamily",
    "FlowName",
    "FlowProtocol",
    "composition_names",
    "declare",
    "family_of",
    "flow_name",
    "names_table",
]

#: ``build(root, training, options) -> datasets``: the training set (``training=True``) or the
#: validation set of a name, read from the family's ``root``; ``options`` are extra keyword
#: arguments of the dataset class (``FlowDataModule(dataset_options={family: ...})``).
Builder = Callable[[Path, bool, dict], list[Dataset]]


@dataclass(frozen=True)
class FlowProtocol:
    """A flow benchmark's evaluation: the record key of its published figures and ``(metric, average)``
    pairs, ``average`` as :mod:`zoo.datamodules.flow.metrics` defines it (``"pixel"``: one mean over
    every valid pixel of the set, ``"image"``: per image first). Metric names: ``epe``, ``epe-occ``,
    ``epe-non-occ`` (px), ``aae`` (degrees), ``fl-all``, ``1px``, ``wauc`` (%)."""

    key: str
    metrics: tuple[tuple[str, str], ...]


WAUC = ("wauc", "image")
#: EPE pooled over every valid pixel, and WAUC: the protocol of sets without a benchmark of their own.
POOLED = (("epe", "pixel"), WAUC)
#: EPE pooled over every valid pixel, over the occluded and the non-occluded ones (Sintel's "unmatched"
#: and "matched"), and WAUC: sets with occlusion maps (Sintel, FlyingChairs2, the FlyingThings3D subset).
OCCLUSION_SPLIT = (("epe", "pixel"), ("epe-occ", "pixel"), ("epe-non-occ", "pixel"), WAUC)


@dataclass(frozen=True)
class DataSource:
    """A public archive of a dataset.

    ``urls``: mirrors tried in order; ``sha256``: the archive's hash, None where the publisher
    gives none (the cache then records the hash of the first download and verifies later copies
    against it); ``prefix``: the folder inside the archive that becomes the dataset root;
    ``extra``: further (url, sha256, file name) downloads placed in the root; ``present``: a path
    in the root whose existence means the data is already there (unpacked by hand, say).
    """

    urls: tuple[str, ...]
    sha256: str | None
    prefix: str = ""
    extra: tuple[tuple[str, str | None, str], ...] = ()
    present: str = ".complete"


@dataclass(frozen=True)
class FlowName:
    """A name of ``FlowDataModule`` compositions: how to build it and, for the docs, what its
    training and validation sets are; ``protocol`` where ``zoo eval --data <name>`` measures it."""

    build: Builder
    training_set: str
    validation_set: str
    protocol: FlowProtocol | None = None


@dataclass(frozen=True)
class FlowFamily:
    """A dataset family: the names sharing one root.

    ``family`` keys ``roots=`` and names ``ZOO_DATA_<FAMILY>`` (upper case, ``-`` removed);
    ``folder`` is the root's default name under ``data_dir``; ``source`` its public archive
    (``FlowDataModule(download=True)``), None where the data needs a registration or has none.
    """

    family: str
    folder: str
    names: Mapping[str, FlowName]
    source: DataSource | None = None

    @property
    def variable(self) -> str:
        """The environment variable of the family's root, e.g. ``ZOO_DATA_KITTI2015``."""
        return f"ZOO_DATA_{self.family.upper().replace('-', '')}"


#: family -> its declaration, in the order the modules were imported.
FAMILIES: dict[str, FlowFamily] = {}


def declare(family: FlowFamily) -> FlowFamily:
    """Make ``family`` and its names known; a name or family declared twice is an error."""
    taken = {name: other.family for other in FAMILIES.values() for name in other.names}
    clashes = sorted(name for name in family.names if name in taken or name == "synthetic")
    if family.family in FAMILIES or clashes:
        raise ValueError(f"flow dataset family {family.family!r}: family or names {clashes} are declared already")
    FAMILIES[family.family] = family
    return family


def composition_names() -> tuple[str, ...]:
    """Every declared name, then ``synthetic`` (which needs no data)."""
    return (*(name for family in FAMILIES.values() for name in family.names), "synthetic")


def family_of(name: str) -> FlowFamily:
    """The family that declares composition name ``name``."""
    for family in FAMILIES.values():
        if name in family.names:
            return family
    raise ValueError(f"unknown flow dataset {name!r}; known: {', '.join(composition_names())}")


def flow_name(name: str) -> FlowName:
    """The declaration of composition name ``name``."""
    return family_of(name).names[name]


def names_table() -> str:
    """The Markdown table README.md shows (``python -m zoo.datamodules.flow.datasets`` prints it) of every name: family (root key), default folder, training and validation
    sets, and whether ``zoo eval`` measures it (its record key)."""
    lines = ["| name | family (`roots=` key) | default folder | training set | validation set | `zoo eval` key |",
             "|---|---|---|---|---|---|"]
    for family in FAMILIES.values():
        for name, entry in family.names.items():
            key = f"`{entry.protocol.key}`" if entry.protocol else "-"
            lines.append(f"| `{name}` | `{family.family}` | `{family.folder}` | {entry.training_set} | "
                         f"{entry.validation_set} | {key} |")
    return "\n".join(lines)
