"""PWCNetModule: loss wiring, optimiser and schedules, validation metrics, checkpoints, the zoo CLI.

Everything runs on tiny synthetic crops (64x64 to 128x128) for a few steps.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import yaml
from torch.utils.data import DataLoader

from tests.support.first_step import FirstStep
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.models.pwcnet.loss import feature_matching_loss, multiscale_loss
from zoo.models.pwcnet.module import SCHEDULES, PWCNetModule, flow_panel

ROOT = Path(__file__).resolve().parents[3]
KEYS = ("image1", "image2", "flow", "valid")


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([item[k] for item in items]) for k in KEYS}


def loader(size=(64, 64), length=4, seed=0, batch_size=2) -> DataLoader:
    return DataLoader(SyntheticFlow(size=size, length=length, seed=seed, recipe="v1"), batch_size=batch_size, collate_fn=collate)


def trainer(tmp_path: Path, **kwargs) -> pl.Trainer:
    options = {"accelerator": "cpu", "devices": 1, "max_steps": 2, "logger": False, "enable_checkpointing": False,
               "enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0,
               "default_root_dir": tmp_path}
    options.update(kwargs)
    return pl.Trainer(**options)


def test_hyperparameters_are_plain_values_and_schedules_are_the_papers() -> None:
    module = PWCNetModule(config={"context": False}, weights="pwcnet.things", schedule="fine")
    hp = dict(module.hparams)
    assert hp["lr"] == 1e-5 and hp["milestones"] == [200_000, 300_000, 400_000, 500_000, 600_000]
    assert PWCNetModule().hparams.lr == 1e-4
    assert SCHEDULES["long"] == (1e-4, (400_000, 600_000, 800_000, 1_000_000, 1_200_000))
    plain = (type(None), bool, int, float, str, list, dict)

    def check(value):
        assert isinstance(value, plain), type(value)
        for v in (value.values() if isinstance(value, dict) else value if isinstance(value, list) else []):
            check(v)

    check(hp)
    assert module.network.context is None
    with pytest.raises(ValueError, match="schedule must be one of"):
        PWCNetModule(schedule="short")


def test_network_starts_from_the_official_msra_initialisation() -> None:
    torch.manual_seed(0)
    network = PWCNetModule().network
    for layer in (network.decoders["2"].convs[4], network.context[0], network.decoders["3"].upsample_features):
        inputs = layer.weight.shape[0 if isinstance(layer, torch.nn.ConvTranspose2d) else 1]
        fan_in = inputs * layer.weight.shape[2] * layer.weight.shape[3]
        assert layer.weight.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)
        assert layer.weight.mean().abs().item() < 0.1 * (2 / fan_in) ** 0.5
        assert torch.count_nonzero(layer.bias) == 0


def test_optimiser_decays_weights_only_and_halves_the_rate_at_milestones() -> None:
    module = PWCNetModule(lr=1e-3, milestones=[2, 4])
    setup = module.configure_optimizers()
    optimizer, scheduler = setup["optimizer"], setup["lr_scheduler"]["scheduler"]
    assert isinstance(optimizer, torch.optim.Adam) and setup["lr_scheduler"]["interval"] == "step"
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 4e-4 and plain["weight_decay"] == 0.0
    assert all(p.dim() == 4 for p in decayed["params"]) and all(p.dim() == 1 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(module.network.parameters()))
    rates = []
    for _ in range(6):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 2.5e-4])


def test_training_step_returns_the_papers_loss() -> None:
    torch.manual_seed(0)
    module = PWCNetModule()
    batch = collate([SyntheticFlow(size=(64, 128), length=2, seed=3, recipe="v1")[i] for i in range(2)])
    module.log = lambda *args, **kwargs: None  # not attached to a trainer
    loss = module.training_step(batch, 0)
    flows = module.network.forward_levels(batch["image1"], batch["image2"])
    expected, _ = multiscale_loss(flows, batch["flow"], batch["valid"])
    torch.testing.assert_close(loss, expected)
    batch["image1"] = batch["image1"][..., :100]
    batch["image2"] = batch["image2"][..., :100]
    with pytest.raises(ValueError, match="multiples of 64"):
        module.training_step(batch, 0)


def test_matching_weight_adds_the_feature_matching_term() -> None:
    torch.manual_seed(0)
    module = PWCNetModule(matching_weight=0.5, matching_temperature=0.1)
    batch = collate([SyntheticFlow(size=(64, 128), length=2, seed=3, recipe="v1")[i] for i in range(2)])
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    loss = module.training_step(batch, 0)
    network = module.network
    flows = network.forward_levels(batch["image1"], batch["image2"])
    paper, _ = multiscale_loss(flows, batch["flow"], batch["valid"])
    matching = feature_matching_loss(network.pyramid(batch["image1"]), network.pyramid(batch["image2"]),
                                     batch["flow"], batch["valid"], temperature=0.1)
    torch.testing.assert_close(logged["train/matching_loss"], matching)
    torch.testing.assert_close(loss, paper + 0.5 * matching)
    assert 0 < matching.item() < math.log(81) + 1  # a cross-entropy over 81 candidates, near chance at init


def test_validation_logs_epe_and_fl_all_per_dataset(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = PWCNetModule(val_names=["synth-a", "synth-b"])
    sets = [SyntheticFlow(size=(64, 96), length=3, seed=s, recipe="v1") for s in (5, 6)]
    metrics = trainer(tmp_path).validate(module, [DataLoader(s, batch_size=2, collate_fn=collate) for s in sets],
                                         verbose=False)
    logged = {k: v for d in metrics for k, v in d.items()}
    module.eval()
    for name, dataset in zip(("synth-a", "synth-b"), sets):
        errors, outliers = [], []
        for item in dataset:
            with torch.no_grad():
                pred = module.network(item["image1"][None], item["image2"][None])[0].double().numpy()
            gt = item["flow"].double().numpy()
            epe = np.sqrt(((pred - gt) ** 2).sum(0))
            mag = np.sqrt((gt ** 2).sum(0))
            errors.append(epe.ravel())
            outliers.append(((epe > 3) & (epe > 0.05 * mag)).ravel())
        assert logged[f"val/{name}/epe"] == pytest.approx(np.concatenate(errors).mean(), rel=1e-4)
        assert logged[f"val/{name}/fl_all"] == pytest.approx(100 * np.concatenate(outliers).mean(), abs=1e-3)


def test_flow_panel_shows_frame_prediction_truth_and_error() -> None:
    image = torch.rand(3, 8, 10)
    truth = torch.zeros(2, 8, 10)
    truth[0] = 2.0
    pred = truth.clone()
    pred[:, :4] = 0.0  # the upper half is wrong by 2 px
    panel = flow_panel(image, pred, truth)
    assert panel.shape == (8, 40, 3) and panel.dtype == np.uint8
    np.testing.assert_array_equal(panel[:, :10], (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    np.testing.assert_array_equal(panel[4:, 10:20], panel[4:, 20:30])  # right where the prediction is
    assert (panel[:4, 30:] == 255).all() and (panel[4:, 30:] == 0).all()


def test_fit_writes_flow_images_and_a_checkpoint_the_zoo_loads(tmp_path: Path) -> None:
    from pytorch_lightning.loggers import CSVLogger

    import zoo

    torch.manual_seed(0)
    module = PWCNetModule(config={"channel_order": "RGB"}, lr=1e-4, log_images_every_n_steps=1)
    fit = trainer(tmp_path, logger=CSVLogger(tmp_path, name="logs"), limit_val_batches=1, val_check_interval=2)
    before = {k: v.clone() for k, v in module.network.state_dict().items()}
    fit.fit(module, loader(), loader(seed=1))
    ckpt = tmp_path / "last.ckpt"
    fit.save_checkpoint(ckpt)
    assert fit.global_step == 2
    assert any(not torch.equal(before[k], v) for k, v in module.network.state_dict().items())
    images = sorted(p.name for p in (Path(fit.logger.log_dir) / "images").glob("*.png"))
    assert images == ["train_flow_step00000000.png", "train_flow_step00000001.png", "val_val0_flow_step00000002.png"]

    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert raw["zoo"] == {"arch": "pwcnet", "config": {"channel_order": "RGB"}}
    restored = PWCNetModule.load_from_checkpoint(ckpt, weights_only=True)
    network = zoo.load("pwcnet", weights=ckpt)
    assert network.channel_order == "RGB"
    for key, value in module.network.state_dict().items():
        assert torch.equal(restored.network.state_dict()[key], value)
        assert torch.equal(network.state_dict()[key], value)
    finetune = zoo.load_module("pwcnet", weights=str(ckpt), schedule="fine")
    assert finetune.hparams.lr == 1e-5 and finetune.hparams.weights == str(ckpt)
    assert torch.equal(finetune.network.state_dict()["decoders.6.predict_flow.weight"],
                       module.network.state_dict()["decoders.6.predict_flow.weight"])


def first_step(tmp_path: Path, precision: str) -> tuple[PWCNetModule, FirstStep]:
    torch.manual_seed(0)
    module, record = PWCNetModule(), FirstStep()
    trainer(tmp_path / precision, precision=precision, max_steps=1, callbacks=[record]).fit(module, loader(size=(64, 128)))
    return module, record


def test_bf16_mixed_step_is_close_to_the_float32_step(tmp_path: Path) -> None:
    """Same weights and batch: the bf16 autocast loss is within 0.2 % of float32's and its gradient
    within 5 % in norm (measured: 0.04 % and 1.6 %; bf16 keeps 8 bits, a relative step of 0.4 %);
    the weights stay float32."""
    _, exact = first_step(tmp_path, "32-true")
    module, mixed = first_step(tmp_path, "bf16-mixed")
    assert mixed.loss == pytest.approx(exact.loss, rel=2e-3)
    assert ((mixed.grads - exact.grads).norm() / exact.grads.norm()).item() < 0.05
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in module.parameters())


# --- zoo fit / validate through the CLI -----------------------------------------------------

def cli_config(tmp_path: Path, data: dict, *, max_steps: int, callbacks: list | None = None,
               deterministic: bool = False, name: str = "run.yaml") -> Path:
    """A tiny LightningCLI config: PWCNetModule on CPU, checkpoints (no dirpath) in ``tmp_path/checkpoints``.

    (LightningCLI saves the config it ran as ``tmp_path/config.yaml``; ours is named ``name``.)"""
    config = {
        "seed_everything": 0,
        "trainer": {
            "accelerator": "cpu", "devices": 1, "max_steps": max_steps, "logger": False,
            "enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0,
            "limit_val_batches": 1, "val_check_interval": 1000, "check_val_every_n_epoch": None,
            "deterministic": deterministic, "default_root_dir": str(tmp_path),
            "callbacks": [{"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
                           "init_args": {"save_last": True, "every_n_train_steps": 2,
                                         "save_top_k": -1}}] + (callbacks or []),
        },
        "model": {"class_path": "zoo.models.pwcnet.module.PWCNetModule",
                  "init_args": {"lr": 1e-4, "log_images_every_n_steps": 0}},
        "data": data,
    }
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


SYNTHETIC_DATA = {"class_path": "zoo.datamodules.flow.datamodule.FlowDataModule",
                  "init_args": {"train": "synthetic", "val": "synthetic", "crop_size": [64, 64], "batch_size": 2,
                                "num_workers": 0, "synthetic_size": [96, 128], "synthetic_length": 4,
                                "synthetic_val_length": 1}}


def test_zoo_fit_on_synthetic_data_then_fine_tune_from_the_exported_file(tmp_path: Path) -> None:
    import zoo
    from zoo.cli import main
    from zoo.cli.train import run_lightning_cli
    from zoo.publish.safetensors_export import export_weights

    config = cli_config(tmp_path / "run", SYNTHETIC_DATA, max_steps=2)
    assert main(["fit", "--config", str(config)]) == 0
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    raw = torch.load(last, map_location="cpu", weights_only=True)
    assert raw["global_step"] == 2 and raw["zoo"]["arch"] == "pwcnet"
    trained = {k[len("network."):]: v for k, v in raw["state_dict"].items()}

    exported = export_weights(last, tmp_path / "tiny.safetensors", info={"recipe": "test"}, dtype=None)
    network = zoo.load("pwcnet", weights=exported)
    assert all(torch.equal(network.state_dict()[k], v) for k, v in trained.items())

    # `zoo validate --model.weights FILE` builds the module, then loads the file into its network.
    cli = run_lightning_cli(["validate", "--config", str(config), "--model.weights", str(exported)])
    assert cli.model.hparams.weights == str(exported)
    assert all(torch.equal(cli.model.network.state_dict()[k], v) for k, v in trained.items())
    assert "val/synthetic/epe" in cli.trainer.callback_metrics


def test_zoo_fit_exports_the_best_checkpoint_at_the_end(tmp_path: Path) -> None:
    """``zoo.publish.export_best.ExportBest`` (the GPU recipe's last step): the monitored best checkpoint, as
    safetensors under default_root_dir, with its score and step in the provenance."""
    import zoo
    from zoo.cli import main
    from zoo.weights.checkpoint import read_checkpoint

    best = {"class_path": "pytorch_lightning.callbacks.ModelCheckpoint",
            "init_args": {"monitor": "val/synthetic/epe", "mode": "min", "save_top_k": 1, "filename": "best-{step}"}}
    export = {"class_path": "zoo.publish.export_best.ExportBest",
              "init_args": {"path": "exported.safetensors", "info": {"recipe": "test"}, "dtype": "float32"}}
    config = cli_config(tmp_path / "run", SYNTHETIC_DATA, max_steps=4, callbacks=[best, export])
    assert main(["fit", "--config", str(config), "--trainer.val_check_interval", "2"]) == 0
    (best_path,) = (tmp_path / "run" / "checkpoints").glob("best-step=*.ckpt")
    exported = tmp_path / "run" / "exported.safetensors"
    info = read_checkpoint(exported)["zoo"]["info"]
    raw = torch.load(best_path, map_location="cpu", weights_only=True)
    (monitor_state,) = [state for key, state in raw["callbacks"].items() if "val/synthetic/epe" in key]
    assert info["recipe"] == "test" and info["best_checkpoint"] == best_path.name
    assert info["val/synthetic/epe"] == pytest.approx(float(monitor_state["best_model_score"]))
    network = zoo.load("pwcnet", weights=exported)
    for key, value in network.state_dict().items():
        assert torch.equal(value, raw["state_dict"][f"network.{key}"])


@pytest.mark.parametrize("name", ["chairs", "things", "sintel", "kitti", "synthetic"])
def test_shipped_configs_parse(name: str, capsys: pytest.CaptureFixture) -> None:
    from zoo.cli.train import run_lightning_cli

    with pytest.raises(SystemExit) as exit_info:
        run_lightning_cli(["fit", "--config", str(ROOT / "configs" / "pwcnet" / f"{name}.yaml"), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"] == "zoo.models.pwcnet.module.PWCNetModule"
    assert printed["data"]["class_path"] == "zoo.datamodules.flow.datamodule.FlowDataModule"
    args = printed["model"]["init_args"]
    expected = {"chairs": ("long", False, [384, 448], 8), "things": ("fine", False, [384, 768], 4),
                "sintel": ("fine", True, [384, 768], 4), "kitti": ("fine", True, [320, 896], 4),
                "synthetic": ("long", False, [128, 192], 4)}[name]
    data = printed["data"]["init_args"]
    assert (args["schedule"], args["robust"], list(data["crop_size"]), data["batch_size"]) == expected


@pytest.mark.parametrize("resume_from", ["last", "path"])
def test_run_killed_mid_epoch_and_resumed_matches_the_uninterrupted_run(tmp_path: Path, monkeypatch,
                                                                       resume_from: str) -> None:
    from tests.support.pwcnet_training_support import Killed
    from zoo.cli import main

    # the product's datamodule, with its random augmentation: the resumed run must see the same
    # crops, flips and colour changes as the uninterrupted one
    data = {"class_path": "zoo.datamodules.flow.datamodule.FlowDataModule",
            "init_args": {"train": "synthetic", "val": "synthetic", "crop_size": [64, 64], "synthetic_size": [80, 96],
                          "synthetic_length": 3, "synthetic_val_length": 1, "batch_size": 1, "num_workers": 0}}
    kill = [{"class_path": "tests.support.pwcnet_training_support.KillAtStep", "init_args": {"step": 5}}]
    # 3 batches per epoch, 6 steps, checkpoints every 2 steps; the kill comes after step 5, before
    # its checkpoint, so the run resumes from step 4: epoch 1, batch 1 (mid-epoch).
    whole = cli_config(tmp_path / "whole", data, max_steps=6, deterministic=True)
    killed = cli_config(tmp_path / "killed", data, max_steps=6, callbacks=kill, deterministic=True,
                        name="run-killed.yaml")
    resumed = cli_config(tmp_path / "killed", data, max_steps=6, deterministic=True)
    assert main(["fit", "--config", str(whole)]) == 0
    monkeypatch.setenv("ZOO_DEBUG", "1")  # the kill itself, not zoo's one-line report of it
    with pytest.raises(Killed):
        main(["fit", "--config", str(killed)])
    monkeypatch.delenv("ZOO_DEBUG")
    interrupted = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert interrupted["global_step"] == 4
    # the training loader's place in the epoch travels in the checkpoint
    assert interrupted["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "batches_drawn": 1, "batch_size": 1, "length": 3, "seed": 0, "num_replicas": 1}]
    # `--ckpt_path last` on the same command line finds that file in <default_root_dir>/checkpoints;
    # the explicit path also makes LightningCLI re-read the module's hyper-parameters from the
    # checkpoint, which needs the class path saved there.
    assert interrupted["hyper_parameters"]["_class_path"] == "zoo.models.pwcnet.module.PWCNetModule"
    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert main(["fit", "--config", str(resumed), "--ckpt_path", "last" if resume_from == "last" else str(last)]) == 0
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "killed" / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 6
    assert a["state_dict"].keys() == b["state_dict"].keys()
    # The batches are exact (their place in the epoch is asserted above and FlowDataModule's batches
    # are a pure function of (seed, epoch, position)); the weights agree to rounding only. On one
    # thread the two runs are bit for bit equal; on two they differ in the last bits (up to 1.5e-8,
    # in most tensors, measured with and without a competing CPU load), from the parallel kernels of
    # separately built models and optimisers. Adam moves each
    # weight by about lr = 1e-4 per step, so one batch seen in another order or another crop moves
    # weights by ~1e-4; rounding moves them by ~1e-8. A tenth of one step separates the two.
    one_step = 1e-4
    for key, value in a["state_dict"].items():
        assert value.dtype == b["state_dict"][key].dtype and value.shape == b["state_dict"][key].shape, key
        if value.is_floating_point():
            assert float((value - b["state_dict"][key]).abs().max()) <= 0.1 * one_step, key
        else:
            assert torch.equal(value, b["state_dict"][key]), key
    for state_a, state_b in zip(a["optimizer_states"][0]["state"].values(), b["optimizer_states"][0]["state"].values()):
        assert int(state_a["step"]) == int(state_b["step"]) == 6
    # the bound notices two steps fewer: step 4's weights are far outside it
    key = "network.decoders.6.predict_flow.weight"
    assert float((a["state_dict"][key] - interrupted["state_dict"][key]).abs().max()) > one_step
