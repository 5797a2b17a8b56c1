"""Writing files so that no half-written file is ever visible under its final name.

Every writer of the project (flow files, images, caches, weights) goes through
:func:`atomic_output`: the content is written to a temporary file beside the target, which is
renamed into place only once it is complete. A crash leaves at most a hidden ``.*.tmp`` file.
``durable=True`` also flushes the content and the rename to the disk (fsync of the file and of its
folder) before returning, for records that must survive a power cut (the cache's manifest).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["atomic_output", "write_atomic", "write_png"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_DEFAULT_MODE = 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    The parent folder is created if needed. On any error the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` that names no file (a full disk, a file-size
    limit) is raised again naming ``path``. With ``durable``, the file and the rename are fsynced.
    ``path`` naming a folder is refused (``IsADirectoryError`` naming it) before anything is written.
    """
    path = Path(path)
    if path.is_dir():  # else the rename fails naming the hidden temporary file
        raise IsADirectoryError(errno.EISDIR, "is a folder; give a file name to write", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _DEFAULT_MODE)  # mkstemp makes the file private; give it the usual mode
        if durable:
            _fsync(tmp, os.O_RDWR)
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.filename is not None:
            raise
        raise OSError(error.errno, f"cannot write {path}: {error.strerror or error}") from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY)


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write a uint8 image, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, as PNG atomically."""
    import numpy as np
    from PIL import Image

    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"{path}: expected a uint8 (H, W[, C]) image, got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    with atomic_output(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
    return Path(path)
