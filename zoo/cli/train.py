"""``zoo fit | validate | test | predict``: LightningCLI over any of the zoo's modules.

Configs name the module and datamodule by ``class_path`` (see ``configs/``). A module's
``weights`` argument (a registry tag, an official file, our safetensors or a Lightning
``.ckpt``) is loaded into its network right after the classes are built, before training starts;
``--ckpt_path`` then resumes a run as usual.

Some defaults differ from Lightning's, so that every config resumes and reports the same way:

* A ``ModelCheckpoint`` without ``dirpath`` saves into ``<trainer.default_root_dir>/checkpoints``
  (Lightning would use the logger's ``version_N`` folder, new for every run, where the next
  run's ``--ckpt_path last`` does not look): the same command line plus ``--ckpt_path last``
  resumes, and ``--trainer.default_root_dir`` moves the checkpoints with the run.
* ``limit_train_batches: 480`` means 480 batches: Lightning types the ``limit_*_batches`` as
  ``float | int``, so the parser would read 480 as 480.0, which Lightning takes as a fraction of
  the epoch (and 1 as 1.0, every batch). :class:`ZooTrainer` declares them ``int | float``: an
  integer stays an integer, ``0.25`` stays a fraction.
* The progress bar is on when stderr is a terminal and off when it goes to a file (a log of a
  long run would otherwise fill with bar redraws); ``--trainer.enable_progress_bar`` decides.
  Without the bar, a line ``step S/T  loss L  R steps/s  ETA E`` goes to stderr after the first
  step and then every ``--trainer.progress_every_s`` seconds (default 30; :mod:`zoo.cli.fit_progress`).
* Every run also saves ``checkpoints/last-timed.ckpt`` every ``--trainer.checkpoint_every_minutes``
  minutes of training (default 5; ``null`` turns it off), on top of the config's checkpoints, so a
  killed run loses at most that much: ``--ckpt_path last`` resumes the newest of ``last.ckpt`` and
  ``last-timed.ckpt``.
* ``--ckpt_path last`` with no checkpoint to resume is an error that says so (Lightning would
  warn and start over); ``--ckpt_path last-or-new`` resumes when there is one and starts a new run,
  saying so, when there is none.
* ``--model.weights W`` prints one line: the weights' name, the file they came from, and how many
  tensors were loaded (strictly: none missing, none unexpected).
* A ``ModelCheckpoint`` with a ``monitor`` and no ``save_on_train_epoch_end`` saves when
  validation ends, where its metric exists. Lightning would also save it at the end of a training
  epoch when validation runs once an epoch (NVAE's configs), which includes an epoch cut short by
  ``max_steps`` or ``max_time`` before its validation: there the metric is missing and Lightning
  warns that the monitored key was not found.
* One run at a time per ``default_root_dir`` (:mod:`zoo.cli.run_lock`): a second run into a
  folder another run is writing to is refused, naming the folder and that run.
* Without a ``logger``, the logs are Lightning's ``CSVLogger`` in ``default_root_dir`` when
  neither ``tensorboard`` nor ``tensorboardX`` is installed (TensorBoard's when one is), as
  Lightning would choose, minus its notice that tensorboardX left its dependencies.

Lightning's start-up lines that do not concern a zoo user are held back
(:mod:`zoo.cli.lightning_noise` lists them and says why).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
from argparse import ArgumentError
from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI
from pytorch_lightning.loggers import CSVLogger

from zoo.cli.fit_progress import ProgressLines
from zoo.cli.lightning_noise import hold_back_resume_notice, quiet_lightning
from zoo.cli.run_lock import run_folder_lock
from zoo.weights.checkpoint import read_checkpoint
from zoo.weights.loader import load_weights_into

__all__ = ["MIN_LIGHTNING", "RESUME_OR_NEW", "TIMED_CHECKPOINT", "ZooCLI", "ZooTrainer", "check_resumable",
           "check_same_module", "current_class_path", "default_logger", "last_checkpoints", "monitor_after_validation",
           "root_checkpoints", "run_lightning_cli"]

#: ``--ckpt_path`` value that resumes the last checkpoint when there is one and starts a new run otherwise.
RESUME_OR_NEW = "last-or-new"
#: File name (without ``.ckpt``) of the time-interval checkpoint; ``last…`` so that ``--ckpt_path last`` finds it.
TIMED_CHECKPOINT = "last-timed"


class ZooTrainer(pl.Trainer):
    """``pl.Trainer`` whose batch limits are typed ``int | float``, integer first (see the module doc)."""

    # int | float, not float: jsonargparse reads the annotation, and an int limit is a batch count
    def __init__(self, *args, limit_train_batches: int | float | None = None,  # noqa: PYI041
                 limit_val_batches: int | float | None = None,  # noqa: PYI041
                 limit_test_batches: int | float | None = None,  # noqa: PYI041
                 limit_predict_batches: int | float | None = None,  # noqa: PYI041
                 progress_every_s: float = 30.0, checkpoint_every_minutes: float | None = 5.0, **kwargs) -> None:
        """``progress_every_s``: seconds between progress lines when the bar is off;
        ``checkpoint_every_minutes``: minutes of training between saves of ``last-timed.ckpt``
        (None: none). The other arguments are ``pl.Trainer``'s."""
        kwargs["logger"] = default_logger(kwargs.get("logger"), kwargs.get("default_root_dir"))
        super().__init__(*args, limit_train_batches=limit_train_batches, limit_val_batches=limit_val_batches,
                         limit_test_batches=limit_test_batches, limit_predict_batches=limit_predict_batches,
                         **kwargs)
        if not kwargs.get("enable_progress_bar", True):
            self.callbacks.append(ProgressLines(progress_every_s))
        if checkpoint_every_minutes is not None and kwargs.get("enable_checkpointing", True) is not False:
            if checkpoint_every_minutes <= 0:
                raise ValueError(f"checkpoint_every_minutes must be > 0 (or null), got {checkpoint_every_minutes}")
            self.callbacks.append(ModelCheckpoint(filename=TIMED_CHECKPOINT, save_top_k=1, enable_version_counter=False,
                                                  train_time_interval=timedelta(minutes=checkpoint_every_minutes)))


