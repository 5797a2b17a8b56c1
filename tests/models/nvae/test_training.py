"""NVAE training: the objective's pure functions against hand computations, the Lightning
module (one real step, schedules, checkpoints), ``zoo fit`` end to end on real MNIST, fine-tuning
and resuming, the configs, and the bundled ``nvae.mnist-cpu`` model with its demo."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml

from tests.support.first_step import FirstStep
from zoo.models.nvae.objective import kl_balancer, kl_balancer_coeff, kl_coeff, learning_rate, regularizer_coeff

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs" / "nvae"

TINY = {"image_size": 32, "image_channels": 1, "decoder_distribution": "bernoulli", "crop_border": 2,
        "arch_instance": "res_bnswish", "num_channels_enc": 4, "num_channels_dec": 4,
        "num_latent_scales": 2, "num_groups_per_scale": 2, "ada_groups": True, "num_latent_per_group": 2,
        "num_preprocess_blocks": 1, "num_preprocess_cells": 1, "num_postprocess_blocks": 1,
        "num_postprocess_cells": 1, "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1,
        "use_se": True, "res_dist": True, "num_nf": 0}


# ------------------------------------------------------------------------ objective


def test_kl_coeff_follows_the_official_warm_up():
    # 1000 iterations: constant for 0.1 steps, linear over 300 steps, floor 1e-4.
    assert kl_coeff(0, 300.0, 0.1, 1e-4) == 1e-4
    assert kl_coeff(151, 300.0, 0.1, 1e-4) == pytest.approx(150.9 / 300)
    assert kl_coeff(300, 300.0, 0.1, 1e-4) == pytest.approx(299.9 / 300)
    assert kl_coeff(301, 300.0, 0.1, 1e-4) == 1.0
    assert kl_coeff(5000, 300.0, 0.1, 1e-4) == 1.0
    assert kl_coeff(10, 0.0, 0.0, 1e-4) == 1.0


def test_kl_balancer_coeff_square_by_hand():
    # Encoder order [10, 5]: decoder order is 5 coarse groups (side 1), then 10 (side 2):
    # 1/5 and 4/10, divided by the minimum 1/5 -> 1 and 2.
    alpha = kl_balancer_coeff([10, 5], "square")
    assert alpha.tolist() == [1.0] * 5 + [2.0] * 10
    # Three scales [4, 2, 1]: 1/1, 4/2, 16/4 -> 1, 2, 4.
    assert kl_balancer_coeff([4, 2, 1], "square").tolist() == [1.0] + [2.0] * 2 + [4.0] * 4
    assert kl_balancer_coeff([2, 2], "linear").tolist() == [1.0, 1.0, 2.0, 2.0]
    assert kl_balancer_coeff([1, 1], "sqrt").tolist() == pytest.approx([1.0, math.sqrt(2)])
    assert kl_balancer_coeff([3, 2], "equal").tolist() == [1.0] * 5
    with pytest.raises(ValueError, match="cube"):
        kl_balancer_coeff([2], "cube")


def test_kl_balancer_matches_a_hand_computation():
    kl_all = torch.tensor([[1.0, 3.0], [-2.0, 6.0], [0.0, 0.0]], dtype=torch.float64)  # (G=3, B=2)
    alpha = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    beta = 0.5
    weighted, coeffs, kl_vals = kl_balancer(kl_all, beta, alpha)
    # k = mean |KL| + 0.01 = [2.01, 4.01, 0.01]; k / alpha = [2.01, 2.005, 0.005]
    ratio = torch.tensor([2.01, 2.005, 0.005], dtype=torch.float64)
    expected_coeffs = 3 * ratio / ratio.sum()
    assert torch.allclose(coeffs, expected_coeffs)
    assert coeffs.mean().item() == pytest.approx(1.0)
    assert torch.allclose(kl_vals, torch.tensor([2.0, 2.0, 0.0], dtype=torch.float64))
    expected = beta * (expected_coeffs[:, None] * kl_all).sum(0)
    assert torch.allclose(weighted, expected)


def test_kl_balancer_is_plain_sum_after_warm_up_and_passes_gradients():
    kl_all = torch.tensor([[1.0, 3.0], [2.0, 6.0]], requires_grad=True)
    weighted, coeffs, _ = kl_balancer(kl_all, 1.0, torch.ones(2))
    assert weighted.tolist() == [3.0, 9.0]
    assert coeffs.tolist() == [1.0, 1.0]
    weighted, coeffs, _ = kl_balancer(kl_all, 0.3, torch.tensor([1.0, 2.0]))
    weighted.sum().backward()
    # the coefficients are constants for the gradient: d/dKL_gb = beta * c_g
    assert torch.allclose(kl_all.grad, 0.3 * coeffs[:, None].expand(2, 2))
    with pytest.raises(ValueError, match="alpha"):
        kl_balancer(kl_all.detach(), 0.3, torch.ones(3))
    with pytest.raises(ValueError, match="groups, batch"):
        kl_balancer(torch.ones(3), 0.3, torch.ones(3))


def test_regularizer_coeff_log_interpolates():
    assert regularizer_coeff(0.3, 1e-2) == 1e-2
    assert regularizer_coeff(0.0, 1e-2, 1.0) == pytest.approx(1.0)
    assert regularizer_coeff(1.0, 1e-2, 1.0) == pytest.approx(1e-2)
    assert regularizer_coeff(0.5, 1e-2, 1.0) == pytest.approx(1e-1)  # geometric midpoint
    with pytest.raises(ValueError, match="weight_decay_norm_init"):
        regularizer_coeff(0.5, 0.0, 1.0)


def test_learning_rate_warm_up_then_epoch_cosine():
    # 10 steps per epoch, 12 epochs, 2 warm-up epochs: 20 warm-up steps, cosine period 9 epochs.
    lr = lambda step: learning_rate(step, 10, 12, 2, 1e-2, 1e-4)
    assert lr(0) == 0.0
    assert lr(5) == pytest.approx(1e-2 * 5 / 20)
    assert lr(19) == pytest.approx(1e-2 * 19 / 20)
    assert lr(20) == pytest.approx(1e-2)  # epoch 2: first epoch after warm-up, full rate
    assert lr(29) == pytest.approx(1e-2)  # constant within an epoch
    t = 4  # epoch 6
    assert lr(65) == pytest.approx(1e-4 + 0.5 * (1e-2 - 1e-4) * (1 + math.cos(math.pi * t / 9)))
    assert lr(110) == pytest.approx(1e-4)  # last epoch: the minimum
    assert lr(500) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        learning_rate(0, 0, 12, 2, 1e-2, 1e-4)


def test_kl_coeff_with_short_anneals():
    """``clip((step - constant) / anneal, min, 1)`` for any positive anneal length, even below 1."""
    assert kl_coeff(0, 1.0, 0.0, 1e-4) == 1e-4
    assert kl_coeff(0, 0.5, -0.25, 1e-4) == 0.5
    assert kl_coeff(1, 1.0, 0.0, 1e-4) == 1.0


def test_kl_balancer_coeff_default_and_exact_ratios():
    """Encoder order [1, 1, 7]: 7 groups of side 1 (1/7), then sides 2 and 4 (4 and 16): 1, 28, 112,
    exact (computed in float64 before the float32 result)."""
    assert kl_balancer_coeff([1, 1, 7]).tolist() == [1.0] * 7 + [28.0, 112.0]
    assert kl_balancer_coeff([1, 1, 7]).dtype == torch.float32


def test_kl_balancer_keeps_the_dtype_of_the_kl_and_names_a_missing_alpha():
    kl_all = torch.tensor([[1.0, 3.0], [2.0, 6.0]], dtype=torch.float32)
    alpha = torch.tensor([1.0, 3.0], dtype=torch.float64)
    weighted, coeffs, _ = kl_balancer(kl_all, 0.5, alpha)
    assert weighted.dtype == coeffs.dtype == torch.float32
    ratio = torch.tensor([2.01, 4.01 / 3], dtype=torch.float32)
    torch.testing.assert_close(coeffs, 2 * ratio / ratio.sum())
    with pytest.raises(ValueError, match=r"^KL balancing needs alpha of shape \(2,\), got None$"):
        kl_balancer(kl_all, 0.5, None)
    with pytest.raises(ValueError, match=r"^KL balancing needs alpha of shape \(2,\), got \(3,\)$"):
        kl_balancer(kl_all, 0.5, torch.ones(3))


def test_regularizer_coeff_interpolates_the_logs_of_both_ends():
    # exp(0.25 log 0.1 + 0.75 log 0.01) = 0.1^0.25 * 0.01^0.75
    assert regularizer_coeff(0.75, 1e-2, 1e-1) == pytest.approx(0.1 ** 0.25 * 0.01 ** 0.75, rel=1e-12)
    with pytest.raises(ValueError, match="weight_decay_norm_init=0.0"):
        regularizer_coeff(0.5, 1e-2, 0.0)


def test_learning_rate_edge_schedules():
    # one step per epoch, no warm-up: the cosine starts at step 0
    assert learning_rate(0, 1, 3, 0, 1e-2, 1e-4) == pytest.approx(1e-2)
    # a cosine of period 1 (3 epochs, 1 of warm-up): the full rate, then the minimum
    assert learning_rate(10, 10, 3, 1, 1e-2, 1e-4) == pytest.approx(1e-2)
    assert learning_rate(20, 10, 3, 1, 1e-2, 1e-4) == pytest.approx(1e-4)


# ------------------------------------------------------------------------ the Lightning module


def _binary_digits(count: int, seed: int = 0) -> torch.Tensor:
    """``(count, 1, 32, 32)`` binary blobs inside the central 28 x 28 (stand-ins for digits)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(count, 1, 32, 32)
    x[:, :, 6:26, 8:24] = (torch.rand(count, 1, 20, 16, generator=g) < 0.4).float()
    return x


