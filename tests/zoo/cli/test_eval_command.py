"""``zoo eval`` and :mod:`zoo.measure.evaluation`: every figure against a computation by hand (numpy on the
files' known content), on tiny datasets written in the published layouts."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support.flow_fixtures import HEIGHT, WIDTH, flow_field, make_kitti, make_sintel
from zoo.cli import main
from zoo.datamodules.flow.datasets import Sintel
from zoo.datamodules.flow.formats import read_flow
from zoo.datamodules.flow.layouts import write_sintel
from zoo.datamodules.flow.synthetic import SyntheticFlow
from zoo.measure.evaluation import (
    EvalRow,
    evaluate_flow,
    evaluate_nll,
    flow_protocol,
    image_protocols,
    open_flow_dataset,
    published_figure,
    record_measured,
    with_published,
)

CONSTANT = np.array([1.0, -2.0])  # the flow every pixel gets from the stub "network", px
# the metrics take float32 flow, the hand computations are in float64


def constant_flow(image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
    """A stub network: the same flow at every pixel, (1, 2, H, W)."""
    return torch.tensor(CONSTANT, dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, *image1.shape[-2:])


def hand_epe(truth: np.ndarray) -> np.ndarray:
    """(H, W) EPE of the constant flow against (H, W, 2) ``truth``."""
    return np.sqrt(((truth - CONSTANT) ** 2).sum(-1))


def by_metric(rows: list[EvalRow], metric: str) -> list[EvalRow]:
    return [row for row in rows if row.metric == metric]


def write_invalid(root, scene: str, frame: int, pixels: list[tuple[int, int]]):
    """``training/invalid/<scene>/frame_NNNN.png`` with ``pixels`` (y, x) marked 255; the mask."""
    mask = np.zeros((HEIGHT, WIDTH), bool)
    for y, x in pixels:
        mask[y, x] = True
    path = root / "training" / "invalid" / scene / f"frame_{frame:04d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    return mask


def sintel_with_invalid(root):
    """make_sintel's tree (alley_1, bamboo_2; frames 1-3) with invalid maps; {(scene, frame): mask}."""
    make_sintel(root)
    masks = {}
    for s, scene in enumerate(("alley_1", "bamboo_2")):
        for frame in (1, 2):
            pixels = [(0, 0), (3, 4), (7, 11)] if (s, frame) == (0, 2) else []
            masks[scene, frame] = write_invalid(root, scene, frame, pixels)
    return masks


# --- Sintel: EPE pooled over all pixels, the invalid maps' pixels left out ----------------------


def test_sintel_epe_pools_all_pixels_except_invalid(tmp_path):
    root = tmp_path / "MPI-Sintel-complete"
    masks = sintel_with_invalid(root)
    rows = by_metric(evaluate_flow(constant_flow, Sintel(root, pass_="clean"), flow_protocol("sintel-clean"),
                                   per_sequence=True), "epe")

    errors = {key: hand_epe(flow_field(100 * s + key[1]))[~masks[key]]
              for s, scene in enumerate(("alley_1", "bamboo_2")) for key in [(scene, 1), (scene, 2)]}
    pooled = np.concatenate(list(errors.values()))
    assert len(pooled) == 4 * HEIGHT * WIDTH - 3
    whole, alley, bamboo = rows
    assert (whole.dataset, whole.metric, whole.count, whole.sequence) == ("sintel-clean-train", "epe", 4, None)
    assert whole.value == pytest.approx(pooled.mean(), rel=1e-6)
    # the invalid pixels really are left out: with them the mean would differ
    everything = np.concatenate([hand_epe(flow_field(100 * s + f)).ravel() for s in (0, 1) for f in (1, 2)])
    assert abs(everything.mean() - pooled.mean()) > 1e-6
    assert (alley.sequence, alley.count) == ("alley_1", 2)
    assert alley.value == pytest.approx(np.concatenate([errors["alley_1", 1], errors["alley_1", 2]]).mean(), rel=1e-6)
    assert bamboo.value == pytest.approx(np.concatenate([errors["bamboo_2", 1], errors["bamboo_2", 2]]).mean(), rel=1e-6)


def test_limit_names_the_subset(tmp_path):
    root = make_sintel(tmp_path / "s")
    (row,) = by_metric(evaluate_flow(constant_flow, Sintel(root), flow_protocol("sintel-clean"), limit=3), "epe")
    assert (row.dataset, row.reference, row.count) == ("sintel-clean-train-first-3", "sintel-clean-train", 3)
    expected = np.concatenate([hand_epe(flow_field(f)).ravel() for f in (1, 2)] + [hand_epe(flow_field(101)).ravel()])
    assert row.value == pytest.approx(expected.mean(), rel=1e-6)


