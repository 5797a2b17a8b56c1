"""The NVAE API refuses what it cannot answer (issue 26, items 7 and 18): ``sample(-1)`` returned
one image, ``sample(2.5)`` a TypeError, ``sample(2, temperature=nan)`` NaN images, temperatures -1
and 2 passed (the CLI refuses them), NaN images passed the value check and gave NaN likelihoods,
``log_likelihood`` of grey (non-binary) digits under a Bernoulli decoder returned 89.6 nats of
something that is no likelihood, double input ended in a dtype error of a convolution, an empty
batch in an error of ``aminmax``. Each is a ``ValueError`` naming the argument and what it takes."""

from __future__ import annotations

import math

import pytest
import torch

from tests.support.nvae_networks import tiny_binary_nvae, tiny_mixture_nvae

pytestmark = pytest.mark.hostile


@pytest.fixture(scope="module")
def binary_net():
    return tiny_binary_nvae().float()


@pytest.fixture(scope="module")
def mixture_net():
    return tiny_mixture_nvae().float()


def _binary(n: int = 2) -> torch.Tensor:
    return (torch.rand(n, 1, 32, 32, generator=torch.Generator().manual_seed(0)) < 0.3).float()


@pytest.mark.parametrize("count", [-1, 0, 2.5, 2.0, True, "2", None])
def test_sample_counts_must_be_positive_integers(binary_net, count):
    for call in (lambda: binary_net.sample(count), lambda: binary_net.sample_logits(count)):
        with pytest.raises(ValueError, match=r"^num_samples must be a positive integer, got "):
            call()
    with pytest.raises(ValueError, match=r"^num_samples must be a positive integer"):
        binary_net.log_likelihood(_binary(), num_samples=count)
    with pytest.raises(ValueError, match=r"^num_batches must be a positive integer"):
        binary_net.readjust_bn(num_batches=count)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer"):
        binary_net.readjust_bn(num_batches=1, batch_size=count)


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -1.0, 2.0, 1.0001, -0.0001, True, "0.7", None])
def test_every_temperature_is_a_number_in_0_1(binary_net, temperature):
    """The range the CLI takes (``--temperature`` in [0, 1]) is the API's, for every method."""
    calls = {"sample": lambda: binary_net.sample(2, temperature),
             "sample_logits": lambda: binary_net.sample_logits(2, temperature),
             "readjust_bn": lambda: binary_net.readjust_bn(1, temperature, batch_size=2),
             "forward": lambda: binary_net(_binary(), temperature),
             "encode": lambda: binary_net.encode(_binary(), temperature),
             "reconstruct": lambda: binary_net.reconstruct(_binary(), temperature)}
    for name, call in calls.items():
        with pytest.raises(ValueError, match=r"^temperature must be a number in \[0, 1\], got "):
            call()
            pytest.fail(f"{name} accepted temperature {temperature!r}")


def test_the_ends_of_the_temperature_range_still_sample(binary_net):
    for temperature in (0, 0.0, 1, 1.0):
        images = binary_net.sample(2, temperature, generator=torch.Generator().manual_seed(0))
        assert images.shape == (2, 1, 32, 32) and bool(torch.isfinite(images).all())


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_pixels_fail_the_value_check(binary_net, bad):
    """NaN compares false with everything: ``low < 0 or high > 1`` let NaN images through."""
    x = _binary()
    x[1, 0, 5, 5] = bad
    for call in (lambda: binary_net(x), lambda: binary_net.log_likelihood(x, 1), lambda: binary_net.reconstruct(x),
                 lambda: binary_net.encode(x)):
        with pytest.raises(ValueError, match=r"^NVAE expects pixel values in \[0, 1\], got range"):
            call()


