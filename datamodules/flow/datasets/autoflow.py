"""AutoFlow (Sun et al. CVPR 2021): the 40,000 pairs of ``static_40k_png_{1..4}_of_4``."""

from __future__ import annotations

from pathlib import Path

from zoo.datamodules.flow.datasets.base import (
    FlowDataset,
    FlowSample,
    PathLike,
    Transform,
    check_complete,
    layout_error,
    none_found,
)
from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["AutoFlow"]


AUTOFLOW_PARTS = tuple(f"static_40k_png_{i}_of_4" for i in range(1, 5))
AUTOFLOW_LAYOUT = """\
  static_40k_png_1_of_4/<sample>/im0.png, im1.png, forward.flo   (and parts 2_of_4, 3_of_4, 4_of_4)"""
AUTOFLOW_SOURCE = "https://autoflow-google.github.io/ (static_40k_png_*_of_4.zip)"


class AutoFlow(FlowDataset):
    """AutoFlow: pairs ``im0.png`` -> ``im1.png`` with ``forward.flo``, one folder per pair in the
    four parts of the release (all four must be there: a missing part is an incomplete download)."""

    name = "autoflow"

    def __init__(self, root: PathLike, transform: Transform | None = None) -> None:
        root = Path(root)
        missing = [part for part in AUTOFLOW_PARTS if not (root / part).is_dir()]
        if missing:
            raise layout_error("AutoFlow", f"{', '.join(str(root / part) for part in missing)} missing "
                               "(incomplete download?)", AUTOFLOW_LAYOUT, AUTOFLOW_SOURCE)
        samples = [FlowSample(folder / "im0.png", folder / "im1.png", folder / "forward.flo", part, index)
                   for part in AUTOFLOW_PARTS
                   for index, folder in enumerate(sorted(p for p in (root / part).iterdir() if p.is_dir()))]
        if not samples:
            raise none_found(root, "AutoFlow", "sample folders", AUTOFLOW_LAYOUT, AUTOFLOW_SOURCE)
        check_complete(samples, "AutoFlow", AUTOFLOW_LAYOUT, AUTOFLOW_SOURCE)
        super().__init__(samples, transform)


declare(FlowFamily("autoflow", "AutoFlow", names={"autoflow": FlowName(
    lambda root, training, options: [AutoFlow(root, **options)], "AutoFlow static_40k, all four parts", "the same",
    FlowProtocol("autoflow-train", POOLED))}))
