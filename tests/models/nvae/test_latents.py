"""NVAE's latent API: encode, decode, reconstruct, interpolate (and slerp), checked against
independent computations, and the reconstruction quality of the bundled model on real MNIST."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.nvae_networks import tiny_binary_nvae, tiny_mixture_nvae
from zoo.models.nvae.latents import slerp
from zoo.models.nvae.network import NVAE

BUNDLED = Path(__file__).resolve().parents[3] / "zoo" / "weights" / "nvae-mnist-cpu.safetensors"


@pytest.fixture(scope="module")
def binary_net() -> NVAE:
    return tiny_binary_nvae()


@pytest.fixture(scope="module")
def flow_net() -> NVAE:
    """Logistic-mixture decoder and one flow stage per group: latents differ from samples."""
    return tiny_mixture_nvae()


@pytest.fixture(scope="module", params=["binary_net", "flow_net"])
def net(request) -> NVAE:
    return request.getfixturevalue(request.param)


def _images(net: NVAE, n: int, seed: int) -> torch.Tensor:
    cfg = net.config
    x = torch.rand(n, cfg.image_channels, cfg.image_size, cfg.image_size, dtype=torch.float64,
                   generator=torch.Generator().manual_seed(seed))
    return (x > 0.5).double() if cfg.decoder_distribution == "bernoulli" else x


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------------ encode / decode
@torch.no_grad()
def test_encoding_shapes_and_ranges(net: NVAE) -> None:
    x = _images(net, 3, 0)
    encoding = net.encode(x, 0.7, generator=_seeded(1))
    assert len(encoding.groups) == net.num_groups and encoding.temperature == 0.7
    for g, group in enumerate(encoding.groups):
        shape = (3, *net.latent_shape(g))
        for name in ("mean", "scale", "sample", "latent", "prior_mean", "prior_scale", "prior_noise"):
            assert tuple(getattr(group, name).shape) == shape, (g, name)
        assert group.scale.min() > 0.01 and group.mean.abs().max() < 5
        assert group.prior_scale.min() > 0.01
    top = encoding.groups[0]
    assert torch.equal(top.prior_mean, torch.zeros_like(top.mean))
    torch.testing.assert_close(top.prior_scale, torch.full_like(top.mean, 1.01), rtol=1e-15, atol=0)
    torch.testing.assert_close(top.prior_noise, top.latent / 1.01, rtol=1e-14, atol=0)
    assert [len(v) for v in (encoding.means, encoding.scales, encoding.samples,
                             encoding.latents, encoding.prior_noise)] == [net.num_groups] * 5


@torch.no_grad()
def test_temperature_scales_the_posterior_noise_only(net: NVAE) -> None:
    x = _images(net, 2, 2)
    at_zero = net.encode(x, 0.0)
    for group in at_zero.groups:
        assert torch.equal(group.sample, group.mean)
    full, half = net.encode(x, 1.0, generator=_seeded(3)), net.encode(x, 0.5, generator=_seeded(3))
    # Group 0's posterior sees no earlier sample: same mean and scale, half the deviation.
    assert torch.equal(full.groups[0].mean, half.groups[0].mean)
    assert torch.equal(full.groups[0].scale, half.groups[0].scale)
    torch.testing.assert_close(half.samples[0] - half.means[0],
                               0.5 * (full.samples[0] - full.means[0]), rtol=1e-12, atol=1e-14)
    # Later posteriors are conditioned on the earlier samples, so their means move.
    assert not torch.allclose(full.means[1], half.means[1])
    assert torch.equal(net.reconstruct(x), net.reconstruct(x))
    drawn = net.reconstruct(x, 1.0, generator=_seeded(4))
    assert torch.equal(drawn, net.reconstruct(x, 1.0, generator=_seeded(4)))
    assert not torch.allclose(drawn, net.reconstruct(x))
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="temperature"):
            net.encode(x, bad)


@torch.no_grad()
def test_decoding_the_mean_path_is_the_reconstruction(binary_net: NVAE, flow_net: NVAE) -> None:
    x = _images(binary_net, 3, 5)
    encoding = binary_net.encode(x, 0.0)
    decoded = binary_net.decode(encoding.means)                # no flows: means are latents
    assert torch.equal(decoded.mean(), binary_net.reconstruct(x))
    logits = binary_net(x, temperature=0.0).logits
    assert torch.equal(decoded.logits, logits)
    torch.testing.assert_close(decoded.log_prob(x), binary_net.output_distribution(logits).log_prob(x),
                               rtol=0, atol=0)

    x = _images(flow_net, 2, 6)
    encoding = flow_net.encode(x, 0.0)
    assert all(not torch.allclose(s, z) for s, z in zip(encoding.samples, encoding.latents))
    assert torch.equal(flow_net.decode(encoding.latents).mean(), flow_net.reconstruct(x))
    assert not torch.allclose(flow_net.decode(encoding.means).mean(), flow_net.reconstruct(x))


def test_decode_refuses_latents_that_do_not_fit(binary_net: NVAE) -> None:
    latents = binary_net.encode(_images(binary_net, 2, 7), 0.0).latents
    with pytest.raises(ValueError, match="one tensor per latent group"):
        binary_net.decode(latents[:-1])
    with pytest.raises(ValueError, match=r"latents\[1\]"):
        binary_net.decode([latents[0], latents[1][:1], latents[2]])
    with pytest.raises(ValueError, match=r"latents\[2\]"):
        binary_net.decode([latents[0], latents[1], latents[2][:, :2]])


def test_eval_mode_without_grad_changes_nothing(binary_net: NVAE) -> None:
    x = _images(binary_net, 2, 8)
    before = {k: v.clone() for k, v in binary_net.state_dict().items()}
    images = binary_net.reconstruct(x)
    frames = binary_net.interpolate(x[:1], x[1:], steps=3)
    assert not images.requires_grad and not frames.requires_grad
    with torch.no_grad():
        encoding = binary_net.encode(x)
        assert not encoding.means[0].requires_grad
        binary_net.decode(encoding.latents)
    assert not binary_net.training
    assert all(torch.equal(v, before[k]) for k, v in binary_net.state_dict().items())
    # Outside no_grad, encode and decode keep the graph (e.g. to optimise a latent).
    z = [t.detach().requires_grad_() for t in binary_net.encode(x, 0.0).latents]
    binary_net.decode(z).mean().sum().backward()
    assert all(t.grad is not None for t in z)


# ------------------------------------------------------------------------------ interpolation
def _reference_slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Textbook slerp of two vectors (float64)."""
    omega = math.acos(float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))))
    return (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)


