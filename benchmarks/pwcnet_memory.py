"""Peak CPU memory of one PWC-Net forward (``estimate_flow``, batch 1) per megapixel of input.

Each (size, precision) runs in a fresh process, which reports its peak resident memory
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) above the memory it held once the network and
the two frames were in place, so the figure is what the forward itself adds. The slope of a
least-squares line through the sizes is the memory per megapixel; ``zoo flow``'s default pixel
budget (:data:`zoo.cli.flow.DEFAULT_MAX_PIXELS`) is chosen from it.

    python -m benchmarks.pwcnet_memory [--sides 512x768 1024x1536 1536x2048]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np

_CHILD = """
import resource, sys, torch
from zoo.models.flow_inference import estimate_flow
from zoo.models.pwcnet.network import PWCNet
height, width, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
network = PWCNet().eval()
image1, image2 = torch.rand(1, 3, height, width), torch.rand(1, 3, height, width)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
flow = estimate_flow(network, image1, image2, precision=precision)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


def peak_mb(height: int, width: int, precision: str) -> float:
    """MB that one forward at ``height`` x ``width`` adds to the peak of a fresh process."""
    result = subprocess.run([sys.executable, "-c", _CHILD, str(height), str(width), precision],
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sides", nargs="+", default=["512x768", "1024x1536", "1536x2048"],
                        help="HEIGHTxWIDTH sizes to measure")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in side.split("x")) for side in args.sides]
    for precision in ("float32", "auto"):
        megapixels, peaks = [], []
        for height, width in sizes:
            megapixels.append(height * width / 1e6)
            peaks.append(peak_mb(height, width, precision))
            print(f"{precision:8s} {height}x{width} ({megapixels[-1]:.2f} MP): +{peaks[-1]:.0f} MB "
                  f"({peaks[-1] / megapixels[-1]:.0f} MB/MP)")
        slope, intercept = np.polyfit(megapixels, peaks, 1)
        print(f"{precision:8s} least squares: {slope:.0f} MB per MP + {intercept:.0f} MB")


if __name__ == "__main__":
    main()
