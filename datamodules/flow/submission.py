"""Benchmark submissions: a flow method's results on a test split, in the files each server takes.

Each :class:`Benchmark` reads its test split with the dataset's own reader and names one output
file per pair, under ``<out>/<benchmark name>/``:

- ``sintel``: ``clean/<scene>/frame0001.flo`` ... and ``final/...``: Middlebury ``.flo``, the flow
  from frame N to N + 1 named ``frameNNNN.flo`` (no underscore), the layout the Sintel bundler
  reads (``MPI-Sintel-complete/bundler/README.txt``: 12 test scenes, listed in
  :data:`SINTEL_TEST_SCENES`); 552 pairs per pass. The bundler of the Sintel download then makes
  the ``.lzma`` file to upload.
- ``kitti-2015``: ``flow/000000_10.png`` ... ``000199_10.png``; ``kitti-2012``: ``000000_10.png`` ...
  ``000194_10.png`` at the top: 16-bit PNG, ``u, v = (R, G - 2**15) / 64``, B = 1 (an estimate at
  every pixel). The devkits' readmes: 2015 wants a zip with the folder ``flow`` at its root, 2012 the
  files themselves at its root; ``<out>/kitti-<year>.zip`` is that zip. Flow outside the encodable
  range [-512, 511.984375] px is clipped to it, and the clipped pixels are counted.
- ``spring``: ``<scene>/flow_<FW|BW>_<left|right>/flow_<FW|BW>_<left|right>_NNNN.flo5``, float32
  (1080, 1920, 2) in the HDF5 dataset ``flow``, for the 3,960 flows of :data:`SPRING_TEST_FRAMES`
  (Spring FAQ and the benchmark's ``flow_subsampling.cpp``); the benchmark's ``flow_subsampling``
  tool then makes the ``flow_submission.hdf5`` to upload. The server refuses NaN, so a non-finite
  prediction is an error naming its pair.

Before anything is predicted, the test split on disk is checked against the pairs the server
expects (a missing pair is named). Every file is written atomically; a run that is interrupted
and started again keeps the files already written (recognised by their header and size: a
partial file never has its final name) and writes the rest. At the end every expected file is
checked, and anything missing or malformed is named. The submission folder may not overlap the
dataset root (outputs never land among the inputs).
"""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from zoo.datamodules.files.atomic import atomic_output
from zoo.datamodules.flow.datasets import KITTI, FlowDataset, Sintel, Spring
from zoo.datamodules.flow.datasets.spring import SPRING_TEST_FRAMES
from zoo.datamodules.flow.formats import FLO_TAG, image_size, write_flo, write_flo5, write_kitti_flow
from zoo.datamodules.flow.png_io import PNGError, png_header

__all__ = ["BENCHMARKS", "SINTEL_TEST_PAIRS", "SINTEL_TEST_SCENES", "Benchmark", "SubmissionEntry", "SubmissionReport",
           "check_submission", "submission_entries", "write_submission"]

#: The Sintel test scenes, as the bundler's README lists them.
SINTEL_TEST_SCENES = ("ambush_1", "ambush_3", "bamboo_3", "cave_3", "market_1", "PERTURBED_market_3", "market_4",
                      "mountain_2", "PERTURBED_shaman_1", "temple_1", "tiger", "wall")
#: Test pairs per Sintel pass.
SINTEL_TEST_PAIRS = 552
#: KITTI's encodable flow range: (0 - 2**15) / 64 .. (2**16 - 1 - 2**15) / 64 px.
KITTI_RANGE = (-512.0, 511.984375)
#: ``predict(image1, image2)``: (1, 3, H, W) RGB in [0, 1] -> (1, 2, H, W) flow in pixels.
Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SubmissionEntry:
    """One file of a submission: pair ``index`` of ``dataset`` and the file's path in the submission folder."""

    dataset: FlowDataset
    index: int
    path: Path


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's submission: ``family`` (the dataset family whose root holds the test split),
    ``entries(root)`` (one per file), ``expected()`` (every file the server expects, or None where
    only the scenes and the count are known: ``scenes`` and ``count``), ``archive`` (zip the folder
    to ``<out>/<name>.zip``) and ``next_step``: what to run on the folder ``{folder}``."""

    name: str
    family: str
    entries: Callable[[Path], list[SubmissionEntry]]
    expected: Callable[[], set[Path]] | None
    next_step: str
    archive: bool = False
    scenes: tuple[str, ...] = ()
    count: int = 0


@dataclass
class SubmissionReport:
    """What :func:`write_submission` did: the folder, files written and kept, pixels clipped to
    KITTI's range, and the zip (KITTI)."""

    folder: Path
    written: int = 0
    kept: int = 0
    clipped: int = 0
    archive: Path | None = None
    files: list[Path] = field(default_factory=list)