class _TinyData:
    """A LightningDataModule over random binary images (built lazily: pl imported in tests)."""

    @staticmethod
    def make(num_train: int = 12, batch_size: int = 4):
        import pytorch_lightning as pl
        from torch.utils.data import DataLoader, TensorDataset

        class TinyData(pl.LightningDataModule):
            def __init__(self) -> None:
                super().__init__()
                self.train = TensorDataset(_binary_digits(num_train), torch.zeros(num_train))
                self.val = TensorDataset(_binary_digits(4, seed=1), torch.zeros(4))

            def train_dataloader(self):
                return DataLoader(self.train, batch_size=batch_size, shuffle=True, drop_last=True)

            def val_dataloader(self):
                return DataLoader(self.val, batch_size=4)

            def test_dataloader(self):
                return DataLoader(self.val, batch_size=2)

        return TinyData()


def _trainer(tmp_path: Path, **kwargs):
    import pytorch_lightning as pl

    defaults = {"accelerator": "cpu", "devices": 1, "max_epochs": 2, "logger": False,
                "enable_progress_bar": False, "enable_model_summary": False,
                "enable_checkpointing": False, "default_root_dir": str(tmp_path)}
    return pl.Trainer(**{**defaults, **kwargs})


def _module(**hparams):
    from zoo.models.nvae.module import NVAEModule

    torch.manual_seed(0)
    return NVAEModule(config=TINY, **{"sample_every_n_steps": 0, **hparams})


