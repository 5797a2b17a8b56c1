"""KITTI 2012 and 2015 flow (Geiger et al. 2012, Menze & Geiger 2015): sparse ground truth."""

from __future__ import annotations

from pathlib import Path

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    none_found,
    require,
)
from zoo.datamodules.flow.datasets.declaration import WAUC, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["KITTI"]


KITTI_LAYOUT = {
    2012: """\
  training/colored_0/000000_10.png, 000000_11.png ... (or the grayscale image_0/)   testing/colored_0/...
  training/flow_occ/000000_10.png ...   training/flow_noc/...""",
    2015: """\
  training/image_2/000000_10.png, 000000_11.png ...   testing/image_2/...
  training/flow_occ/000000_10.png ...   training/flow_noc/...""",
}
KITTI_SOURCE = {
    2012: "https://www.cvlibs.net/datasets/kitti/eval_stereo_flow.php?benchmark=flow (registration required)",
    2015: "https://www.cvlibs.net/datasets/kitti/eval_scene_flow.php?benchmark=flow (registration required)",
}


class KITTI(FlowDataset):
    """KITTI 2012 (194 training / 195 test pairs) and 2015 (200 / 200): frames ``*_10.png`` and
    ``*_11.png``, sparse 16-bit PNG flow.

    Args:
        root: the folder holding ``training`` and ``testing``.
        year: 2012 or 2015.
        split: ``"training"`` or ``"testing"`` (no flow).
        occluded: ground truth of all pixels (``flow_occ``, the benchmark's "all") or only of
            non-occluded ones (``flow_noc``).
        image_dir: frame folder; default ``image_2`` for 2015 and, for 2012, ``colored_0`` (or the
            grayscale ``image_0`` when only that is present).
    """

    sparse = True

    def __init__(
        self,
        root: PathLike,
        year: int = 2015,
        split: str = "training",
        occluded: bool = True,
        image_dir: str | None = None,
        transform: Transform | None = None,
    ) -> None:
        if year not in (2012, 2015):
            raise ValueError(f"KITTI year must be 2012 or 2015, got {year!r}")
        if split not in ("training", "testing"):
            raise ValueError(f"KITTI split must be 'training' or 'testing', got {split!r}")
        self.name = f"kitti-{year}"
        layout, source = KITTI_LAYOUT[year], KITTI_SOURCE[year]
        base = require(Path(root) / split, f"KITTI {year}", layout, source)
        if image_dir is None:
            image_dir = "image_2" if year == 2015 else next((d for d in ("colored_0", "image_0") if (base / d).is_dir()), "colored_0")
        frames = require(base / image_dir, f"KITTI {year}", layout, source)
        flow_dir = None if split == "testing" else require(base / ("flow_occ" if occluded else "flow_noc"), f"KITTI {year}", layout, source)
        samples = []
        for first in sorted(frames.glob("*_10.png")):
            scene = first.name[: -len("_10.png")]
            flow = None if flow_dir is None else flow_dir / first.name
            samples.append(FlowSample(first, frames / f"{scene}_11.png", flow, scene, 10))
        if not samples:
            raise none_found(frames, f"KITTI {year}", "*_10.png frames", layout, source)
        check_complete(samples, f"KITTI {year}", layout, source)
        super().__init__(samples, transform)


def _declare(year: int, pairs: int, metrics: tuple[tuple[str, str], ...]) -> None:
    declare(FlowFamily(f"kitti-{year}", f"KITTI{year}", names={f"kitti-{year}": FlowName(
        lambda root, training, options: [KITTI(root, year, "training", **options)],
        f"KITTI {year} training ({pairs}, sparse)", "the same", FlowProtocol(f"kitti-{year}-train", metrics))}))


# KITTI train EPE is averaged per image (as the PWC-Net paper and most others give it); 2015 adds the
# devkit's Fl-all, pooled over the set.
_declare(2015, 200, (("epe", "image"), ("fl-all", "pixel"), WAUC))
_declare(2012, 194, (("epe", "image"), WAUC))
