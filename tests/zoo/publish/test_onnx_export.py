"""ONNX export (``zoo export --format onnx``) run with onnxruntime on CPU against PyTorch.

Needs the ``export`` extra (``pip install -e ".[test,export]"``); skipped with the reason otherwise.
"""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.models.nvae.graphs import PosteriorGraph, example_noise, noise_names
from zoo.publish.onnx_export import OPSET

onnx = pytest.importorskip("onnx", reason="ONNX export needs the export extra: pip install -e '.[test,export]'")
ort = pytest.importorskip("onnxruntime", reason="ONNX tests need the export extra: pip install -e '.[test,export]'")
pytest.importorskip("onnxscript", reason="ONNX export needs the export extra: pip install -e '.[test,export]'")


def _session(path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def pwcnet_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("onnx") / "pwcnet.onnx"
    assert main(["export", "pwcnet.synth", "--format", "onnx", "--size", "384", "512", "-o", str(path)]) == 0
    return path


def test_pwcnet_onnx_matches_pytorch_at_384x512(pwcnet_onnx):
    model = onnx.load(str(pwcnet_onnx))
    assert [(o.domain, o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] == [("", OPSET)]
    ops = collections.Counter(node.op_type for node in model.graph.node)
    assert ops["GridSample"] == 8  # 4 warped levels x (features, coverage mask)
    shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert shapes == {"image1": [1, 3, 384, 512], "image2": [1, 3, 384, 512]}

    item = SyntheticFlow(size=(384, 512), length=1, seed=7)[0]  # the demo's held-out pair
    image1, image2 = item["image1"][None], item["image2"][None]
    (flow,) = _session(pwcnet_onnx).run(None, {"image1": image1.numpy(), "image2": image2.numpy()})
    with torch.no_grad():
        reference = zoo.load("pwcnet.synth")(image1, image2).numpy()
    assert flow.shape == (1, 2, 384, 512)
    assert np.linalg.norm(flow - reference, axis=1).mean() <= 0.01  # mean EPE between the two, px
    truth = item["flow"].numpy()[None]
    assert abs(np.linalg.norm(flow - truth, axis=1).mean() - np.linalg.norm(reference - truth, axis=1).mean()) < 1e-3


def test_pwcnet_dynamic_onnx_takes_other_batches_and_sizes(tmp_path):
    path = tmp_path / "dynamic.onnx"
    with warnings.catch_warnings(record=True) as caught:  # no raw library warning reaches the command's output
        warnings.simplefilter("always")
        zoo.export_onnx("pwcnet.synth", path, size=(64, 128), dynamic=True)
    assert [str(w.message) for w in caught] == []
    session, network = _session(path), zoo.load("pwcnet.synth")
    generator = torch.Generator().manual_seed(0)
    for shape in ((1, 3, 64, 128), (3, 3, 128, 64), (2, 3, 192, 256)):
        image1, image2 = torch.rand(shape, generator=generator), torch.rand(shape, generator=generator)
        (flow,) = session.run(None, {"image1": image1.numpy(), "image2": image2.numpy()})
        with torch.no_grad():
            reference = network(image1, image2).numpy()
        assert flow.shape == (shape[0], 2, *shape[2:])
        assert np.abs(flow - reference).max() < 1e-3, shape


def test_nvae_sampling_graph_matches_sample_logits(tmp_path):
    path = tmp_path / "sample.onnx"
    assert main(["export", "nvae.mnist-cpu", "--format", "onnx", "--part", "sample", "--dynamic", "-o", str(path)]) == 0
    vae = zoo.load("nvae.mnist-cpu")
    session = _session(path)
    assert [i.name for i in session.get_inputs()] == noise_names(vae) and [o.name for o in session.get_outputs()] == ["logits"]
    noise = example_noise(vae, 3, torch.Generator().manual_seed(1))  # batch 3: the graph's batch is free
    for temperature in (1.0, 0.7):  # temperature t is the same graph fed t * noise
        (logits,) = session.run(None, {name: (temperature * eps).numpy() for name, eps in zip(noise_names(vae), noise)})
        with torch.no_grad():
            reference = vae.sample_logits(3, temperature, noise=noise).numpy()
        assert logits.shape == (3, 1, 32, 32)
        np.testing.assert_allclose(logits, reference, rtol=1e-4, atol=1e-4)


def test_nvae_posterior_graph_matches_forward(tmp_path):
    path = tmp_path / "posterior.onnx"
    zoo.export_onnx("nvae.mnist-cpu", path, part="posterior", batch_size=2)
    vae = zoo.load("nvae.mnist-cpu")
    generator = torch.Generator().manual_seed(2)
    x = (torch.rand(2, 1, 32, 32, generator=generator) > 0.5).float()
    noise = example_noise(vae, 2, generator)
    outputs = _session(path).run(None, {"x": x.numpy(), **{n: e.numpy() for n, e in zip(noise_names(vae), noise)}})
    with torch.no_grad():
        reference = [t.numpy() for t in PosteriorGraph(vae)(x, *noise)]
    names = ("logits", "log_q", "log_p", "kl")
    assert [o.shape for o in outputs] == [(2, 1, 32, 32), (2,), (2,), (vae.num_groups, 2)]
    for name, got, expected in zip(names, outputs, reference):
        # log densities are sums over ~10^3 latents of magnitude ~1: relative float32 agreement
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3, err_msg=name)


@pytest.mark.parametrize("argv, message", [
    (["nvae.mnist-cpu", "--size", "32", "32"], "--size applies to flow networks"),
    (["nvae.mnist-cpu", "--part", "flow"], "--part 'flow' is not a graph of nvae"),
    (["pwcnet.synth", "--dynamic", "--size", "100", "128"], "multiples of 64"),
    (["pwcnet.synth", "--fp32"], "--info, --fp32: only with --format safetensors"),
])
def test_bad_onnx_arguments_give_one_line_errors(tmp_path, capsys, argv, message):
    assert main(["export", *argv, "--format", "onnx", "-o", str(tmp_path / "x.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.onnx").exists()


def test_safetensors_export_of_a_registry_name_keeps_its_record(tmp_path, capsys):
    path = tmp_path / "synth.safetensors"
    assert main(["export", "pwcnet.synth", "-o", str(path), "--fp32"]) == 0
    assert main(["export", "pwcnet.synth", "-o", str(path), "--dynamic"]) == 1
    assert "--dynamic: only with --format onnx" in capsys.readouterr().err
    exported = zoo.load("pwcnet", weights=path)
    assert exported.zoo_record.weights.license.startswith("Apache-2.0")
    frames = torch.rand(2, 1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(exported(*frames), zoo.load("pwcnet.synth")(*frames))
