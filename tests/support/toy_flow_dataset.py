"""A flow dataset added the way CONTRIBUTING.md says: this one module, declaring itself.

It reads pairs in the MPI-Sintel training layout (the reader is not what the test is about) under
the family ``toy`` (default folder ``ToyFlow``) and answers to ``toy`` with a pooled-EPE protocol.
Importing the module declares it; :func:`forget` undoes that for the tests.
"""

from __future__ import annotations

from zoo.datamodules.flow.datasets import FAMILIES, Sintel
from zoo.datamodules.flow.datasets.declaration import POOLED, FlowFamily, FlowName, FlowProtocol, declare

__all__ = ["TOY", "forget"]


class ToyFlow(Sintel):
    """Sintel's clean pass under another name."""

    def __init__(self, root, transform=None) -> None:
        super().__init__(root, "training", "clean", transform=transform)
        self.name = "toy"


TOY = declare(FlowFamily("toy", "ToyFlow", names={
    "toy": FlowName(lambda root, training, options: [ToyFlow(root, **options)], "the toy pairs", "the same",
                    FlowProtocol("toy-train", POOLED))}))


def forget() -> None:
    """Remove the toy family again."""
    FAMILIES.pop("toy", None)
