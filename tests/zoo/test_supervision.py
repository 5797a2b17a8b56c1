"""zoo.supervision: the frozen flow supervisor inside a host model, gradients w.r.t. frames, E_warp
and the losses on hand-derived cases, and a short training run that lowers E_warp."""

from __future__ import annotations

import warnings

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import zoo
from tests.support.square_scene import SquareFlowOracle, square_clip
from zoo.models.pwcnet import network as pwcnet_network
from zoo.supervision import FlowLoss, FlowSupervisor, TemporalConsistencyLoss, WarpingError
from zoo.weights.cache import BUNDLED_DIR

# the square clip's geometry (tests/support/square_scene.py): 32 x 48 frames, an 8 x 8 square moving 4 px right
PIXELS = 32 * 48
BAND = 8 * 4  # pixels of frame t that the square covers in frame t + 1


@pytest.fixture(scope="module")
def supervisor() -> FlowSupervisor:
    return FlowSupervisor("pwcnet.synth")


def _frames(seed: int = 0, size=(40, 56)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image1 = torch.rand(1, 3, *size, generator=generator)
    return image1, torch.roll(image1, shifts=(1, 2), dims=(2, 3))


class _Host(pl.LightningModule):
    """A per-frame model trained with a temporal loss; its optimiser takes ``self.parameters()``."""

    def __init__(self, supervisor: FlowSupervisor) -> None:
        super().__init__()
        self.model = nn.Conv2d(3, 3, 3, padding=1)
        self.temporal = TemporalConsistencyLoss(supervisor)
        self.supervisor_modes: list[bool] = []

    def training_step(self, batch, _):
        (clips,) = batch
        outputs = self.model(clips.flatten(0, 1)).view_as(clips)
        self.supervisor_modes.append(self.temporal.supervisor.network.training)
        return (outputs - clips).square().mean() + self.temporal(outputs, clips)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.05, weight_decay=0.5)


def test_supervisor_weights_stay_bit_identical_and_gradient_free_in_a_host_trainer(tmp_path):
    supervisor = FlowSupervisor("pwcnet.synth")
    before = {k: v.clone() for k, v in supervisor.network.state_dict().items()}
    host = _Host(supervisor)
    host_before = host.model.weight.detach().clone()
    assert not any(p is q for p in host.parameters() for q in supervisor.network.parameters())
    assert not any(k.startswith("temporal.supervisor") for k in host.state_dict())  # checkpoints stay small
    clips = square_clip(3).unsqueeze(0).repeat(2, 1, 1, 1, 1)
    trainer = pl.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(host, DataLoader(TensorDataset(clips), batch_size=1))
    assert host.supervisor_modes == [False] * 3  # host.train() did not reach the network
    assert not torch.equal(host.model.weight, host_before)  # the host did train
    after = supervisor.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None and not p.requires_grad for p in supervisor.network.parameters())
    host.train()
    assert not supervisor.network.training


def test_supervisor_follows_host_dtype_moves_and_ignores_requires_grad():
    host = nn.Sequential(nn.Linear(2, 2), FlowSupervisor("pwcnet.synth"))
    host.double().requires_grad_(True)
    network = host[1].network
    assert network.features.levels[0][0].weight.dtype == torch.float64
    assert not any(p.requires_grad for p in network.parameters())


def test_gradient_with_respect_to_frames_matches_finite_differences_in_float64():
    supervisor = FlowSupervisor("pwcnet.synth").double()
    generator = torch.Generator().manual_seed(0)
    image1, image2 = (torch.rand(1, 3, 6, 6, dtype=torch.float64, generator=generator, requires_grad=True)
                      for _ in range(2))
    # fast mode compares a random projection of the Jacobian with a central difference; eps 1e-7 keeps the
    # difference away from the kinks of LeakyReLU and bilinear sampling (at 1e-6 a few entries cross one),
    # and float64 rounding (~1e-16 of flows of a few px) / 1e-7 stays far below atol
    assert torch.autograd.gradcheck(supervisor, (image1, image2), eps=1e-7, atol=1e-5, rtol=1e-5, fast_mode=True)


