"""Video clips with known motion, written losslessly with PyAV, for the ``zoo flow --video`` tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour texture, uint8 (H, W, 3): bicubic noise at scales 4..32 px, summed."""
    rng = np.random.default_rng(seed)
    total = torch.zeros(1, 3, height, width)
    for scale in (4, 8, 16, 32):
        noise = torch.from_numpy(rng.random((1, 3, height // scale + 2, width // scale + 2)).astype(np.float32))
        up = F.interpolate(noise, size=(height + 2 * scale, width + 2 * scale), mode="bicubic", align_corners=False)
        total += up[..., scale:scale + height, scale:scale + width]
    total = (total - total.min()) / (total.max() - total.min())
    return (total[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def panning_clip(path: Path, frames: int, size: tuple[int, int], step: tuple[int, int], fps: int = 25) -> list[np.ndarray]:
    """Write a clip of a window moving over a texture by ``step = (dx, dy)`` px per frame, so that
    the content moves by ``(-dx, -dy)``: the true flow of every pair is that constant.

    Encoded losslessly (libx264rgb, qp 0, rgb24) in the container of the extension (``.mkv``,
    ``.mp4``); returns the frames as written, uint8 (H, W, 3).
    """
    import av

    height, width = size
    dx, dy = step
    source = texture(height + frames * abs(dy) + 1, width + frames * abs(dx) + 1)
    written = [np.ascontiguousarray(source[k * dy:k * dy + height, k * dx:k * dx + width]) for k in range(frames)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=fps, options={"qp": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        for frame in written:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return written
