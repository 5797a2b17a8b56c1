"""zoo.supervision with wrong input: one clear ValueError / FileNotFoundError naming what is wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.support.square_scene import SquareFlowOracle, square_clip
from zoo.supervision import FlowLoss, FlowSupervisor, TemporalConsistencyLoss, WarpingError

pytestmark = pytest.mark.hostile


def _oracle(grad: bool = False) -> FlowSupervisor:
    return FlowSupervisor(SquareFlowOracle(), grad=grad)


@pytest.mark.parametrize("clip, reference, message", [
    (torch.rand(3, 8, 8), None, r"clip must be a float \(T, C, H, W\) clip"),
    (torch.rand(1, 3, 8, 8), None, "clip must hold at least 2 frames, got 1"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), None, "clip must be a float"),
    (torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8), "clip and reference must have the same shape"),
    (torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 9), "clip and reference must have the same shape"),
    ([[0.0]], None, "got list"),
])
def test_warping_error_refuses_bad_clips(clip, reference, message):
    with pytest.raises(ValueError, match=message):
        WarpingError(_oracle()).update(clip, reference)


def test_losses_refuse_clips_of_different_shapes():
    with pytest.raises(ValueError, match="must share B, T, H and W"):
        TemporalConsistencyLoss(_oracle())(torch.rand(1, 3, 3, 8, 8), torch.rand(1, 2, 3, 8, 8))
    with pytest.raises(ValueError, match="generated and reference must have the same shape"):
        FlowLoss(_oracle(grad=True))(torch.rand(2, 3, 8, 8), torch.rand(3, 3, 8, 8))


def test_temporal_loss_takes_frames_or_flows_that_fit():
    temporal = TemporalConsistencyLoss(_oracle())
    outputs = torch.rand(3, 3, 8, 8)
    with pytest.raises(ValueError, match="give either frames or flows"):
        temporal(outputs)
    with pytest.raises(ValueError, match="give either frames or flows"):
        temporal(outputs, outputs, flows=temporal.flows(outputs))
    with pytest.raises(ValueError, match=r"flows \(1, 2, 8, 8\) do not fit outputs \(1, 3, 3, 8, 8\)"):
        temporal(outputs, flows=temporal.flows(outputs[:2]))


def test_flow_loss_refuses_a_supervisor_without_gradient():
    with pytest.raises(ValueError, match="FlowLoss needs a FlowSupervisor with grad=True"):
        FlowLoss(_oracle(grad=False))


def test_supervisor_refuses_weights_of_another_architecture_and_missing_files(tmp_path):
    with pytest.raises(ValueError, match="belong to 'nvae', not 'pwcnet'"):
        FlowSupervisor("nvae.mnist-cpu")
    with pytest.raises(FileNotFoundError, match="missing.safetensors does not exist"):
        FlowSupervisor(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="FlowSupervisor needs a PWC-Net, got a Linear"):
        FlowSupervisor(nn.Linear(2, 2))


def test_supervisor_refuses_float16_on_cpu():
    with pytest.raises(ValueError, match="precision 'float16' needs a CUDA device"):
        FlowSupervisor(SquareFlowOracle(), precision="float16")


def test_warping_error_of_a_clip_with_nothing_visible_is_zero_not_nan():
    # every pixel leaves the frame: no visible pixel, E_pair 0 (Lai et al.'s code divides by all pixels then)
    class Away(SquareFlowOracle):
        def forward(self, image1, image2):
            return torch.full((image1.shape[0], 2, *image1.shape[2:]), 1000.0) + self.anchor * 0

    metric = WarpingError(FlowSupervisor(Away(), grad=False), with_occlusion_share=True)
    metric.update(square_clip(2))
    result = metric.compute()
    assert result["e_warp"].item() == 0 and result["occlusion_share"].item() == 1


def test_a_nan_frame_gives_nan_flow_and_a_nan_loss_not_a_silent_number():
    # the supervisor does not look at the frames (that would synchronise): NaN must show in its output instead
    supervisor = FlowSupervisor("pwcnet.synth")
    clip = torch.rand(2, 3, 32, 48)
    clip[1, :, 5, 7] = float("nan")
    flow = supervisor(clip[:1], clip[1:])
    assert torch.isnan(flow).any()
    assert torch.isnan(FlowLoss(supervisor)(clip, torch.rand(2, 3, 32, 48)))
