"""The ``--device`` option of the commands: a torch device that this machine and build can use."""

from __future__ import annotations

import torch

__all__ = ["torch_device"]


def torch_device(name: str) -> torch.device:
    """``torch.device(name)`` once it is known to work here.

    Raises:
        ValueError: ``--device NAME: ...`` for a string torch does not parse, CUDA on a torch
            build without CUDA or on a machine without a visible GPU, a CUDA index past the
            last device, or MPS where it is not available.
    """
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name}: not a torch device (expected e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda":
        if torch.version.cuda is None:
            raise ValueError(f"--device {name}: CUDA is not available in this torch build ({torch.__version__} is "
                             "CPU-only; install a CUDA build of torch, see README) - use --device cpu")
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: this torch build has CUDA {torch.version.cuda}, but no CUDA device "
                             "is visible (driver, CUDA_VISIBLE_DEVICES?) - use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: there are {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS is not available on this machine or torch build - use --device cpu")
    return device