# --- KITTI: EPE per image over valid pixels, then over images; Fl-all pooled --------------------


def test_kitti_epe_per_image_and_fl_all_pooled(tmp_path):
    make_kitti(tmp_path / "KITTI2015", scenes=3)
    with open_flow_dataset("kitti-2015", str(tmp_path)) as dataset:  # found as <data dir>/KITTI2015
        epe, fl_all, wauc = evaluate_flow(constant_flow, dataset, flow_protocol("kitti-2015"))

    per_image, per_image_wauc, outliers, valid_pixels = [], [], 0, 0
    for n in range(3):
        truth = flow_field(n, scale=40)
        valid = np.random.default_rng(n).random((HEIGHT, WIDTH)) > 0.4
        error = hand_epe(truth)[valid]
        magnitude = np.sqrt((truth ** 2).sum(-1))[valid]
        per_image.append(error.mean())
        per_image_wauc.append(hand_wauc(error))
        outliers += int(((error > 3) & (error > 0.05 * magnitude)).sum())
        valid_pixels += int(valid.sum())
    assert (epe.dataset, epe.metric, epe.count) == ("kitti-2015-train", "epe", 3)
    assert epe.value == pytest.approx(np.mean(per_image), rel=1e-6)
    assert fl_all.metric == "fl-all"
    assert fl_all.value == pytest.approx(100 * outliers / valid_pixels, rel=1e-6)
    assert 0 < outliers < valid_pixels  # both kinds of pixel occur
    assert (wauc.metric, wauc.count) == ("wauc", 3)
    assert wauc.value == pytest.approx(np.mean(per_image_wauc), rel=1e-6)
    assert 0 < wauc.value < 100


def hand_wauc(errors: np.ndarray) -> float:
    """Spring's WAUC (%) of one image's valid-pixel errors: thresholds i / 20 px, weights 1 - (i - 1) / 100."""
    weights = 1 - (np.arange(1, 101) - 1) / 100
    within = np.array([(errors <= i / 20).mean() for i in range(1, 101)])
    return 100 * float((weights * within).sum() / weights.sum())


# --- Sintel occluded / non-occluded EPE (pooled) and WAUC (per image) ----------------------------
# make_sintel's occlusion maps mark columns 0 .. f of frame f occluded (255), the others 0: 2 of
# 12 columns in frames 1, 3 in frames 2; 8 rows. The prediction is the truth plus (3, 4) px (error 5)
# on occluded pixels and plus (0.375, 0.5) px (error 0.625) elsewhere, exact in float32.
# WAUC per pixel (sum of weights 50.5): 5 px is within delta_100 only, 100 * 0.01 / 50.5 = 2 / 101;
# 0.625 px is within delta_13 .. delta_100, 100 * (sum_{k=1..88} k / 100) / 50.5 = 3916 / 50.5 = 7832 / 101.
OCCLUDED_OFFSET, MATCHED_OFFSET = np.array([3.0, 4.0]), np.array([0.375, 0.5])


def occlusion_aware_prediction(scenes=("alley_1", "bamboo_2")):
    """A stub network giving the offsets above, pair after pair in the reader's order."""
    predictions = []
    for s, _ in enumerate(scenes):
        for f in (1, 2):
            occluded = np.zeros((HEIGHT, WIDTH), bool)
            occluded[:, : f + 1] = True
            flow = flow_field(100 * s + f) + np.where(occluded[..., None], OCCLUDED_OFFSET, MATCHED_OFFSET)
            predictions.append(torch.from_numpy(flow.astype(np.float32)).permute(2, 0, 1)[None])
    pairs = iter(predictions)
    return lambda image1, image2: next(pairs)