def test_compute_loss_matches_an_independent_float64_computation():
    import copy

    module = _module(weight_decay_norm=1e-2, weight_decay_norm_anneal=True,
                     weight_decay_norm_init=1.0).double()
    reference = copy.deepcopy(module.network)  # same spectral power-iteration state
    x = _binary_digits(3).double()
    step, total = 40, 1000  # beta = (40 - 0.1) / 300
    torch.manual_seed(5)
    loss, terms = module.compute_loss(x, step, total)
    torch.manual_seed(5)
    out = reference(x)
    log_px = torch.distributions.Bernoulli(logits=out.logits).log_prob(x)[..., 2:30, 2:30]
    recon = -log_px.sum(dim=(1, 2, 3))
    kl = out.kl_all  # (G, B)
    beta = (40 - 0.1) / 300
    # alpha for encoder-order groups [2, 1]: decoder order 1 coarse group (1/1), 2 fine (4/2)
    alpha = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    k = kl.abs().mean(1) + 0.01
    c = (k / alpha) / (k / alpha).sum() * len(k)
    lam = math.exp((1 - beta) * math.log(1.0) + beta * math.log(1e-2))
    spectral = sum(torch.linalg.matrix_norm(
        (m.normalized_weight() if hasattr(m, "normalized_weight") else m.weight).flatten(1), 2)
        for m in reference.modules() if isinstance(m, torch.nn.Conv2d))
    bn = sum(m.weight.abs().max() for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d))
    expected = (recon + beta * (c[:, None] * kl).sum(0)).mean() + lam * (spectral + bn)
    assert torch.allclose(terms["reconstruction"], recon)
    assert terms["kl_coeff"].item() == pytest.approx(beta)
    assert terms["weight_decay_norm"].item() == pytest.approx(lam)
    assert torch.allclose(terms["kl_coeffs"], c)
    # the power iteration estimates sigma_max from below; 40+ iterations on tiny kernels converge
    assert loss.item() == pytest.approx(expected.item(), rel=1e-3)


