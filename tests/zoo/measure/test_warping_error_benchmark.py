"""The label-free warping error that benchmarks/pwcnet_synth_eval.py reports on a real Sintel pair."""

from __future__ import annotations

import torch

from benchmarks.pwcnet_synth_eval import warping_error


def test_warping_error_of_a_known_shift():
    torch.manual_seed(0)
    image2 = torch.rand(3, 20, 30, dtype=torch.float64)
    image1 = torch.zeros_like(image2)
    image1[:, :, :27] = image2[:, :, 3:]  # frame-1 pixel x shows frame-2 pixel x + 3: u = +3
    flow = torch.zeros(2, 20, 30)
    flow[0] = 3
    error, zero = warping_error(image1, image2, flow)
    assert error < 1e-12  # the true flow explains frame 1 exactly where it lands inside frame 2
    # zero flow, by hand, over the same 27 columns: |frame 2 at x - frame 2 at x + 3|
    expected = 255 * (image2[:, :, :27] - image2[:, :, 3:]).abs().mean()
    assert abs(zero - float(expected)) < 1e-9