class ZooCLI(LightningCLI):
    """LightningCLI that roots checkpoints in ``default_root_dir``, loads the module's ``weights``
    and holds the run folder's lock (:mod:`zoo.cli.run_lock`) from the checked command line to the
    end of the command."""

    def __init__(self, *args: Any, args_for_lock: list[str] | None = None, **kwargs: Any) -> None:
        self._command = " ".join(["zoo", *(sys.argv[1:] if args_for_lock is None else args_for_lock)])
        with contextlib.ExitStack() as self._held:  # released however the command ends
            super().__init__(*args, **kwargs)

    def _set_seed(self) -> None:
        # the first step after the command line is checked (_parse_ckpt_path), before anything
        # prints (the seed's notice) or is built
        subcommand = self.config.get("subcommand")
        if subcommand:
            root = self.config[subcommand].get("trainer", {}).get("default_root_dir") or os.getcwd()
            self._held.enter_context(run_folder_lock(root, self._command))
        super()._set_seed()

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        root_checkpoints(self.trainer)
        monitor_after_validation(self.trainer)
        weights = getattr(self.model, "hparams", {}).get("weights")
        if weights:
            print(load_weights_into(self.model, weights), file=sys.stderr, flush=True)

    def _parse_ckpt_path(self) -> None:
        """Lightning's reading of the module hyper-parameters stored in ``--ckpt_path``, through the
        zoo's safe reader (a truncated or foreign file is one line naming it), with two changes:
        a checkpoint written before the package moved under ``zoo`` names ``models.…`` classes,
        read as ``zoo.models.…``; and a checkpoint of another module class than the config's is
        refused, naming both (Lightning would switch the model to the checkpoint's class)."""
        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if not ckpt_path or not os.path.isfile(ckpt_path):
            return
        checkpoint = read_checkpoint(ckpt_path)
        check_resumable(ckpt_path, checkpoint)
        hparams = dict(checkpoint.get("hyper_parameters") or {})
        hparams.pop("_instantiator", None)
        if "_class_path" in hparams:
            saved = current_class_path(hparams.pop("_class_path"))
            check_same_module(ckpt_path, saved, self.config[subcommand].get("model"))
            hparams = {"class_path": saved, "dict_kwargs": hparams}
        elif hparams:  # saved by a Trainer outside LightningCLI: the init arguments of the config's class
            hparams = {"class_path": getattr(self.config[subcommand].get("model"), "class_path", None),
                       "init_args": hparams}
        if hparams:
            try:
                self.config = self.parser.parse_object({subcommand: {"model": hparams}}, self.config)
            except (ArgumentError, SystemExit) as error:  # jsonargparse reports over many lines
                raise ValueError(f"--ckpt_path {ckpt_path}: its hyper_parameters do not fit the config's model: "
                                 f"{str(error).strip().splitlines()[0] if str(error).strip() else error}") from None

    def before_fit(self) -> None:
        """Resolve ``--ckpt_path last`` / ``last-or-new`` (see the module doc) before Lightning does."""
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") in ("last", RESUME_OR_NEW):
            found = last_checkpoints(self.trainer)
            folders = ", ".join(sorted({os.path.dirname(path) for path in found} or _checkpoint_folders(self.trainer)))
            if not found and config["ckpt_path"] == "last":
                raise FileNotFoundError(f"--ckpt_path last: no checkpoint to resume in {folders or 'this run'}; run "
                                        f"without --ckpt_path to start a new run, or with --ckpt_path {RESUME_OR_NEW} "
                                        f"to resume when there is one")
            if not found:
                print(f"--ckpt_path {RESUME_OR_NEW}: no checkpoint in {folders}: starting a new run", file=sys.stderr)
            config["ckpt_path"] = "last" if found else None
        if config.get("ckpt_path"):
            hold_back_resume_notice()