def test_nonfinite_loss_is_named_skipped_then_fatal():
    module = _module(nonfinite_patience=1)
    x = _binary_digits(2)
    loss, terms = module.compute_loss(x, 0, 10)
    assert module.check_finite(loss, terms)
    with torch.no_grad():
        module.network.stem.log_weight_norm.fill_(float("nan"))
    loss, terms = module.compute_loss(x, 0, 10)
    with pytest.warns(RuntimeWarning, match="reconstruction"):
        assert not module.check_finite(loss, terms)
    with pytest.raises(FloatingPointError, match="spectral_norm"):
        module.check_finite(loss, terms)


def test_fit_uses_the_paper_optimiser_and_schedule_and_checkpoints_for_the_zoo(tmp_path):
    import zoo
    from zoo.models.nvae.objective import learning_rate

    module = _module(learning_rate=1e-2, learning_rate_min=1e-4, warmup_epochs=1)
    trainer = _trainer(tmp_path, max_epochs=3)
    trainer.fit(module, datamodule=_TinyData.make())  # 3 steps per epoch, 9 in all
    optimizer = trainer.optimizers[0]
    assert isinstance(optimizer, torch.optim.Adamax)
    assert optimizer.defaults["eps"] == 1e-3
    decayed, not_decayed = optimizer.param_groups
    assert decayed["weight_decay"] == 3e-4 and not_decayed["weight_decay"] == 0.0
    names = {id(p): n for n, p in module.network.named_parameters()}
    assert not_decayed["params"] and all(names[id(p)].endswith("log_weight_norm")
                                         for p in not_decayed["params"])
    assert len(decayed["params"]) + len(not_decayed["params"]) == len(names)
    # after 9 steps the scheduler has been stepped 9 times: the rate of step 9 (epoch 3)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate(9, 3, 3, 1, 1e-2, 1e-4))
    assert trainer.global_step == 9

    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    raw = torch.load(path, weights_only=False)
    assert raw["zoo"] == {"arch": "nvae", "config": module.network_config}
    assert raw["hyper_parameters"]["config"] == module.network_config
    network = zoo.load("nvae", weights=path)
    module.network.eval()
    x = _binary_digits(2)
    noise = [torch.randn(2, *module.network.latent_shape(g)) for g in range(module.network.num_groups)]
    assert torch.allclose(network(x, noise=noise).logits, module.network(x, noise=noise).logits)


def test_validation_and_test_log_elbo_and_importance_weighted_nll(tmp_path):
    module = _module(test_num_samples=3, val_num_samples=2)
    trainer = _trainer(tmp_path)
    val = trainer.validate(module, datamodule=_TinyData.make(), verbose=False)[0]
    assert val["val/nelbo"] > 0 and val["val/bpd"] == pytest.approx(
        val["val/nelbo"] / (math.log(2) * 28 * 28), rel=1e-5)
    assert val["val/nelbo"] == pytest.approx(val["val/reconstruction"] + val["val/kl"], rel=1e-5)
    # the importance-weighted bound is tighter than the ELBO on average (K=2 vs K=1)
    assert val["val/nll"] < val["val/nelbo"] + 5
    test = trainer.test(module, datamodule=_TinyData.make(), verbose=False)[0]
    assert math.isfinite(test["test/nll"]) and test["test/nll"] > 0