def test_no_grad_mode_keeps_no_graph_and_gives_the_same_flow(supervisor):
    image1, image2 = _frames()
    image1.requires_grad_(True)
    with_grad = supervisor(image1, image2)
    without = FlowSupervisor(supervisor.network, grad=False)(image1, image2)
    assert with_grad.grad_fn is not None and without.grad_fn is None and not without.requires_grad
    torch.testing.assert_close(without, with_grad.detach(), rtol=0, atol=1e-5)


def test_forward_skips_the_value_check_that_zoo_load_keeps(monkeypatch):
    calls = []
    monkeypatch.setattr(pwcnet_network, "_check_values", lambda name, image: calls.append(name))
    image1, image2 = _frames()
    FlowSupervisor("pwcnet.synth")(image1, image2)
    assert calls == []
    zoo.load("pwcnet.synth")(image1, image2)
    assert calls == ["image1", "image2"]


def test_forward_on_frames_that_require_grad_raises_no_warning(supervisor):
    image1, image2 = _frames()
    image1.requires_grad_(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the value check's float() of a grad tensor warns (zoo.load's network)
        supervisor(image1, image2).mean().backward()
    with pytest.warns(UserWarning, match="requires_grad=True to a scalar"):
        zoo.load("pwcnet.synth")(image1, image2)


def test_zoo_load_still_refuses_8_bit_values_naming_the_range():
    image1, image2 = _frames()
    with pytest.raises(ValueError, match=r"image2 must hold RGB values in \[0, 1\], found the range .*divide by 255"):
        zoo.load("pwcnet.synth")(image1, image2 * 255)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="counting host synchronisations needs a CUDA device")
def test_forward_and_backward_on_cuda_do_not_synchronise_with_the_host():
    supervisor = FlowSupervisor("pwcnet.synth", device="cuda")
    image1, image2 = (image.cuda().requires_grad_(True) for image in _frames())
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        supervisor(image1, image2).square().mean().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert image1.grad is not None


def test_weights_from_a_file_a_folder_and_a_network_give_the_same_flow(supervisor, tmp_path):
    image1, image2 = _frames()
    expected = supervisor(image1, image2).detach()
    folder = zoo.save_pretrained("pwcnet.synth", tmp_path / "saved")
    for source in (BUNDLED_DIR / "pwcnet-synth.safetensors", folder, zoo.load("pwcnet.synth")):
        assert torch.equal(FlowSupervisor(source)(image1, image2).detach(), expected)


def test_bf16_autocast_and_channels_last_stay_close_to_float32(supervisor):
    from zoo.datamodules.flow.synthetic import SyntheticFlow

    item = SyntheticFlow(size=(64, 96), length=1, seed=3)[0]
    image1, image2 = item["image1"][None], item["image2"][None]
    reference = supervisor(image1, image2).detach()
    channels_last = FlowSupervisor("pwcnet.synth", channels_last=True)
    assert channels_last.network.features.levels[0][0].weight.is_contiguous(memory_format=torch.channels_last)
    # another convolution algorithm: float32 rounding only
    torch.testing.assert_close(channels_last(image1, image2).detach(), reference, rtol=0, atol=1e-3)
    bf16 = FlowSupervisor("pwcnet.synth", precision="bfloat16")(image1, image2).detach()
    assert bf16.dtype == torch.float32
    # bfloat16 keeps 8 bits of mantissa: a mean end-point difference of a few tenths of a px at most
    assert float((bf16 - reference).norm(dim=1).mean()) < 0.3