def test_sintel_occluded_and_non_occluded_epe_and_wauc_by_hand(tmp_path, capsys):
    root = make_sintel(tmp_path / "MPI-Sintel-complete")
    rows = evaluate_flow(occlusion_aware_prediction(), Sintel(root), flow_protocol("sintel-final"))
    values = {row.metric: row.value for row in rows}
    assert list(values) == ["epe", "epe-occ", "epe-non-occ", "wauc"]
    assert {row.unit for row in rows} == {"px", "%"} and rows[-1].unit == "%"
    assert values["epe-occ"] == pytest.approx(5.0, rel=1e-9)
    assert values["epe-non-occ"] == pytest.approx(0.625, rel=1e-9)
    # pooled: 80 occluded pixels (8 x (2 + 3 + 2 + 3)) of 384: (80 * 5 + 304 * 0.625) / 384
    assert values["epe"] == pytest.approx(590 / 384, rel=1e-9)
    # per image: (2 * 2 + 10 * 7832) / 101 / 12 and (3 * 2 + 9 * 7832) / 101 / 12, averaged
    assert values["wauc"] == pytest.approx((78324 + 70494) / (101 * 24), rel=1e-9)
    assert capsys.readouterr().err == ""


def test_sintel_without_occlusion_maps_gives_no_occlusion_rows(tmp_path, capsys):
    root = make_sintel(tmp_path / "MPI-Sintel-complete")
    shutil.rmtree(root / "training" / "occlusions")
    rows = evaluate_flow(occlusion_aware_prediction(), Sintel(root), flow_protocol("sintel-clean"), per_sequence=True)
    assert [row.metric for row in rows] == ["epe", "wauc"] * 3  # the whole set, then alley_1 and bamboo_2
    assert rows[0].value == pytest.approx(590 / 384, rel=1e-9)
    (notice,) = capsys.readouterr().err.splitlines()
    assert "sintel-clean-train: no occlusion maps" in notice and "epe-occ, epe-non-occ" in notice


# --- synthetic: the real-layout path gives the in-memory pairs ----------------------------------


def test_synthetic_pairs_go_through_a_sintel_tree(tmp_path):
    pairs = SyntheticFlow((16, 24), 3, seed=2, recipe="v1")
    with open_flow_dataset("synthetic", None, synthetic_size=(16, 24), synthetic_pairs=3) as dataset:
        assert isinstance(dataset, Sintel) and len(dataset) == 3
        root = dataset.samples[0].image1.parents[3]
        items = [dataset[i] for i in range(3)]
        row, wauc = evaluate_flow(constant_flow, dataset, flow_protocol("synthetic", (16, 24)))
    assert not root.exists()  # the temporary tree is gone
    for item, pair in zip(items, pairs):
        torch.testing.assert_close(item["flow"], pair["flow"], rtol=0, atol=0)
        for key in ("image1", "image2"):  # frames stored as 8-bit PNG, as Sintel's
            torch.testing.assert_close(item[key], (pair[key] * 255).round() / 255, rtol=0, atol=1e-7)
    expected = np.concatenate([hand_epe(p["flow"].permute(1, 2, 0).double().numpy()).ravel() for p in pairs])
    assert (row.dataset, row.metric, row.count) == ("synthetic-seed2-16x24", "epe", 3)
    assert row.value == pytest.approx(expected.mean(), rel=1e-6)
    # no occlusion maps in the tree, and no occlusion rows in the protocol
    per_image = [hand_wauc(hand_epe(p["flow"].permute(1, 2, 0).double().numpy()).ravel()) for p in pairs]
    assert wauc.metric == "wauc" and wauc.value == pytest.approx(np.mean(per_image), rel=1e-6)


def test_the_synthetic_recipe_is_rendered_and_named(tmp_path):
    pairs = SyntheticFlow((16, 24), 2, seed=2, recipe="v2")
    with open_flow_dataset("synthetic", None, synthetic_size=(16, 24), synthetic_pairs=2,
                           synthetic_recipe="v2") as dataset:
        torch.testing.assert_close(dataset[1]["flow"], pairs[1]["flow"], rtol=0, atol=0)
    assert flow_protocol("synthetic", (16, 24), "v2").key == "synthetic-v2-seed2-16x24"
    assert flow_protocol("synthetic", (16, 24), "v1").key == "synthetic-seed2-16x24"


def test_write_sintel_keeps_invalid_pixels(tmp_path):
    pair = SyntheticFlow((8, 12), 1, seed=5)[0]
    pair["valid"][2, 3] = False
    root = write_sintel([pair], tmp_path / "tree", pass_="final")
    flow, _ = read_flow(root / "training/flow/pair_0000/frame_0001.flo")
    np.testing.assert_array_equal(flow, pair["flow"].permute(1, 2, 0).numpy())
    item = Sintel(root, pass_="final")[0]
    np.testing.assert_array_equal(item["valid"].numpy(), pair["valid"].numpy())


# --- NVAE: mean and standard error over images ----------------------------------------------


