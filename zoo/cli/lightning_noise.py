"""The lines Lightning prints at ``zoo fit`` start-up that do not concern a zoo user, held back.

What a user sees of a run: the seed, whether a GPU is used, the precision, the model summary,
the progress bar (on a terminal) and why ``fit`` stopped, plus any warning we have not listed
here. Each line below is held back for a reason of its own, matched by the start of its text so
that nothing else is caught:

* ``TPU available: False, using: 0 TPU cores``: the zoo runs on CPUs and CUDA GPUs only; the
  GPU line beside it says what is used.
* ``💡 Tip: ... litlogger``: an advertisement for a hosted service, not about the run.
* ``Loading `train_dataloader` to estimate number of stepping batches.``: Lightning's account of
  the modules' ``estimated_stepping_batches`` call (NVAE's schedules need the step count).
* ``Precision bf16-mixed is not supported by the model summary ...``: wrong for our use: under
  ``*-mixed`` the parameters are float32, so the 32-bit size the summary prints is the true one.
* ``isinstance(treespec, LeafSpec)`` is deprecated: Lightning's own code calling torch's
  deprecated pytree API at every batch; nothing a user can change.
* ``Checkpoint directory ... exists and is not empty.``, only when the run resumes
  (``--ckpt_path``): resuming writes into the folder of the checkpoint it continues, so that
  the folder is not empty is expected. A fresh run into a used folder still warns.

* The model summary's ``FLOPs`` column and ``0 Total Flops`` line: Lightning counts FLOPs only
  for modules with an ``example_input_array`` (ours have none: their inputs' size is the data's)
  and prints 0 for the others, which reads as a measurement. Both are dropped when the total is
  0; ``zoo benchmark`` gives the real figure.

The tensorboardX notice and the ModelCheckpoint "could not find the monitored key" warning are
fixed where they arise (:mod:`zoo.cli.train`), not held back here.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["HELD_BACK_LOGS", "HELD_BACK_WARNINGS", "hold_back_resume_notice", "quiet_lightning",
           "without_uncounted_flops"]

HELD_BACK_LOGS = ("TPU available: ", "💡 Tip: ", "Loading `train_dataloader` to estimate number of stepping batches.")
HELD_BACK_WARNINGS = (r"Precision [\w-]+-mixed is not supported by the model summary",
                      r"`isinstance\(treespec, LeafSpec\)` is deprecated")
# where Lightning's rank_zero_info lines are logged
LIGHTNING_LOGGERS = ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero")
SUMMARY_LOGGER = "pytorch_lightning.callbacks.model_summary"
_UNCOUNTED_FLOPS = re.compile(r"\n *0 +Total Flops *$")


def without_uncounted_flops(summary: str) -> str:
    """Lightning's model summary without its FLOPs column and total when the total is 0 (uncounted)."""
    if not _UNCOUNTED_FLOPS.search(summary):
        return summary
    lines = _UNCOUNTED_FLOPS.sub("", summary).split("\n")
    header = next((i for i, line in enumerate(lines) if line.rstrip().endswith("| FLOPs")), None)
    if header is None:
        return "\n".join(lines)
    columns = lines[header].count("|")
    width = 0
    for i, line in enumerate(lines):
        if line.count("|") == columns:  # the header and the layer rows: drop the last column
            lines[i] = line.rsplit("|", 1)[0].rstrip()
            width = max(width, len(lines[i]))
    return "\n".join("-" * width if line and set(line) == {"-"} else line for line in lines)


class _HeldBack(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(HELD_BACK_LOGS)


class _WithoutUncountedFlops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = without_uncounted_flops(record.getMessage())
        record.args = None
        return True


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hold back the listed lines while the block runs; the process's filters are restored after."""
    filters = [(logging.getLogger(name), _HeldBack()) for name in LIGHTNING_LOGGERS]
    filters.append((logging.getLogger(SUMMARY_LOGGER), _WithoutUncountedFlops()))
    for logger, held_back in filters:
        logger.addFilter(held_back)
    try:
        with warnings.catch_warnings():
            for message in HELD_BACK_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for logger, held_back in filters:
            logger.removeFilter(held_back)


def hold_back_resume_notice() -> None:
    """Inside :func:`quiet_lightning`, for a resumed run: hold back the used-folder warning."""
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .+ exists and is not empty")