def _sintel_entries(root: Path) -> list[SubmissionEntry]:
    entries = []
    for pass_ in ("clean", "final"):
        dataset = Sintel(root, "test", pass_)
        entries += [SubmissionEntry(dataset, i, Path(pass_) / s.sequence / f"frame{s.frame:04d}.flo")
                    for i, s in enumerate(dataset.samples)]
    return entries


def _kitti_entries(year: int) -> Callable[[Path], list[SubmissionEntry]]:
    folder = Path("flow") if year == 2015 else Path()

    def entries(root: Path) -> list[SubmissionEntry]:
        dataset = KITTI(root, year, "testing")
        return [SubmissionEntry(dataset, i, folder / f"{s.sequence}_10.png") for i, s in enumerate(dataset.samples)]

    return entries


def _spring_path(scene: str, direction: str, camera: str, frame: int) -> Path:
    name = f"flow_{direction}_{camera}"
    return Path(scene) / name / f"{name}_{frame:04d}.flo5"


def _spring_entries(root: Path) -> list[SubmissionEntry]:
    dataset = Spring(root, "test")
    return [SubmissionEntry(dataset, i, _spring_path(s.sequence, s.direction, s.camera, s.frame))
            for i, s in enumerate(dataset.samples)]


def _spring_expected() -> set[Path]:
    """The 3,960 files ``flow_subsampling`` reads: forward flows of frames 1 .. N - 1, backward of 2 .. N."""
    return {_spring_path(scene, direction, camera, frame)
            for scene, count in SPRING_TEST_FRAMES.items() for camera in ("left", "right")
            for direction, frames in (("FW", range(1, count)), ("BW", range(2, count + 1))) for frame in frames}


def _kitti_expected(year: int, pairs: int) -> Callable[[], set[Path]]:
    folder = Path("flow") if year == 2015 else Path()
    return lambda: {folder / f"{n:06d}_10.png" for n in range(pairs)}


BENCHMARKS: dict[str, Benchmark] = {
    "sintel": Benchmark("sintel", "sintel", _sintel_entries, None,
                        "make the upload with the bundler of the Sintel download: "
                        "MPI-Sintel-complete/bundler/<linux-x64|osx|win>/bundler {folder}/clean {folder}/final sintel.lzma",
                        scenes=SINTEL_TEST_SCENES, count=2 * SINTEL_TEST_PAIRS),
    "kitti-2012": Benchmark("kitti-2012", "kitti-2012", _kitti_entries(2012), _kitti_expected(2012, 195),
                            "upload {folder}.zip (files at its root, as the KITTI 2012 devkit asks)", archive=True),
    "kitti-2015": Benchmark("kitti-2015", "kitti-2015", _kitti_entries(2015), _kitti_expected(2015, 200),
                            "upload {folder}.zip (folder flow/ at its root, as the KITTI 2015 devkit asks)", archive=True),
    "spring": Benchmark("spring", "spring", _spring_entries, _spring_expected,
                        "make the upload with the benchmark's subsampling tool (spring-benchmark.org FAQ): "
                        "./flow_subsampling {folder}  (writes flow_submission.hdf5 in the current folder)"),
}


def submission_entries(benchmark: Benchmark, root: Path) -> list[SubmissionEntry]:
    """The files of ``benchmark``'s submission for the test split under ``root``, after checking that
    the split holds every pair the server expects (ValueError naming the first missing ones)."""
    entries = benchmark.entries(Path(root))
    paths = [entry.path for entry in entries]
    if benchmark.expected is not None:
        missing = sorted(benchmark.expected() - set(paths))
        extra = sorted(set(paths) - benchmark.expected())
        problem = (f"lacks the pairs of {len(missing)} of the {len(benchmark.expected())} files the server expects, "
                   f"e.g. {', '.join(map(str, missing[:3]))}" if missing else
                   f"has pairs the server does not expect, e.g. {', '.join(map(str, extra[:3]))}" if extra else None)
    else:
        scenes = {path.parts[1] for path in paths}
        problem = (f"has scenes {sorted(scenes ^ set(benchmark.scenes))} where the server expects {len(benchmark.scenes)} "
                   f"scenes ({', '.join(benchmark.scenes)})" if scenes != set(benchmark.scenes) else
                   f"has {len(paths)} pairs where the server expects {benchmark.count}" if len(paths) != benchmark.count
                   else None)
    if problem:
        raise ValueError(f"{benchmark.name} test split under {root}: {problem} (incomplete download?)")
    return entries