class StubVAE(torch.nn.Module):
    """``log p(x) = -(sum of pixels + K)`` nats; records the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.calls: list[int] = []

    def quantize(self, x):
        return x

    def log_likelihood(self, x, num_samples, generator=None):
        self.calls.append(num_samples)
        return -(x.flatten(1).double().sum(1) + num_samples)

    def bits_per_dim(self, nats):
        return nats / (math.log(2) * 4)


def test_nll_mean_and_standard_error_by_hand():
    images = torch.arange(7 * 4, dtype=torch.float32).view(7, 1, 2, 2) / 30
    batches = [(images[:3], None), (images[3:6], None), (images[6:], None)]
    network = StubVAE().train()
    (row,) = evaluate_nll(network, batches, image_protocols()["mnist"], num_samples=5, count=7, full_count=10)
    nll = images.flatten(1).double().sum(1).numpy() + 5
    assert not network.training and network.calls == [5, 5, 5]
    assert (row.dataset, row.reference, row.metric, row.count, row.num_samples) == \
           ("mnist-test-first-7", "mnist-test", "nll_nats", 7, 5)
    assert row.value == pytest.approx(nll.mean(), rel=1e-12)
    assert row.stderr == pytest.approx(nll.std(ddof=1) / math.sqrt(7), rel=1e-12)
    (bpd,) = evaluate_nll(StubVAE(), batches, image_protocols()["cifar10"], num_samples=5, count=7)
    assert (bpd.dataset, bpd.metric) == ("cifar10-test", "bpd")
    assert bpd.value == pytest.approx(nll.mean() / (math.log(2) * 4), rel=1e-12)
    with pytest.raises(ValueError, match="expected 8 images"):
        evaluate_nll(StubVAE(), batches, image_protocols()["mnist"], num_samples=1, count=8)


def test_nll_of_a_real_nvae_is_its_importance_weighted_bound():
    import zoo

    network = zoo.load("nvae.mnist-cpu")
    x = (torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    (row,) = evaluate_nll(network, [x], image_protocols()["mnist"], num_samples=2, count=3,
                          generator=torch.Generator().manual_seed(4))
    direct = -network.log_likelihood(x, 2, generator=torch.Generator().manual_seed(4)).double()
    assert row.value == pytest.approx(float(direct.mean()), rel=1e-12)


# --- published figures and the record ----------------------------------------------------------


def test_published_lookup_prefers_the_subset_and_the_same_k():
    metrics = {"mnist-test": {"nll_nats_k100": 84.5, "nll_nats_k100_stderr": 0.2},
               "mnist-test-first-1000": {"nll_nats_k1000": 82.7},
               "synthetic-seed2-192x256 (64 pairs)": {"epe": 2.0}, "sintel-clean-train": {"epe": 2.55}}
    row = EvalRow("mnist-test-first-1000", "nll_nats", 83.0, 1000, "mnist-test", num_samples=1000)
    assert published_figure(metrics, row) == (82.7, "mnist-test-first-1000: nll_nats_k1000")
    row = EvalRow("mnist-test-first-50", "nll_nats", 83.0, 50, "mnist-test", num_samples=5)
    assert published_figure(metrics, row) == (84.5, "mnist-test: nll_nats_k100")
    row = EvalRow("synthetic-seed2-192x256", "epe", 2.5, 64, "synthetic-seed2-192x256")
    (filled,) = with_published([row], metrics)
    assert filled.as_dict()["diff"] == pytest.approx(0.5) and filled.published_as.endswith(": epe")
    assert published_figure(metrics, EvalRow("sintel-clean-train", "epe", 1, 1, "sintel-clean-train", "alley_1")) is None
    assert published_figure(metrics, EvalRow("kitti-2015-train", "epe", 1, 1, "kitti-2015-train")) is None
    for metric in ("epe-occ", "epe-non-occ", "wauc"):  # a published EPE is not an occlusion-split EPE or a WAUC
        assert published_figure(metrics, EvalRow("sintel-clean-train", metric, 1, 1, "sintel-clean-train")) is None
    assert published_figure({"sintel-clean-train": {"wauc": 60.0}},
                            EvalRow("sintel-clean-train", "wauc", 1, 1, "sintel-clean-train")) == (
        60.0, "sintel-clean-train: wauc")


def test_record_measured_keeps_figures_per_file(tmp_path):
    from zoo.catalog.measured import measured_fields, read_measured

    weights, store = tmp_path / "w.safetensors", tmp_path / "measured.json"
    weights.write_bytes(b"one")
    rows = [EvalRow("mnist-test", "nll_nats", 85.123456, 10000, "mnist-test", stderr=0.25, num_samples=5),
            EvalRow("mnist-test", "nll_nats", 1.0, 3, "mnist-test", sequence="x", num_samples=5)]
    record_measured("nvae.x", weights, rows, "zoo eval nvae.x --data mnist", store)
    record_measured("nvae.x", weights, [EvalRow("cifar10-test", "bpd", 3.0, 5, "cifar10-test", num_samples=2)], "c", store)
    fields = measured_fields("nvae.x", store)
    assert fields["measured"] == {"mnist-test": {"nll_nats_k5": 85.1235, "nll_nats_k5_stderr": 0.25},
                                  "cifar10-test": {"bpd_k2": 3.0}}
    assert "zoo eval nvae.x --data mnist (10,000 images; weights sha256 " in fields["measured_source"]
    weights.write_bytes(b"two")  # new weights: the old figures go
    record_measured("nvae.x", weights, [EvalRow("cifar10-test", "bpd", 2.0, 5, "cifar10-test", num_samples=2)], "c", store)
    assert read_measured(store)["nvae.x"]["figures"] == {"cifar10-test": {"bpd_k2": 2.0}}


def test_recorded_figures_belong_to_the_bundled_files():
    """Replaced bundled weights fail here until their figures are measured again."""
    import hashlib

    from zoo.catalog.measured import read_measured
    from zoo.catalog.registry import weights_info
    from zoo.weights.cache import weights_file

    store = read_measured()
    assert set(store) >= {"pwcnet.synth", "nvae.mnist-cpu"}
    for name, entry in store.items():
        digest = hashlib.sha256(weights_file(weights_info(name)).read_bytes()).hexdigest()
        assert digest == entry["sha256"], (
            f"{name} changed since its figures were measured: run the commands of "
            f"'zoo info {name}' (measured source) again with --record")
        assert weights_info(name).measured == entry["figures"]


def test_info_shows_measured_beside_published():
    from zoo.catalog.records import WeightsInfo

    info = WeightsInfo(name="a.b", layout="zoo", metrics={"d": {"epe": 2.5}}, metrics_source="paper",
                       measured={"d": {"epe": 2.25}}, measured_source="zoo eval a.b --data d")
    rows = dict(info.as_rows())
    assert rows["published"] == "d: epe 2.5" and rows["published source"] == "paper"
    assert rows["measured by zoo eval"] == "d: epe 2.25" and rows["measured source"] == "zoo eval a.b --data d"


# --- the command ------------------------------------------------------------------------------


def test_eval_command_sintel_and_kitti_match_the_network_by_hand(tmp_path, capsys):
    import zoo
    from zoo.models.flow_inference import estimate_flow

    sintel_with_invalid(tmp_path / "data" / "MPI-Sintel-complete")
    make_kitti(tmp_path / "data" / "KITTI2015", scenes=2)
    out = tmp_path / "results"
    assert main(["eval", "pwcnet.synth", "--data", "sintel-clean,kitti-2015", "--data-dir", str(tmp_path / "data"),
                 "--out", str(out), "--per-sequence"]) == 0
    printed = capsys.readouterr().out
    assert "sintel-clean-train" in printed and "kitti-2015-train" in printed
    lines = printed.splitlines()
    assert lines[1].split()[:5] == ["dataset", "sequence", "metric", "unit", "ours"]
    for metric, unit in (("epe-occ", "px"), ("epe-non-occ", "px"), ("wauc", "%"), ("fl-all", "%")):
        assert any(line.split()[1:4] == ["-", metric, unit] for line in lines), metric

    table = json.loads((out / "eval-pwcnet.synth.json").read_text())
    assert table["meta"]["command"].startswith("zoo eval pwcnet.synth --data sintel-clean,kitti-2015")
    rows = {(r["dataset"], r["sequence"], r["metric"]): r for r in table["rows"]}
    network = zoo.load("pwcnet.synth")

    def predicted(path1, path2):
        frames = [torch.from_numpy(np.asarray(Image.open(p).convert("RGB"), np.float32) / 255).permute(2, 0, 1)[None]
                  for p in (path1, path2)]
        return estimate_flow(network, *frames)[0].permute(1, 2, 0).double().numpy()

    sintel = tmp_path / "data" / "MPI-Sintel-complete" / "training"
    masks = {("alley_1", 2): np.zeros((HEIGHT, WIDTH), bool)}
    masks["alley_1", 2][[0, 3, 7], [0, 4, 11]] = True
    errors = []
    for s, scene in enumerate(("alley_1", "bamboo_2")):
        for f in (1, 2):
            pred = predicted(sintel / "clean" / scene / f"frame_{f:04d}.png", sintel / "clean" / scene / f"frame_{f + 1:04d}.png")
            error = np.sqrt(((pred - flow_field(100 * s + f)) ** 2).sum(-1))
            errors.append(error[~masks.get((scene, f), np.zeros_like(error, bool))])
    assert rows["sintel-clean-train", None, "epe"]["ours"] == pytest.approx(np.concatenate(errors).mean(), rel=1e-6)
    assert rows["sintel-clean-train", "bamboo_2", "epe"]["ours"] == pytest.approx(
        np.concatenate(errors[2:]).mean(), rel=1e-6)

    kitti = tmp_path / "data" / "KITTI2015" / "training"
    per_image = []
    for n in range(2):
        pred = predicted(kitti / "image_2" / f"{n:06d}_10.png", kitti / "image_2" / f"{n:06d}_11.png")
        valid = np.random.default_rng(n).random((HEIGHT, WIDTH)) > 0.4
        per_image.append(np.sqrt(((pred - flow_field(n, scale=40)) ** 2).sum(-1))[valid].mean())
    kitti_row = rows["kitti-2015-train", None, "epe"]
    assert kitti_row["ours"] == pytest.approx(np.mean(per_image), rel=1e-6)
    assert kitti_row["published"] is None and kitti_row["count"] == 2  # pwcnet.synth has no KITTI figure

    with open(out / "eval-pwcnet.synth.csv") as f:
        csv_rows = list(csv.DictReader(f))
    assert list(csv_rows[0]) == ["dataset", "sequence", "metric", "unit", "ours", "count"]
    # (all + 2 scenes) x (sintel: epe, epe-occ, epe-non-occ, wauc; kitti: epe, fl-all, wauc)
    assert len(csv_rows) == len(table["rows"]) == 3 * 4 + 3 * 3
    assert "| dataset | sequence | metric | unit | ours | n |" in (out / "eval-pwcnet.synth.md").read_text()


def test_eval_command_nvae_on_mnist(shared_dir, tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["eval", "nvae.mnist-cpu", "--data", "mnist", "--data-dir", str(shared_dir / "data" / "mnist"),
                 "--limit", "6", "--batch-size", "3", "-k", "2", "--out", str(out)]) == 0
    (row,) = json.loads((out / "eval-nvae.mnist-cpu.json").read_text())["rows"]
    assert (row["dataset"], row["metric"], row["count"], row["num_samples"]) == ("mnist-test-first-6", "nll_nats", 6, 2)
    assert 40 < row["ours"] < 200 and row["stderr"] > 0
    assert row["published_as"] == "mnist-test: nll_nats_k100"
    assert row["diff"] == pytest.approx(row["ours"] - 84.56)
    assert "mnist-test-first-6" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["eval", "pwcnet.synth", "--data", "mnist"], "unknown set(s) mnist for pwcnet"),
    (["eval", "nvae.mnist-cpu", "--data", "mnist"], "--data-dir is needed"),
    (["eval", "pwcnet.synth", "--data", "synthetic", "--limit", "0"], "--limit must be >= 1"),
    (["eval", "pwcnet.things", "--data", "synthetic", "--record"], "bundled weights only"),
    (["eval", "pwcnet.synth", "--data", "sintel-clean", "--data-dir", "/nonexistent"], "/nonexistent"),
])
def test_eval_command_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("zoo: error:") and message in err


def test_eval_command_records_bundled_figures(tmp_path, monkeypatch):
    from zoo.catalog import measured

    monkeypatch.setattr(measured, "MEASURED_FILE", tmp_path / "measured.json")
    assert main(["eval", "pwcnet.synth", "--data", "synthetic", "--synthetic-size", "64", "64",
                 "--synthetic-pairs", "2", "--record"]) == 0
    entry = measured.read_measured()["pwcnet.synth"]
    assert list(entry["figures"]) == ["synthetic-seed2-64x64"]
    assert entry["sources"]["synthetic-seed2-64x64"].startswith(
        "zoo eval pwcnet.synth --data synthetic --precision float32 --synthetic-size 64 64 --synthetic-pairs 2 "
        "--synthetic-recipe v1 (2 pairs")
