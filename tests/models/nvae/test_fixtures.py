"""NVAE against the official implementation's numbers (``../shared/fixtures/nvae``).

For each tiny config an official-format ``checkpoint.pt`` is rebuilt from the weight recipe,
loaded through ``zoo.load`` exactly as a user loads the released files, and every reference
array is reproduced in float64: eval-mode posterior passes with zero and with given noise,
prior samples at temperature 0 and 0.8, and a train-mode (batch statistics) pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from tests.support.nvae_recipe import TINY_CONFIGS, recipe_state_dict, write_official_checkpoint

RTOL = 1e-9  # relative to each array's largest magnitude (RECIPE.md 4.4)


@pytest.fixture(scope="module", params=TINY_CONFIGS)
def case(request, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    fixture = shared_dir / "fixtures" / "nvae" / request.param
    path = write_official_checkpoint(fixture, tmp_path_factory.mktemp("nvae") / "checkpoint.pt")
    reference = dict(np.load(fixture / "reference.npz"))
    return request.param, path, reference


def _load(path: Path) -> torch.nn.Module:
    return zoo.load("nvae", weights=path).double()


def assert_close(name: str, ours: torch.Tensor, ref: np.ndarray) -> None:
    ours = ours.detach().numpy()
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != {ref.shape}"
    scale = max(np.abs(ref).max(), 1e-300)
    error = np.abs(ours - ref).max() / scale
    assert error <= RTOL, f"{name}: max error {error:.3g} x max|ref| (tolerance {RTOL})"


def _moments(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``(G, 2, B, C)``: sum and sum of squares over space, as the fixture stores them."""
    return torch.stack([torch.stack([t.sum((2, 3)), (t * t).sum((2, 3))]) for t in tensors])


def check_logits(prefix: str, logits: torch.Tensor, ref: dict[str, np.ndarray]) -> None:
    if prefix + "logits" in ref:
        assert_close(prefix + "logits", logits, ref[prefix + "logits"])
        return
    idx = torch.from_numpy(ref["logits_sel_index"])
    assert_close(prefix + "logits_chsum", logits.sum((2, 3)), ref[prefix + "logits_chsum"])
    assert_close(prefix + "logits_pixsum", logits.sum(1), ref[prefix + "logits_pixsum"])
    assert_close(prefix + "logits_sumsq", (logits * logits).sum((1, 2, 3)), ref[prefix + "logits_sumsq"])
    assert_close(prefix + "logits_sel", logits[:, :, idx][:, :, :, idx], ref[prefix + "logits_sel"])


def check_posterior_pass(prefix: str, network, out, x: torch.Tensor, ref: dict[str, np.ndarray]) -> None:
    check_logits(prefix, out.logits, ref)
    groups = out.groups
    expected = {
        "log_q": out.log_q, "log_p": out.log_p, "kl_all": out.kl_all, "kl_diag": out.kl_diag,
        "log_q_groups": torch.stack([g.log_q for g in groups]),
        "log_p_groups": torch.stack([g.log_p for g in groups]),
        "grp_q_mu": _moments([g.posterior.mu for g in groups]),
        "grp_q_sigma": _moments([g.posterior.sigma for g in groups]),
        "grp_p_mu": _moments([g.prior.mu for g in groups]),
        "grp_p_sigma": _moments([g.prior.sigma for g in groups]),
        "grp_z_pre": _moments([g.z_before_flow for g in groups]),
        "grp_z": _moments([g.z for g in groups]),
    }
    recon = network.reconstruction_log_likelihood(out.logits, x)
    expected.update({
        "recon_logp_map": network.output_distribution(out.logits).log_prob(x),
        "recon_ll": recon,
        "nelbo": -recon + out.kl_all.sum(0),
        "log_iw": recon - out.log_q + out.log_p,
    })
    for name, ours in expected.items():
        assert_close(prefix + name, ours, ref[prefix + name])


def _noise(ref: dict[str, np.ndarray], prefix: str) -> list[torch.Tensor]:
    count = sum(1 for k in ref if k.startswith(prefix + "_eps_g"))
    return [torch.from_numpy(ref[f"{prefix}_eps_g{i}"]).double() for i in range(count)]


def test_recipe_reproduced_bit_for_bit(shared_dir: Path) -> None:
    fixture = shared_dir / "fixtures" / "nvae" / "tiny-mnist"
    state = recipe_state_dict(json.loads((fixture / "keys.json").read_text()))
    for key, digest, _ in json.loads((fixture / "recipe_check.json").read_text()):
        tensor = state[key].contiguous()
        assert hashlib.sha256(tensor.numpy().tobytes()).hexdigest() == digest, key


@torch.no_grad()
def test_eval_mode_posterior_passes(case) -> None:
    _name, path, ref = case
    network = _load(path)
    x = torch.from_numpy(ref["x"])
    check_posterior_pass("eval0_", network, network(x, temperature=0.0), x, ref)
    check_posterior_pass("evaleps_", network, network(x, noise=_noise(ref, "evaleps")), x, ref)


@torch.no_grad()
def test_prior_samples(case) -> None:
    _name, path, ref = case
    network = _load(path)
    check_logits("sample0_", network.sample_logits(2, temperature=0.0), ref)
    check_logits("sampleeps_", network.sample_logits(2, 0.8, noise=_noise(ref, "sampleeps")), ref)


@torch.no_grad()
def test_train_mode_posterior_pass(case) -> None:
    _name, path, ref = case
    network = _load(path).train()
    x = torch.from_numpy(ref["x"])
    check_posterior_pass("train0_", network, network(x, temperature=0.0), x, ref)
