"""The NVAE's two inference passes as modules with plain tensor inputs and outputs.

``torch.export`` / ONNX and ``torch.compile`` need a ``forward`` whose inputs and outputs are
tensors; :class:`~zoo.models.nvae.network.NVAE` takes Python options and returns dataclasses. These
wrappers fix the options and flatten the results; they hold the NVAE itself (no copy of weights).

The latent noise is an input, so a graph is deterministic and can be compared with PyTorch:
``noise_g`` is standard-normal ``eps`` of latent group ``g`` (decoder order), shape
``(B, *NVAE.latent_shape(g))``. Sampling at temperature ``t`` is the same graph fed ``t * eps``
(``mu + (t eps) sigma = mu + eps (t sigma)``), so one exported graph serves every temperature.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from zoo.models.nvae.network import NVAE

__all__ = ["PosteriorGraph", "SamplingGraph", "example_noise", "noise_names", "posterior_graph", "sampling_graph"]


def noise_names(nvae: NVAE) -> list[str]:
    """Input names of the latent noise, ``noise_0 .. noise_{G-1}`` (decoder order)."""
    return [f"noise_{g}" for g in range(nvae.num_groups)]


def example_noise(nvae: NVAE, batch_size: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Standard-normal noise for every latent group: ``(batch_size, *latent_shape(g))`` float32."""
    return tuple(torch.randn((batch_size, *nvae.latent_shape(g)), generator=generator)
                 for g in range(nvae.num_groups))


class SamplingGraph(nn.Module):
    """The decoder's sampling path: latent noise in, output-distribution parameters out.

    ``forward(noise_0, ..., noise_{G-1})`` -> ``logits (B, C_out, S, S)``, exactly
    ``NVAE.sample_logits(B, temperature=1, noise=[noise_0, ...])`` (Bernoulli logits for binary
    MNIST, logistic-mixture parameters for colour presets; see ``NVAE.output_distribution``).
    """

    def __init__(self, nvae: NVAE) -> None:
        super().__init__()
        self.nvae = nvae

    def forward(self, *noise: torch.Tensor) -> torch.Tensor:
        return self.nvae.sample_logits(noise[0].shape[0], 1.0, noise=noise)


class PosteriorGraph(nn.Module):
    """The posterior pass: images and latent noise in, decoder output and densities out.

    ``forward(x, noise_0, ..., noise_{G-1})`` with ``x (B, C, S, S)`` in [0, 1] returns
    ``(logits (B, C_out, S, S), log_q (B,), log_p (B,), kl (G, B))``, the values of
    ``NVAE.forward(x, noise=[...])`` (nats, summed over each latent). The ELBO in nats is
    ``NVAE.reconstruction_log_likelihood(logits, x) - kl.sum(0)``.
    """

    def __init__(self, nvae: NVAE) -> None:
        super().__init__()
        self.nvae = nvae

    def forward(self, x: torch.Tensor, *noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.nvae(x, noise=noise)
        return out.logits, out.log_q, out.log_p, out.kl_all


def sampling_graph(nvae: NVAE, *, size: tuple[int, int] | None, batch_size: int, dynamic: bool,
                   size_multiple: int = 1) -> tuple[nn.Module, tuple, list[str], list[str], Any]:
    """The ``sample`` part of ``zoo export --format onnx``: (graph, example noise, input names,
    output names, dynamic shapes or None); see :func:`zoo.publish.onnx_export.onnx_graph`."""
    return _export_graph(nvae, "sample", size, batch_size, dynamic)


def posterior_graph(nvae: NVAE, *, size: tuple[int, int] | None, batch_size: int, dynamic: bool,
                    size_multiple: int = 1) -> tuple[nn.Module, tuple, list[str], list[str], Any]:
    """The ``posterior`` part of ``zoo export --format onnx``, as :func:`sampling_graph`."""
    return _export_graph(nvae, "posterior", size, batch_size, dynamic)


def _export_graph(nvae: NVAE, part: str, size: tuple[int, int] | None, batch_size: int, dynamic: bool,
                  ) -> tuple[nn.Module, tuple, list[str], list[str], Any]:
    if size is not None:
        raise ValueError(f"--size applies to flow networks; NVAE images have the size of its config "
                         f"({nvae.config.image_size} px)")
    generator = torch.Generator().manual_seed(0)
    noise = example_noise(nvae, batch_size, generator)
    names = noise_names(nvae)
    if part == "sample":
        graph, inputs, outputs = SamplingGraph(nvae), noise, ["logits"]
    else:
        cfg = nvae.config
        x = torch.rand(batch_size, cfg.image_channels, cfg.image_size, cfg.image_size, generator=generator)
        graph, inputs, outputs = PosteriorGraph(nvae), (x, *noise), ["logits", "log_q", "log_p", "kl"]
        names = ["x", *names]
    shapes = None
    if dynamic:  # one entry per parameter of forward: (*noise) or (x, *noise)
        batch = torch.export.Dim("batch", min=1, max=1024)
        per_noise = tuple({0: batch} for _ in noise)
        shapes = (per_noise,) if part == "sample" else ({0: batch}, per_noise)
    return graph.eval(), inputs, names, outputs, shapes