def test_a_float32_supervisor_ignores_the_callers_autocast(supervisor):
    image1, image2 = _frames()
    with torch.no_grad():
        expected = supervisor(image1, image2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            inside = supervisor(image1, image2)
    assert torch.equal(inside, expected)


def _oracle() -> FlowSupervisor:
    return FlowSupervisor(SquareFlowOracle(), grad=False)


def _processed_square_clip() -> torch.Tensor:
    """The square clip with frame 1 brightened by 0.1, frame 2 by 0.3, and frame 0's band (covered
    in frame 1, so out of the mask) by 0.5: E_pair = 0.1^2 and 0.2^2 by hand."""
    processed = square_clip(3)
    processed[1] += 0.1
    processed[2] += 0.3
    processed[0, :, 6:14, 18:22] += 0.5
    return processed


def test_warping_error_equals_the_hand_derived_value_on_a_translating_square():
    metric = WarpingError(_oracle(), with_occlusion_share=True)
    reference = square_clip(3)
    metric.update(_processed_square_clip(), reference=reference)
    result = metric.compute()
    assert result["e_warp"].item() == pytest.approx((0.1 ** 2 + 0.2 ** 2) / 2, rel=1e-6)
    assert result["occlusion_share"].item() == pytest.approx(BAND / PIXELS, rel=1e-12)
    # a batch of clips: the mean over clips of each clip's mean over its pairs
    batch = WarpingError(_oracle())
    batch.update(torch.stack([_processed_square_clip(), reference]), reference=torch.stack([reference, reference]))
    assert batch.compute().item() == pytest.approx(0.025 / 2, rel=1e-6)


def test_warping_error_sum_states_merge_as_ddp_reduces_them():
    reference = square_clip(3)
    separately, other = WarpingError(_oracle()), WarpingError(_oracle())
    separately.update(_processed_square_clip(), reference=reference)
    other.update(reference)  # flows from the clip itself: the reference explains itself, E_warp 0
    separately.merge_state(other)  # what the sum reduction of DDP does with two ranks' states
    assert separately.compute().item() == pytest.approx(0.025 / 2, rel=1e-6)


def test_temporal_consistency_loss_equals_the_hand_derived_l1():
    processed = _processed_square_clip()
    processed.requires_grad_(True)
    temporal = TemporalConsistencyLoss(_oracle())
    loss = temporal(processed, square_clip(3))
    # pair (0, 1): |0.1 - 0| on frame 1's visible pixels (frame 0's band is warped from nowhere visible),
    # pair (1, 2): |0.3 - 0.1|
    assert loss.item() == pytest.approx((0.1 + 0.2) / 2, rel=1e-5)
    to_previous, visible = temporal.flows(square_clip(3))
    assert to_previous[0, 0, 6, 14].item() == -4 and not visible[0, 0, 6:14, 10:14].any()  # disoccluded by the square
    assert temporal(processed, flows=(to_previous, visible)).item() == loss.item()
    loss.backward()
    assert processed.grad[0].abs().sum() > 0 and processed.grad[2].abs().sum() > 0


def test_flow_loss_equals_the_hand_derived_l1_and_is_zero_on_equal_clips():
    oracle = FlowSupervisor(SquareFlowOracle())
    generated, reference = square_clip(3, step=4), square_clip(3, step=2)
    # pair 0: u differs by 2 on the 64 square pixels; pair 1: squares at x 14 and x 12: 6 shared columns
    # differ by 2, 2 columns only generated (4), 2 only reference (2), on 8 rows; over 2 x 1536 values
    expected = (64 * 2 / (2 * PIXELS) + 8 * (6 * 2 + 2 * 4 + 2 * 2) / (2 * PIXELS)) / 2
    assert FlowLoss(oracle)(generated, reference).item() == pytest.approx(expected, rel=1e-6)
    assert FlowLoss(oracle)(reference, reference).item() == 0


def test_flow_loss_back_propagates_through_the_network_to_the_generated_frames(supervisor):
    reference = square_clip(2)
    generated = (reference + 0.05 * torch.rand_like(reference)).clamp(0, 1).requires_grad_(True)
    loss = FlowLoss(supervisor)(generated, reference)
    loss.backward()
    assert loss.item() > 0 and generated.grad.abs().sum() > 0


def test_training_with_the_temporal_loss_lowers_e_warp(supervisor):
    torch.manual_seed(0)
    clean = square_clip(4, size=(48, 64)).unsqueeze(0)
    noisy = (clean + 0.15 * torch.randn_like(clean)).clamp(0, 1)
    model = nn.Conv2d(3, 3, 5, padding=2)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[:, :, 2, 2] = torch.eye(3)  # the identity: outputs start as the noisy frames
        model.bias.zero_()
    temporal = TemporalConsistencyLoss(FlowSupervisor(supervisor.network, grad=False))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)

    def e_warp() -> float:
        metric = WarpingError(temporal.supervisor)
        with torch.no_grad():
            metric.update(model(noisy[0]), reference=clean[0])
        return metric.compute().item()

    start = e_warp()
    for _ in range(15):
        optimizer.zero_grad()
        loss = temporal(model(noisy[0]).unsqueeze(0), clean)
        loss.backward()
        optimizer.step()
    assert e_warp() < 0.7 * start  # measured: 0.031 -> 0.018
