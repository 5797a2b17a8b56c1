"""One ``zoo fit`` (or validate / test / predict) at a time per run folder.

Two runs into one ``default_root_dir`` would write one ``checkpoints/last.ckpt`` and one
``metrics.csv`` in turns: the folder would hold lines of both and the checkpoint of whichever
saved last. A run holds an exclusive lock on ``<default_root_dir>/.zoo-run.lock`` (``filelock``:
an OS lock, released when the process ends, however it ends) and notes itself in
``.zoo-run.holder``; a second run refuses in one line naming the folder and the holder.

Under multi-process training only the first process locks: the other ranks (which Lightning's
DDP launcher starts by re-running the same command line, or torchrun / SLURM start with a rank in
their environment) belong to the run that holds the lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

__all__ = ["HOLDER_FILE", "LOCK_FILE", "RunFolderBusy", "is_first_process", "run_folder_lock"]

LOCK_FILE = ".zoo-run.lock"
HOLDER_FILE = ".zoo-run.holder"
#: environment variables that give a process its place in a multi-process run (Lightning's launcher,
#: torchrun, SLURM, LSF); a process where any of them is set and not 0 is not the run's first
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


class RunFolderBusy(BlockingIOError):
    """Another run holds the run folder's lock (an OSError: the folder is busy)."""


@contextlib.contextmanager
def run_folder_lock(folder: str | os.PathLike, command: str) -> Iterator[Path]:
    """Hold ``folder``'s run lock for the block (the folder is created if needed); ``command``
    (the run's command line) is noted for a run that finds the folder busy. In a rank other than
    the first (:func:`is_first_process`) nothing is locked.

    Raises:
        RunFolderBusy: another process (or another run in this one) holds it; the message names
            the folder and the holder's process id, host, start time and command line.
    """
    folder = Path(folder).resolve()
    if not is_first_process():
        yield folder
        return
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--trainer.default_root_dir {folder}: is a file; the run folder must be a folder")
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_FILE, thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunFolderBusy(f"--trainer.default_root_dir {folder}: another run is writing into this folder "
                            f"({_holder(folder)}); wait for it to end, or give this run its own "
                            "--trainer.default_root_dir") from None
    holder = folder / HOLDER_FILE
    try:
        holder.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                      "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                      "command": command}) + "\n")
        yield folder
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def is_first_process() -> bool:
    """False in the other ranks of a multi-process run (see :data:`RANK_VARIABLES`)."""
    return all(os.environ.get(name, "0").strip() in ("", "0") for name in RANK_VARIABLES)


def _holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as noted in its holder file."""
    try:
        note = json.loads((folder / HOLDER_FILE).read_text())
        return f"process {note['pid']} on {note['host']} since {note['started']}: {note['command']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not noted itself yet"