def test_sample_grid_writes_one_row_per_temperature(tmp_path):
    module = _module(sample_every_n_steps=2)
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(module, datamodule=_TinyData.make())
    from PIL import Image

    grids = sorted((tmp_path / "samples").glob("step_*.png"))
    assert [p.name for p in grids] == ["step_0000002.png"]
    image = Image.open(grids[0])
    assert image.size == (8 * 34 + 2, 3 * 34 + 2)


# ------------------------------------------------------------------------ configs and `zoo fit`

OFFICIAL_COMMANDS = {  # README: batch per process, epochs, lr, lambda, lambda_init, processes
    "mnist": (200, 400, 1e-2, 1e-2, None, 2),
    "cifar10": (32, 400, 1e-2, 1e-2, None, 8),
    "celeba64": (16, 90, 1e-2, 1e-1, None, 8),
    "celebahq256": (4, 300, 1e-2, 1e-2, 1.0, 24),
    "ffhq256": (4, 200, 8e-3, 1e-1, 1.0, 24),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_COMMANDS))
def test_preset_configs_follow_the_official_readme(name):
    from zoo.models.nvae.config import PRESETS, NVAEConfig

    cfg = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    batch, epochs, lr, lam, lam_init, processes = OFFICIAL_COMMANDS[name]
    model = cfg["model"]["init_args"]
    assert cfg["model"]["class_path"] == "zoo.models.nvae.module.NVAEModule"
    assert NVAEConfig(**model["config"]) == PRESETS[name]
    assert cfg["data"]["init_args"]["batch_size"] == batch
    assert cfg["trainer"]["max_epochs"] == epochs
    assert cfg["trainer"]["devices"] * cfg["trainer"].get("num_nodes", 1) == processes
    assert model["learning_rate"] == lr and model["learning_rate_min"] == 1e-4
    assert model["weight_decay_norm"] == lam and model["warmup_epochs"] == 5
    assert model.get("weight_decay_norm_anneal", False) == (lam_init is not None)
    if lam_init is not None:
        assert model["weight_decay_norm_init"] == lam_init