def current_class_path(class_path: str) -> str:
    """``class_path`` as the package names it today: ``models.…`` and ``datamodules.…``, the import
    names of zoo 0.1 checkpoints, become ``zoo.models.…`` and ``zoo.datamodules.…``."""
    return f"zoo.{class_path}" if class_path.startswith(("models.", "datamodules.")) else class_path


#: the oldest Lightning whose checkpoints resume here: 2.0 saves every loop's state (``loops``)
#: as this Lightning reads it; older ones lack it or lay it out otherwise
MIN_LIGHTNING = (2, 0)


def check_resumable(ckpt_path: str, checkpoint: dict[str, Any]) -> None:
    """Raise ValueError unless ``checkpoint`` is a Lightning >= 2.0 training checkpoint (one that
    ``zoo fit`` writes): a bare state dict, or a checkpoint of Lightning 1.x, would fail deep in
    the restore (or resume at a wrong place); its weights can still start a run, with
    ``--model.weights``."""
    version = str(checkpoint.get("pytorch-lightning_version", ""))
    parts = re.match(r"(\d+)\.(\d+)", version)
    start = f"to start a new run from its weights, pass it as --model.weights {ckpt_path} instead"
    if parts is None:
        raise ValueError(f"--ckpt_path {ckpt_path}: not a Lightning training checkpoint (no pytorch-lightning_version); "
                         f"{start}")
    if tuple(map(int, parts.groups())) < MIN_LIGHTNING or "loops" not in checkpoint:
        raise ValueError(f"--ckpt_path {ckpt_path}: written by Lightning {version}; zoo fit resumes checkpoints of "
                         f"Lightning >= {'.'.join(map(str, MIN_LIGHTNING))} (with their loop state); {start}")


def check_same_module(ckpt_path: str, saved: str, model_config: Any) -> None:
    """Raise ValueError when the checkpoint's module class ``saved`` is not the one the parsed
    ``model`` entry of the config names."""
    wanted = getattr(model_config, "class_path", None)
    if wanted and saved != wanted:
        raise ValueError(f"--ckpt_path {ckpt_path}: the checkpoint is of {saved}, the config's model is "
                         f"{wanted}; resume with the config that wrote it, or fine-tune with --model.weights")


def last_checkpoints(trainer: pl.Trainer) -> set[str]:
    """The ``last*.ckpt`` files in the folders of ``trainer``'s ``ModelCheckpoint`` callbacks: what
    Lightning chooses among (the newest) for ``--ckpt_path last``."""
    found: set[str] = set()
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint):
            found |= callback._find_last_checkpoints(trainer)
    return found


def _checkpoint_folders(trainer: pl.Trainer) -> set[str]:
    return {str(callback.dirpath) for callback in trainer.checkpoint_callbacks
            if isinstance(callback, ModelCheckpoint) and callback.dirpath}


def root_checkpoints(trainer: pl.Trainer) -> None:
    """Give every ``ModelCheckpoint`` of ``trainer`` without a ``dirpath`` the folder
    ``<default_root_dir>/checkpoints`` (absolute, as ``ModelCheckpoint`` makes its own)."""
    folder = os.path.realpath(os.path.join(trainer.default_root_dir, "checkpoints"))
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.dirpath is None:
            callback.dirpath = folder


def monitor_after_validation(trainer: pl.Trainer) -> None:
    """Make every ``ModelCheckpoint`` of ``trainer`` that monitors a metric and leaves
    ``save_on_train_epoch_end`` unset save at validation end only (see the module doc)."""
    for callback in trainer.checkpoint_callbacks:
        # the constructor's save_on_train_epoch_end argument; None lets Lightning decide per run
        if isinstance(callback, ModelCheckpoint) and callback.monitor and callback._save_on_train_epoch_end is None:
            callback._save_on_train_epoch_end = False


def default_logger(logger: Any, default_root_dir: str | None) -> Any:
    """``logger`` as given, except that the default (``None`` or ``True``) becomes a ``CSVLogger``
    in ``default_root_dir`` when TensorBoard cannot be imported: what Lightning picks then, named."""
    if logger not in (None, True) or any(importlib.util.find_spec(name) for name in ("tensorboard", "tensorboardX")):
        return logger
    return CSVLogger(save_dir=default_root_dir or os.getcwd())


def run_lightning_cli(argv: list[str] | None = None) -> ZooCLI:
    """Run LightningCLI on ``argv`` (``["fit", "--config", ...]``); ``None`` reads ``sys.argv[1:]``,
    as the ``zoo`` command does (LightningCLI warns when it is given both)."""
    with quiet_lightning():
        return ZooCLI(
            model_class=None,
            datamodule_class=None,
            trainer_class=ZooTrainer,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=argv,
            args_for_lock=argv,
            trainer_defaults={"enable_progress_bar": sys.stderr.isatty()},
            save_config_kwargs={"overwrite": True},
        )