def test_slerp_hand_derived_cases() -> None:
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    torch.testing.assert_close(slerp(a, b, 0.5), torch.tensor([[0.5 ** 0.5, 0.5 ** 0.5]]))
    torch.testing.assert_close(slerp(a, b, 1 / 3), torch.tensor([[math.cos(math.pi / 6),
                                                                  math.sin(math.pi / 6)]]))
    torch.testing.assert_close(slerp(3 * a, 3 * b, 0.25).norm(), torch.tensor(3.0))
    torch.testing.assert_close(slerp(a, 2 * a, 0.5), 1.5 * a)           # parallel: the line
    torch.testing.assert_close(slerp(a, -a, 0.5), torch.zeros_like(a))  # antipodal: the line
    torch.testing.assert_close(slerp(torch.zeros_like(a), b, 0.25), 0.25 * b)
    start = torch.randn(4, 3, 5, 5, generator=_seeded(0))
    end = torch.randn(4, 3, 5, 5, generator=_seeded(1))
    assert torch.equal(slerp(start, end, 0.0), start) and torch.equal(slerp(start, end, 1.0), end)
    assert slerp(start, end, 0.3).dtype == torch.float32
    for i in range(4):                                      # one vector per image
        expected = _reference_slerp(start[i].flatten().double().numpy(),
                                    end[i].flatten().double().numpy(), 0.3)
        np.testing.assert_allclose(slerp(start, end, 0.3)[i].flatten().numpy(), expected,
                                   rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_interpolation_endpoints_are_the_reconstructions(net: NVAE) -> None:
    x1, x2 = _images(net, 2, 9), _images(net, 2, 10)
    frames = net.interpolate(x1, x2, steps=5)
    cfg = net.config
    assert frames.shape == (2, 5, cfg.image_channels, cfg.image_size, cfg.image_size)
    assert frames.min() >= 0 and frames.max() <= 1
    assert torch.equal(frames[:, 0], net.reconstruct(x1))
    assert torch.equal(frames[:, -1], net.reconstruct(x2))
    # The noise path itself meets both reconstructions (up to rounding): no jump at the ends.
    for x in (x1, x2):
        noise = net.encode(x, 0.0).prior_noise
        path_end = net.output_distribution(net.sample_logits(2, 1.0, noise)).mean()
        torch.testing.assert_close(path_end, net.reconstruct(x), rtol=0, atol=1e-9)


@torch.no_grad()
def test_interpolation_frames_decode_the_slerped_prior_noise(net: NVAE) -> None:
    x1, x2 = _images(net, 1, 11), _images(net, 1, 12)
    eps1, eps2 = net.encode(x1, 0.0).prior_noise, net.encode(x2, 0.0).prior_noise
    frames = net.interpolate(x1, x2, steps=4)
    t = 1 / 3
    noise = [torch.from_numpy(_reference_slerp(a.flatten().numpy(), b.flatten().numpy(), t))
             .reshape(a.shape) for a, b in zip(eps1, eps2)]
    expected = net.output_distribution(net.sample_logits(1, 1.0, noise)).mean()
    torch.testing.assert_close(frames[:, 1], expected, rtol=0, atol=1e-9)
    # Only group 0 interpolated: the others keep x1's noise, so the last frame is x2's top
    # group with x1's finer noise, not x2's reconstruction.
    frames = net.interpolate(x1, x2, steps=3, groups=[0])
    assert torch.equal(frames[:, 0], net.reconstruct(x1))
    mixed = net.output_distribution(net.sample_logits(1, 1.0, [eps2[0], *eps1[1:]])).mean()
    torch.testing.assert_close(frames[:, -1], mixed, rtol=0, atol=1e-12)
    assert not torch.allclose(frames[:, -1], net.reconstruct(x2))


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 1}, "steps"), ({"steps": 2.5}, "steps"), ({"steps": True}, "steps"),
    ({"groups": [99]}, "groups"), ({"groups": [0, 0]}, "groups"), ({"groups": []}, "groups"),
    ({"groups": [-1]}, "groups"),
])
def test_interpolate_refuses_bad_arguments(binary_net: NVAE, kwargs: dict, message: str) -> None:
    x = _images(binary_net, 2, 13)
    with pytest.raises(ValueError, match=message):
        binary_net.interpolate(x[:1], x[1:], **kwargs)
    with pytest.raises(ValueError, match="same shape"):
        binary_net.interpolate(x, x[:1])


