"""``zoo fit | validate | test | predict``: LightningCLI over any of the zoo's modules.

Configs name the module and datamodule by ``class_path`` (see ``configs/``). A module's
``weights`` argument (a registry tag, an official file, our safetensors or a Lightning
``.ckpt``) is loaded into its network right after the classes are built, before training starts;
``--ckpt_path`` then resumes a run as usual.

The progress bar is on when stderr is a terminal and off when it goes to a file (a log of a
long run would otherwise fill with bar redraws); ``--trainer.enable_progress_bar`` decides.
"""

from __future__ import annotations

import sys

from pytorch_lightning.cli import LightningCLI

from zoo.loader import load_weights_into

__all__ = ["ZooCLI", "run_lightning_cli"]


class ZooCLI(LightningCLI):
    """LightningCLI that also loads the module's ``weights`` for fine-tuning."""

    def instantiate_classes(self) -> None:
        super().instantiate_classes()
        weights = getattr(self.model, "hparams", {}).get("weights")
        if weights:
            load_weights_into(self.model, weights)


def run_lightning_cli(argv: list[str] | None = None) -> ZooCLI:
    """Run LightningCLI on ``argv`` (``["fit", "--config", ...]``); ``None`` reads ``sys.argv[1:]``,
    as the ``zoo`` command does (LightningCLI warns when it is given both)."""
    return ZooCLI(
        model_class=None,
        datamodule_class=None,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=argv,
        trainer_defaults={"enable_progress_bar": sys.stderr.isatty()},
        save_config_kwargs={"overwrite": True},
    )
