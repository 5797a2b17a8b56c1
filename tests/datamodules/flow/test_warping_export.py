"""``warp`` and ``occlusion_mask`` under ``torch.compile`` (inductor) and exported to ONNX, against eager."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from torch import nn

from zoo.datamodules.flow.warping import occlusion_mask, warp


def _inputs():
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 12, 16, generator=generator)
    forward = (torch.rand(2, 2, 12, 16, generator=generator) - 0.5) * 6
    backward = -forward + 0.3 * torch.rand(2, 2, 12, 16, generator=generator)
    return image, forward, backward


class _WarpAndMask(nn.Module):
    def forward(self, image, forward, backward):
        warped, valid = warp(image, forward)
        return warped, valid, occlusion_mask(forward, backward)


@pytest.mark.skipif(shutil.which("gcc") is None and shutil.which("cc") is None,
                    reason="torch.compile (inductor) on CPU needs a C compiler")
def test_compiled_warp_and_mask_match_eager():
    torch._dynamo.reset()
    try:
        compiled = torch.compile(_WarpAndMask(), fullgraph=True)
        inputs = _inputs()
        for got, expected in zip(compiled(*inputs), _WarpAndMask()(*inputs)):
            assert got.dtype == expected.dtype
            # float32: fused kernels may round the coordinates differently, by an ulp or so
            torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    finally:
        torch._dynamo.reset()


def test_onnx_export_of_warp_and_mask_matches_eager(tmp_path):
    pytest.importorskip("onnxscript", reason="ONNX export needs the export extra: pip install -e '.[test,export]'")
    ort = pytest.importorskip("onnxruntime", reason="ONNX tests need the export extra: pip install -e '.[test,export]'")
    from zoo.publish.onnx_export import OPSET

    inputs = _inputs()
    path = tmp_path / "warp.onnx"
    program = torch.onnx.export(_WarpAndMask().eval(), inputs, dynamo=True, input_names=["image", "forward", "backward"],
                                output_names=["warped", "valid", "visible"], opset_version=OPSET, verbose=False)
    program.save(str(path), external_data=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: tensor.numpy() for name, tensor in zip(["image", "forward", "backward"], inputs)})
    expected = [t.numpy() for t in _WarpAndMask()(*inputs)]
    np.testing.assert_allclose(got[0], expected[0], rtol=0, atol=1e-5)  # float32 sampling in another runtime
    np.testing.assert_array_equal(got[1], expected[1])
    # the mask thresholds float sums: a pixel within rounding of the threshold may flip; none does here
    np.testing.assert_array_equal(got[2], expected[2])
