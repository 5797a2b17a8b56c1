"""``zoo fit | validate | test | predict``: LightningCLI over any of the zoo's modules.

Configs name the module and datamodule by ``class_path`` (see ``configs/``). A module's
``weights`` argument (a registry tag, an official file, our safetensors or a Lightning
``.ckpt``) is loaded into its network right after the classes are built, before training starts;
``--ckpt_path`` then resumes a run as usual.
"""

from __future__ import annotations

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


def run_lightning_cli(argv: list[str]) -> ZooCLI:
    """Run LightningCLI on ``argv`` (``["fit", "--config", ...]``)."""
    return ZooCLI(
        model_class=None,
        datamodule_class=None,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=argv,
        save_config_kwargs={"overwrite": True},
    )
