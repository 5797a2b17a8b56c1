"""TartanAir (Wang et al. IROS 2020): every environment, difficulty and trajectory, flow as ``.npy``."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    check_contiguous,
    consecutive_pairs,
    none_found,
    numbered,
    require,
)
from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["TartanAir", "read_npy"]


TARTANAIR_LAYOUT = """\
  abandonedfactory/Easy/P000/image_left/000000_left.png ...   (every environment; Easy and Hard; P000, P001, ...)
  abandonedfactory/Easy/P000/flow/000000_000001_flow.npy ...   (float32 (480, 640, 2), frame N -> N + 1)
  abandonedfactory/Easy/P000/flow/000000_000001_mask.npy ...   (uint8 (480, 640), non-zero = occluded / masked)"""
TARTANAIR_SOURCE = "https://theairlab.org/tartanair-dataset/ (tartanair_tools download_training.py --flow --rgb)"


def read_npy(path: PathLike, dtypes: tuple[str, ...], trailing: tuple[int, ...]) -> np.ndarray:
    """A NumPy ``.npy`` array of one of ``dtypes`` (kinds, e.g. ``"f"``, ``"u"``) and shape ``(H, W, *trailing)``;
    a missing, truncated or mis-shaped file raises one line naming it. Pickled objects are never loaded."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npy array ({str(error).splitlines()[0]}); truncated download?") from None
    if array.dtype.kind not in dtypes or array.ndim != 2 + len(trailing) or array.shape[2:] != trailing:
        expected = "(H, W" + "".join(f", {n}" for n in trailing) + ")"
        raise ValueError(f"{path}: a {array.dtype} array of shape {array.shape}, expected {expected} of kind {dtypes}")
    return array


class TartanAir(FlowDataset):
    """TartanAir: 640x480 ``.png`` frames of the left camera, ``.npy`` flow between consecutive frames
    (valid where finite) and ``.npy`` masks of dynamic objects and occlusions (:meth:`occlusion`:
    non-zero; optional: a trajectory without any mask file has none, one with some must have all),
    for every environment, difficulty and trajectory under the root.

    Args:
        root: the folder holding the environment folders (``abandonedfactory/``, ``amusement/``, ...).
        difficulties: from ``"Easy"`` and ``"Hard"``.
    """

    name = "tartanair"

    def __init__(self, root: PathLike, difficulties: Sequence[str] = ("Easy", "Hard"),
                 transform: Transform | None = None) -> None:
        if not difficulties or not set(difficulties) <= {"Easy", "Hard"}:
            raise ValueError(f"TartanAir difficulties must be among 'Easy', 'Hard', got {difficulties!r}")
        root = require(Path(root), "TartanAir", TARTANAIR_LAYOUT, TARTANAIR_SOURCE)
        trajectories = sorted(p for d in difficulties for p in root.glob(f"*/{d}/*") if (p / "image_left").is_dir())
        if not trajectories:
            raise none_found(root, "TartanAir", "<environment>/<Easy|Hard>/<trajectory>/image_left folders",
                             TARTANAIR_LAYOUT, TARTANAIR_SOURCE)
        samples = []
        for trajectory in trajectories:
            frames = numbered((trajectory / "image_left").glob("*_left.png"), r"(\d+)_left\.png")
            if not frames:
                raise none_found(trajectory / "image_left", "TartanAir", "*_left.png frames", TARTANAIR_LAYOUT,
                                 TARTANAIR_SOURCE)
            check_contiguous(frames, lambda n, at=trajectory / "image_left": at / f"{n:06d}_left.png", "TartanAir",
                             TARTANAIR_LAYOUT, TARTANAIR_SOURCE)
            sequence = trajectory.relative_to(root).as_posix()
            # the masks are a separate download (download_training.py --only-flow leaves them out)
            masks = any((trajectory / "flow").glob("*_mask.npy"))
            for n, first, second in consecutive_pairs(frames):
                stem = trajectory / "flow" / f"{n:06d}_{n + 1:06d}"
                samples.append(FlowSample(first, second, Path(f"{stem}_flow.npy"), sequence, n,
                                          occlusion=Path(f"{stem}_mask.npy") if masks else None))
        check_complete(samples, "TartanAir", TARTANAIR_LAYOUT, TARTANAIR_SOURCE)
        super().__init__(samples, transform)

    def read_ground_truth(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        flow = read_npy(path, ("f",), (2,)).astype(np.float32)
        valid = np.isfinite(flow).all(axis=2)
        return np.where(valid[..., None], flow, 0).astype(np.float32), valid

    def occlusion(self, index: int) -> np.ndarray:
        """bool (H, W): the pair's mask (dynamic objects and occlusions), non-zero values."""
        sample = self.samples[index]
        if sample.occlusion is None:
            raise ValueError(f"TartanAir pair {sample.image1}: the trajectory has no flow/*_mask.npy files")
        return read_npy(sample.occlusion, ("u", "i", "b"), ()) != 0


declare(FlowFamily("tartanair", "TartanAir", names={"tartanair": FlowName(
    lambda root, training, options: [TartanAir(root, **options)],
    "TartanAir, every environment, Easy + Hard, every trajectory", "the same",
    FlowProtocol("tartanair-train", POOLED))}))