def write_submission(benchmark: Benchmark, root: Path, out: Path, predict: Predict,
                     progress: bool = True) -> SubmissionReport:
    """Write ``predict``'s flow for every pair of ``benchmark``'s test split under ``root`` to
    ``<out>/<benchmark.name>`` (module docstring), keeping files an earlier run finished, then
    check the whole set (and zip it for KITTI).

    Args:
        predict: ``(image1, image2)`` (1, 3, H, W) RGB in [0, 1] -> (1, 2, H, W) flow in pixels.
        progress: a progress bar on stderr when it is a terminal.
    """
    folder = Path(out) / benchmark.name
    _refuse_overlap(folder, Path(root))
    entries = submission_entries(benchmark, root)
    report = SubmissionReport(folder)
    for entry in tqdm(entries, desc=f"zoo submit {benchmark.name}", unit="pair", disable=None if progress else True):
        target = folder / entry.path
        if _stored_size(target) == _frame_size(entry):
            report.kept += 1
            continue
        item = entry.dataset[entry.index]
        flow = predict(item["image1"][None], item["image2"][None])[0].detach().float().cpu().permute(1, 2, 0).numpy()
        if flow.shape[:2] != tuple(item["image1"].shape[-2:]):
            raise ValueError(f"{benchmark.name} pair {entry.dataset.samples[entry.index].image1}: the prediction is "
                             f"{flow.shape[0]}x{flow.shape[1]}, the frames {item['image1'].shape[-2]}x{item['image1'].shape[-1]}")
        report.clipped += _write(target, flow, entry)
        report.written += 1
    report.files = check_submission(benchmark, folder, entries)
    if benchmark.archive:
        report.archive = _zip(folder, report.files)
    return report


def check_submission(benchmark: Benchmark, folder: Path, entries: list[SubmissionEntry]) -> list[Path]:
    """Every file of ``entries`` under ``folder``, checked to exist with a well-formed header of its
    pair's frame size; a ValueError names the missing or malformed ones."""
    bad = [folder / entry.path for entry in entries if _stored_size(folder / entry.path) != _frame_size(entry)]
    if bad:
        raise ValueError(f"{benchmark.name} submission in {folder} is incomplete: {len(bad)} of {len(entries)} files "
                         f"missing or malformed, e.g. {', '.join(map(str, bad[:3]))}")
    return [folder / entry.path for entry in entries]


def _refuse_overlap(folder: Path, root: Path) -> None:
    """Outputs never among the inputs: the submission folder and the dataset root are disjoint."""
    a, b = folder.resolve(), root.resolve()
    if a == b or a.is_relative_to(b) or b.is_relative_to(a):
        raise ValueError(f"the submission folder {folder} overlaps the dataset root {root}; write it elsewhere (--out)")


def _frame_size(entry: SubmissionEntry) -> tuple[int, int]:
    width, height = image_size(entry.dataset.samples[entry.index].image1)
    return height, width


def _write(path: Path, flow: np.ndarray, entry: SubmissionEntry) -> int:
    """Write ``flow`` (H, W, 2) in the format of ``path``'s suffix; returns the pixels clipped (KITTI)."""
    if not np.isfinite(flow).all():
        raise ValueError(f"the prediction for {entry.dataset.samples[entry.index].image1} holds NaN or infinite "
                         f"values; the server refuses them ({path})")
    if path.suffix == ".flo5":
        write_flo5(path, flow)
    elif path.suffix == ".flo":
        write_flo(path, flow)
    else:
        clipped = np.clip(flow, *KITTI_RANGE)
        write_kitti_flow(path, clipped)
        return int((clipped != flow).any(axis=2).sum())
    return 0


def _stored_size(path: Path) -> tuple[int, int] | None:
    """(H, W) of a finished flow file from its header (and, for ``.flo``, its length); None if it is
    missing or malformed."""
    try:
        if path.suffix == ".flo":
            with open(path, "rb") as file:
                head = file.read(12)
            if len(head) < 12 or struct.unpack("<f", head[:4])[0] != np.float32(FLO_TAG):
                return None
            width, height = struct.unpack("<ii", head[4:])
            return (height, width) if path.stat().st_size == 12 + 8 * width * height else None
        if path.suffix == ".png":
            header = png_header(path)
            return (header.height, header.width) if (header.bit_depth, header.colour_type) == (16, 2) else None
        import h5py

        with h5py.File(path, "r") as file:
            data = file.get("flow")
            ok = isinstance(data, h5py.Dataset) and len(data.shape) == 3 and data.shape[2] == 2 and data.dtype.kind == "f"
            return data.shape[:2] if ok else None
    except (OSError, PNGError):
        return None


def _zip(folder: Path, files: list[Path]) -> Path:
    """``<folder>.zip`` holding ``files`` under their paths relative to ``folder``, written atomically."""
    archive = folder.with_suffix(".zip")
    with atomic_output(archive) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(files):
            bundle.write(path, path.relative_to(folder).as_posix())
    return archive
