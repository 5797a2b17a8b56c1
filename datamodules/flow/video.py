"""Video files, one frame at a time (PyAV): decoding for ``zoo flow --video``, encoding its flow video.

Frames are uint8 RGB ``(H, W, 3)`` numpy arrays. :func:`video_frames` decodes lazily, so a clip
is never held in memory; :func:`video_writer` encodes into a temporary file that is renamed into
place only when the video is complete (:func:`zoo.datamodules.files.atomic.atomic_output`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from zoo.datamodules.files.atomic import atomic_output

__all__ = ["CONTAINERS", "VideoInfo", "video_frames", "video_info", "video_writer"]

#: Container format of each output file extension.
CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".avi": "avi"}


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file: frame size, frame rate (frames/s) and frame count
    (None where the container does not record it)."""

    width: int
    height: int
    fps: Fraction | None
    frames: int | None


def _open(path: str | os.PathLike):
    import av

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path}: not a readable video file ({error})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: the file has no video stream")
    return container


def video_info(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate and frame count of the first video stream of ``path``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a video file, or no video stream.
    """
    with _open(path) as container:
        stream = container.streams.video[0]
        return VideoInfo(stream.codec_context.width, stream.codec_context.height,
                         stream.average_rate, stream.frames or None)


def video_frames(path: str | os.PathLike, every: int = 1) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` for frames ``0, every, 2 every, ...`` of the first video stream, decoded
    one at a time (multi-threaded decoding); ``frame`` is uint8 RGB ``(H, W, 3)``.

    Raises:
        FileNotFoundError, ValueError: as :func:`video_info`, or a frame that cannot be decoded.
    """
    import av

    if every < 1:
        raise ValueError(f"every must be at least 1, got {every}")
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index % every == 0:
                    yield index, frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as error:
            raise ValueError(f"{path}: cannot decode the video ({error})") from None


def _even(frame: np.ndarray) -> np.ndarray:
    """``frame`` padded by one replicated row / column where a side is odd (yuv420p needs even sides)."""
    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
    return np.pad(frame, pad, mode="edge") if any(p[1] for p in pad) else frame


@contextlib.contextmanager
def video_writer(path: str | os.PathLike, fps: Fraction | float, *, codec: str = "libx264",
                 pixel_format: str = "yuv420p", options: dict[str, str] | None = None,
                 ) -> Iterator[Callable[[np.ndarray], None]]:
    """Yield ``write(frame)`` that encodes uint8 RGB ``(H, W, 3)`` frames (all of one size) into
    ``path``; the file appears complete when the block ends, or not at all on an error.

    The container comes from the extension (:data:`CONTAINERS`). With ``yuv420p`` (the default,
    which every player reads) odd sides are padded by one replicated row / column.

    Raises:
        ValueError: an unknown extension, or frames of different sizes.
    """
    import av

    container_format = CONTAINERS.get(Path(path).suffix.lower())
    if container_format is None:
        raise ValueError(f"{path}: unknown video extension; use one of {', '.join(CONTAINERS)}")
    rate = Fraction(fps).limit_denominator(1001 * 1000)
    with atomic_output(path) as tmp, av.open(str(tmp), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, options=options or {})
        stream.pix_fmt = pixel_format
        size: tuple[int, ...] | None = None

        def write(frame: np.ndarray) -> None:
            nonlocal size
            frame = _even(frame) if pixel_format == "yuv420p" else frame
            if size is None:
                size = frame.shape
                stream.height, stream.width = size[:2]
            elif frame.shape != size:
                raise ValueError(f"{path}: frame of shape {frame.shape} after frames of shape {size}")
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                container.mux(packet)

        yield write
        for packet in stream.encode(None):
            container.mux(packet)