def test_a_bernoulli_likelihood_refuses_grey_images_and_says_how_to_binarise(binary_net):
    """Grey digits (what MNIST files hold, what ``sample`` returns) have no Bernoulli likelihood;
    the method says to binarise them. Binary images give a finite, negative log p(x)."""
    grey = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match=r"^a Bernoulli decoder's likelihood needs binary images \(0 or 1\), "
                                         r"got the value 0\.\d+: binarise grey images first, torch\.bernoulli"):
        binary_net.log_likelihood(grey, 1)
    with pytest.raises(ValueError, match="binary images"):
        binary_net.log_likelihood(binary_net.quantize(grey), 1)  # quantize keeps 8-bit grey as it is
    log_px = binary_net.log_likelihood(_binary(), 2, generator=torch.Generator().manual_seed(2))
    assert log_px.shape == (2,) and bool((log_px < 0).all())


def test_a_mixture_likelihood_needs_images_on_the_bit_grid(mixture_net):
    """Logistic mixtures are discretised on ``num_x_bits`` levels: a value between two levels is
    refused; ``quantize`` of 8-bit data (k / 255 in float32, off the grid by ~1.5e-5 levels) passes."""
    generator = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (2, 3, 16, 16), generator=generator)
    x = mixture_net.quantize(levels.float() / 255)
    log_px = mixture_net.log_likelihood(x, 1, generator=generator)
    assert log_px.shape == (2,) and bool(torch.isfinite(log_px).all())
    off = x.clone()
    off[0, 0, 0, 0] = 0.5 / 255 + 10 / 255
    with pytest.raises(ValueError, match=r"^this decoder's likelihood needs images on the grid of 8-bit levels "
                                         r"k / 255, got the value 0\.0411\d*: pass 8-bit images"):
        mixture_net.log_likelihood(off, 1)


def test_images_of_another_dtype_are_refused_naming_both(binary_net):
    for x in (_binary().double(), _binary().half(), _binary().bool(), _binary().to(torch.uint8)):
        with pytest.raises(ValueError, match=rf"^NVAE expects images of the network's dtype torch\.float32, "
                                             rf"got {x.dtype}"):
            binary_net.log_likelihood(x, 1)
        with pytest.raises(ValueError, match="network's dtype"):
            binary_net(x)
    with pytest.raises(ValueError, match=r"convert them with x\.to\(torch\.float32\)"):
        binary_net.reconstruct(_binary().double())


def test_an_empty_batch_is_refused(binary_net):
    empty = torch.zeros(0, 1, 32, 32)
    for call in (lambda: binary_net(empty), lambda: binary_net.log_likelihood(empty, 1),
                 lambda: binary_net.reconstruct(empty), lambda: binary_net.encode(empty),
                 lambda: binary_net.interpolate(empty, empty)):
        with pytest.raises(ValueError, match=r"^NVAE expects at least one image, got an empty batch \(0, 1, 32, 32\)"):
            call()


def test_something_other_than_a_tensor_is_refused(binary_net):
    with pytest.raises(ValueError, match="^NVAE expects a tensor of images, got list"):
        binary_net([[0.0]])


def test_latents_and_noise_are_checked_like_images(binary_net):
    """Found by the closing attack: ``decode`` of an empty batch or of NaN latents, and
    ``sample_logits`` with NaN noise returned NaN images; ``interpolate`` of lists raised an
    AttributeError."""
    latents = binary_net.encode(_binary(), 0).latents
    with pytest.raises(ValueError, match=r"^latents\[0\] must be a tensor of shape \(B, 4, 8, 8\), B >= 1"):
        binary_net.decode([z[:0] for z in latents])
    with pytest.raises(ValueError, match=r"^latents\[1\] holds NaN or infinite values"):
        binary_net.decode([latents[0], latents[1] * math.nan, latents[2]])
    noise = [torch.zeros(1, *binary_net.latent_shape(g)) for g in range(binary_net.num_groups)]
    noise[2][0, 0, 0, 0] = math.inf
    with pytest.raises(ValueError, match=r"^noise for latent group 2 holds NaN or infinite values"):
        binary_net.sample_logits(1, 1.0, noise)
    with pytest.raises(ValueError, match="^NVAE expects a tensor of images, got list"):
        binary_net.interpolate([1.0], [2.0], 3)
    assert binary_net.decode(latents).mean().shape == (2, 1, 32, 32)  # the valid case still decodes
