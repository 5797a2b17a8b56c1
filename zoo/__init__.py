"""A model zoo for PWC-Net (optical flow) and NVAE (hierarchical VAE).

>>> import zoo
>>> zoo.list_models("pwcnet*", pretrained=True)        # doctest: +SKIP
>>> net = zoo.load("pwcnet.things")                    # doctest: +SKIP
>>> module = zoo.load_module("pwcnet.things", lr=1e-5)  # doctest: +SKIP
>>> zoo.save_pretrained("pwcnet.synth", "out/")          # doctest: +SKIP
>>> zoo.export_onnx("pwcnet.synth", "pwcnet.onnx")       # doctest: +SKIP

The public names are imported lazily, so ``import zoo.weights.cache`` stays cheap and free of cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "WeightsInfo",
    "export_onnx",
    "list_models",
    "list_weights",
    "load",
    "load_module",
    "push_to_hub",
    "save_pretrained",
    "weights_info",
]
__version__ = "0.1.0"

_EXPORTS = {
    "load": "zoo.weights.loader",
    "load_module": "zoo.weights.loader",
    "list_models": "zoo.catalog.registry",
    "list_weights": "zoo.catalog.registry",
    "weights_info": "zoo.catalog.registry",
    "WeightsInfo": "zoo.catalog.registry",
    "save_pretrained": "zoo.publish.pretrained",
    "push_to_hub": "zoo.publish.pretrained",
    "export_onnx": "zoo.publish.onnx_export",
}

if TYPE_CHECKING:
    from zoo.catalog.registry import WeightsInfo, list_models, list_weights, weights_info
    from zoo.publish.onnx_export import export_onnx
    from zoo.publish.pretrained import push_to_hub, save_pretrained
    from zoo.weights.loader import load, load_module


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