# ------------------------------------------------------------------------------ bundled model
@pytest.fixture(scope="module")
def bundled() -> NVAE:
    if not BUNDLED.is_file():
        pytest.skip("the bundled nvae-mnist-cpu weights are absent")
    import zoo

    return zoo.load("nvae.mnist-cpu")


@pytest.fixture(scope="module")
def test_digits(shared_dir: Path, bundled: NVAE) -> torch.Tensor:
    """The first 500 MNIST test digits as the model takes them: padded to 32, > 0.5."""
    from zoo.cli.latent import mnist_test_digits, model_images

    digits = mnist_test_digits(shared_dir / "data" / "mnist", 500)
    return model_images(list(digits), bundled, "threshold", _seeded(0), ["digit"] * 500)


def test_bundled_model_reconstructs_real_test_digits(bundled: NVAE, test_digits: torch.Tensor) -> None:
    """Measured on these 500 digits: 0.0375 nats/pixel, 99.0 % of pixels right, ink IoU 0.920
    (all 10,000: 0.0384, 98.97 %, 0.923); a digit against another's reconstruction: 83.7 %,
    IoU 0.20; an all-black guess gets 87.8 % of the pixels right."""
    x = test_digits
    p = bundled.reconstruct(x).double()[..., 2:30, 2:30].clamp(1e-12, 1 - 1e-12)
    target = x.double()[..., 2:30, 2:30]
    bce = -(target * torch.log(p) + (1 - target) * torch.log1p(-p))
    assert bce.mean() < 0.05
    # The same figure from the model's own likelihood at the posterior means.
    logits = bundled(x, temperature=0.0).logits
    nll = -bundled.reconstruction_log_likelihood(logits, x).double() / (28 * 28)
    torch.testing.assert_close(bce.flatten(1).mean(1), nll, rtol=1e-4, atol=1e-6)
    ink, drawn = target > 0.5, p > 0.5
    assert (ink == drawn).double().mean() > 0.98
    iou = (ink & drawn).flatten(1).sum(1) / (ink | drawn).flatten(1).sum(1)
    assert iou.mean() > 0.88 and (iou > 0.7).double().mean() > 0.95
    other = drawn.roll(1, 0)                                   # another digit's reconstruction
    assert ((ink & other).flatten(1).sum(1) / (ink | other).flatten(1).sum(1)).mean() < 0.4
    own, foreign = (p - target).abs().flatten(1).mean(1), (p.roll(1, 0) - target).abs().flatten(1).mean(1)
    assert (own < foreign).double().mean() > 0.99


def test_bundled_interpolation_meets_its_reconstructions(bundled: NVAE,
                                                         test_digits: torch.Tensor) -> None:
    x1, x2 = test_digits[0:2], test_digits[2:4]
    frames = bundled.interpolate(x1, x2, steps=6)
    assert frames.shape == (2, 6, 1, 32, 32)
    assert torch.equal(frames[:, 0], bundled.reconstruct(x1))
    assert torch.equal(frames[:, -1], bundled.reconstruct(x2))
    with torch.no_grad():
        noise = bundled.encode(x1, 0.0).prior_noise
        path_start = bundled.output_distribution(bundled.sample_logits(2, 1.0, noise)).mean()
    torch.testing.assert_close(path_start, frames[:, 0], rtol=0, atol=1e-4)
    step = (frames[:, 1:] - frames[:, :-1]).abs().flatten(2).mean(2)    # (B, steps - 1)
    total = (frames[:, -1] - frames[:, 0]).abs().flatten(1).mean(1)
    assert (step < 0.75 * total[:, None]).all()               # no frame jumps most of the way