def _tiny_fit_config(tmp_path: Path, mnist_dir: Path) -> Path:
    cfg = yaml.safe_load((CONFIGS / "mnist-cpu.yaml").read_text())
    cfg["trainer"].update(max_epochs=1, limit_train_batches=3, limit_val_batches=2,
                          limit_test_batches=2, log_every_n_steps=1, enable_progress_bar=False,
                          default_root_dir=str(tmp_path / "run"))
    cfg["trainer"]["callbacks"] = [{"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                                    "init_args": {"save_last": True}}]
    cfg["model"]["init_args"].update(config=TINY, sample_every_n_steps=0, test_num_samples=2)
    cfg["data"]["init_args"].update(data_dir=str(mnist_dir), cache_dir=str(tmp_path / "cache"),
                                    batch_size=4)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_zoo_fit_fine_tune_and_resume_on_real_mnist(shared_dir, tmp_path):
    from safetensors.torch import load_file

    import zoo
    from zoo.cli import main
    from zoo.cli.train import run_lightning_cli
    from zoo.weights.checkpoint import save_weights

    mnist = shared_dir / "data" / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not in {mnist}")
    config = _tiny_fit_config(tmp_path, mnist)

    assert main(["fit", "--config", str(config)]) == 0
    last = next((tmp_path / "run").rglob("last.ckpt"))
    checkpoint = torch.load(last, weights_only=False)
    assert checkpoint["global_step"] == 3 and checkpoint["zoo"]["config"]["num_channels_enc"] == 4

    # resuming continues the run: 3 more steps, same optimiser state carried over
    cli = run_lightning_cli(["fit", "--config", str(config), "--trainer.max_epochs", "2",
                             "--ckpt_path", str(last)])
    assert cli.trainer.global_step == 6 and cli.trainer.current_epoch == 2

    # fine-tuning from our safetensors: the network starts from the file's weights
    weights = tmp_path / "tiny.safetensors"
    network = zoo.load("nvae", weights=last)
    save_weights(weights, network.state_dict(), arch="nvae", config=dict(TINY))
    cli = run_lightning_cli(["validate", "--config", str(config), "--model.weights", str(weights)])
    expected = load_file(str(weights))
    got = cli.model.network.state_dict()
    assert all(torch.equal(got[k], v) for k, v in expected.items())
    assert cli.trainer.callback_metrics["val/nelbo"] > 0

    # and from the Lightning checkpoint itself
    cli = run_lightning_cli(["test", "--config", str(config), "--model.weights", str(last)])
    got = cli.model.network.state_dict()
    assert all(torch.equal(got[k], v) for k, v in network.state_dict().items())
    assert math.isfinite(float(cli.trainer.callback_metrics["test/nll"]))


def _resumable_config(tmp_path: Path, mnist_dir: Path, name: str, kill_at: int | None = None) -> Path:
    """configs/nvae/mnist-cpu.yaml as shipped (its two ModelCheckpoints, no dirpath) shrunk to the
    tiny network and 3 steps per epoch, 2 epochs, run in ``tmp_path/run``; ``kill_at`` adds a
    callback that crashes the run after that step, before any checkpoint of it."""
    cfg = yaml.safe_load((CONFIGS / "mnist-cpu.yaml").read_text())
    cfg["trainer"].update(max_epochs=2, limit_train_batches=3, limit_val_batches=2, log_every_n_steps=1,
                          default_root_dir=str(tmp_path / "run"), deterministic=True)
    if kill_at is not None:
        cfg["trainer"]["callbacks"].append({"class_path": "tests.support.pwcnet_training_support.KillAtStep",
                                            "init_args": {"step": kill_at}})
    cfg["model"]["init_args"].update(config=TINY, sample_every_n_steps=0)
    cfg["data"]["init_args"].update(data_dir=str(mnist_dir), cache_dir=str(tmp_path / "cache"), batch_size=4)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_mnist_cpu_config_run_killed_resumes_with_ckpt_path_last(shared_dir, tmp_path, capsys, caplog):
    from zoo.cli import main

    mnist = shared_dir / "data" / "mnist"
    if not (mnist / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST is not in {mnist}")
    killed = _resumable_config(tmp_path, mnist, "killed.yaml", kill_at=5)
    resumed = _resumable_config(tmp_path, mnist, "run.yaml")
    assert main(["fit", "--config", str(killed)]) == 1  # killed in epoch 2, after epoch 1's last.ckpt
    assert capsys.readouterr().err.endswith("zoo: error: Killed: killed at step 5\n")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"  # <default_root_dir>/checkpoints, no version_N
    assert torch.load(last, weights_only=False)["global_step"] == 3
    caplog.set_level("INFO")
    assert main(["fit", "--config", str(resumed), "--ckpt_path", "last"]) == 0
    assert f"Restoring states from the checkpoint path at {last}" in caplog.text
    state = torch.load(last, weights_only=False)
    assert (state["global_step"], state["epoch"]) == (6, 1)  # epoch 2 run again from step 3
    assert sorted(p.name for p in last.parent.iterdir()) == ["best-epoch=01-step=000006.ckpt", "last.ckpt"]
    # the resumed run ends where the uninterrupted one does: same batches, same noise (seeded per
    # step, not from the global RNG the resume re-seeds); a tenth of one Adamax step of slack for
    # the last bits of parallel reductions (a different noise draw moves weights by whole steps)
    whole = _resumable_config(tmp_path / "whole", mnist, "whole.yaml")
    assert main(["fit", "--config", str(whole)]) == 0
    reference = torch.load(tmp_path / "whole" / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    bound = 0.1 * reference["optimizer_states"][0]["param_groups"][0]["lr"]
    weights, expected = state["state_dict"], reference["state_dict"]
    assert weights.keys() == expected.keys()
    worst = max(float((weights[k].double() - v.double()).abs().max()) for k, v in expected.items()
                if v.is_floating_point())
    assert worst < bound, (worst, bound)
    assert all(torch.equal(weights[k], v) for k, v in expected.items() if not v.is_floating_point())


# ------------------------------------------------------------------------ the bundled model and demo

BUNDLED = ROOT / "zoo" / "weights" / "nvae-mnist-cpu.safetensors"


def test_drawn_digits_look_like_binarised_mnist():
    from zoo.cli.demo_nvae import draw_digits

    images = draw_digits(seed=3)
    assert list(images) == [f"digit_{d}" for d in range(10)] + ["noise"]
    for name, x in images.items():
        assert x.shape == (1, 32, 32)
        assert set(x.unique().tolist()) <= {0.0, 1.0}
        assert x[:, :2].sum() == 0 and x[:, -2:].sum() == 0  # MNIST's 2-pixel zero padding
        ink = x[0, 2:30, 2:30].mean().item()
        assert 0.03 < ink < 0.2, (name, ink)  # MNIST digits cover about 13 % on average
        if name != "noise":
            rows, cols = torch.nonzero(x[0], as_tuple=True)
            assert abs(rows.float().mean().item() - 15.5) < 2.5  # centred by mass
            assert abs(cols.float().mean().item() - 15.5) < 2.5
    assert torch.equal(draw_digits(seed=3)["digit_7"], images["digit_7"])


def test_nvae_demo_writes_the_grid_and_scores_digits(tmp_path):
    import numpy as np
    from PIL import Image

    import zoo
    from zoo.cli.demo_nvae import LABEL_WIDTH, draw_digits, nvae_demo
    from zoo.weights.checkpoint import save_weights

    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    network = zoo.load("nvae", **TINY)
    save_weights(weights, network.state_dict(), arch="nvae", config=dict(TINY))
    result = nvae_demo(tmp_path / "demo", weights=weights, num_importance_samples=4)
    image = Image.open(result["samples"])
    assert result["samples"] == tmp_path / "demo" / "nvae_samples.png"
    assert image.size == (LABEL_WIDTH + 2 * (8 * 34 + 2), 2 * (3 * 34 + 2)) and image.mode == "L"
    assert result["temperatures"] == [0.6, 0.8, 1.0]
    # each row is labelled with its temperature in the black column left of the samples: white text
    # inside the row's band, different text in each row, nothing outside the bands' middles
    labels = np.asarray(image)[:, :LABEL_WIDTH]
    row_height = image.size[1] / 3
    bands = [labels[round(row_height * (row + 0.5)) - 12:round(row_height * (row + 0.5)) + 12] for row in range(3)]
    assert all((band > 127).sum() > 20 for band in bands) and labels.sum() == sum(int(b.sum()) for b in bands)
    assert not np.array_equal(bands[0], bands[1]) and not np.array_equal(bands[1], bands[2])
    # the figures are the importance-weighted NLL of the drawn digits, as the network computes it
    images = draw_digits(0)
    x = torch.stack(list(images.values()))
    nll = result["nll_nats"]
    assert list(nll) == list(images)
    elbo = []
    network = zoo.load("nvae", weights=weights)
    with torch.no_grad():
        for _ in range(8):
            out = network(x)
            elbo.append(network.reconstruction_log_likelihood(out.logits, x) - out.kl_all.sum(0))
    mean_elbo = torch.stack(elbo).mean(0)
    for (name, value), bound in zip(nll.items(), mean_elbo):
        assert 0 < value <= -bound.item() + 1.0, name  # IW bound is tighter than the ELBO
    assert result["mean_digit_nll_nats"] == pytest.approx(
        sum(v for k, v in nll.items() if k != "noise") / 10)


@pytest.mark.skipif(not BUNDLED.is_file(), reason="the bundled nvae-mnist-cpu weights are absent")
def test_bundled_mnist_cpu_model_prefers_digits_to_noise(tmp_path):
    import zoo
    from zoo.cli.demo_nvae import nvae_demo
    from zoo.weights.checkpoint import read_checkpoint

    info = zoo.weights_info("nvae.mnist-cpu")
    assert info.bundled == "nvae-mnist-cpu.safetensors" and info.layout == "zoo"
    meta = read_checkpoint(BUNDLED)["zoo"]
    assert meta["arch"] == "nvae" and meta["config"] == dict(info.config)
    assert {"recipe", "epochs", "hardware", "wall_time_hours", "validation"} <= set(meta["info"])
    result = nvae_demo(tmp_path, num_importance_samples=20)
    digits = [v for k, v in result["nll_nats"].items() if k != "noise"]
    assert max(digits) < result["nll_nats"]["noise"]
    # the demo reports the bundled model's importance-weighted NLL (K = 20, training-time batch
    # norm) of its drawn digits: an estimate of our own with other noise agrees within 1.5 nats on
    # the mean of the ten (its seed-to-seed spread is ~0.3 nats)
    from zoo.cli.demo_nvae import draw_digits

    images = torch.stack([v for k, v in draw_digits(0).items() if k != "noise"])
    ours = -zoo.load("nvae.mnist-cpu").log_likelihood(images, 20, generator=torch.Generator().manual_seed(99))
    assert result["mean_digit_nll_nats"] == pytest.approx(ours.mean().item(), abs=1.5)


def test_readme_names_log_likelihood_for_what_it_returns():
    import zoo

    vae = zoo.load("nvae.mnist-cpu")
    grey = vae.sample(3, temperature=0.6, generator=torch.Generator().manual_seed(0))
    digits = torch.bernoulli(grey, generator=torch.Generator().manual_seed(2))  # the README's binarisation
    with torch.no_grad():
        log_px = vae.log_likelihood(digits, num_samples=2, generator=torch.Generator().manual_seed(1))
    assert log_px.shape == (3,) and (log_px < 0).all()  # log p(x) of binary images: negative nats
    readme = (ROOT / "README.md").read_text()
    assert "log_px = vae.log_likelihood(torch.bernoulli(x)" in readme and "nll = -log_px" in readme
    assert "nll = vae.log_likelihood(" not in readme


def test_fine_tune_from_an_official_checkpoint_pt(shared_dir, tmp_path):
    import zoo
    from tests.support.nvae_recipe import write_official_checkpoint
    from zoo.models.nvae.module import NVAEModule

    path = write_official_checkpoint(shared_dir / "fixtures" / "nvae" / "tiny-mnist",
                                     tmp_path / "checkpoint.pt")
    module = zoo.load_module("nvae", weights=path, learning_rate=1e-3, sample_every_n_steps=0)
    assert isinstance(module, NVAEModule) and module.hparams.weights == str(path)
    reference = zoo.load("nvae", weights=path)
    assert module.network_config == {**reference.config.to_dict()}
    assert all(torch.equal(module.network.state_dict()[k], v)
               for k, v in reference.state_dict().items())
    before = {k: v.clone() for k, v in module.network.state_dict().items()}
    _trainer(tmp_path, max_steps=2).fit(module, datamodule=_TinyData.make())
    changed = [k for k, v in module.network.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])]
    assert changed and all(torch.isfinite(v).all() for v in module.network.state_dict().values()
                           if v.is_floating_point())


def test_bf16_mixed_step_is_close_to_the_float32_step(tmp_path):
    """Same weights, batch and noise: the bf16 autocast loss is within 0.1 % of float32's and its
    gradient within 1 % in norm (measured: 0.005 % and 0.26 %); the weights stay float32 and the
    optimiser moves them."""
    runs = {}
    for precision in ("32-true", "bf16-mixed"):
        module, record = _module(learning_rate=1e-2, learning_rate_min=1e-4, warmup_epochs=1), FirstStep()
        before = {k: v.clone() for k, v in module.network.state_dict().items() if v.is_floating_point()}
        torch.manual_seed(1)  # the same shuffle and the same posterior noise
        trainer = _trainer(tmp_path / precision, max_epochs=1, precision=precision, callbacks=[record])
        trainer.fit(module, datamodule=_TinyData.make())
        runs[precision] = record
    exact, mixed = runs["32-true"], runs["bf16-mixed"]
    assert mixed.loss == pytest.approx(exact.loss, rel=1e-3)
    assert ((mixed.grads - exact.grads).norm() / exact.grads.norm()).item() < 0.01
    assert trainer.global_step == 3
    after = module.network.state_dict()
    assert all(after[k].dtype == torch.float32 and torch.isfinite(after[k]).all() for k in before)
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the optimiser moved them
