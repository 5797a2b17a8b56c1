"""Flow datasets on tiny copies of the published layouts, the real FlyingChairs sample, downloads."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
import torch

from tests.support.flow_fixtures import flow_field, frame, make_chairs, make_hd1k, make_kitti, make_sintel, make_things
from tests.support.http_server import Route
from zoo.datamodules.flow.datasets import HD1K, KITTI, DatasetNotFoundError, FlyingChairs, FlyingThings3D, Sintel
from zoo.datamodules.flow.formats import read_flow, read_image
from zoo.datamodules.flow.sources import DataSource, prepare_dataset


def _check_item(item, image1_seed, image2_seed, flow, valid=None):
    assert set(item) == {"image1", "image2", "flow", "valid", "meta"}
    np.testing.assert_array_equal(item["image1"].numpy(), frame(image1_seed).transpose(2, 0, 1) / np.float32(255))
    np.testing.assert_array_equal(item["image2"].numpy(), frame(image2_seed).transpose(2, 0, 1) / np.float32(255))
    valid = np.ones(flow.shape[:2], bool) if valid is None else valid
    np.testing.assert_array_equal(item["valid"].numpy(), valid)
    np.testing.assert_array_equal(item["flow"].numpy().transpose(1, 2, 0)[valid], flow[valid])
    assert item["flow"].dtype == torch.float32 and item["valid"].dtype == torch.bool


# --- FlyingChairs -------------------------------------------------------------------------------


def test_chairs_official_split(tmp_path):
    root = make_chairs(tmp_path / "FlyingChairs_release", count=3, labels="121")
    train, val, every = (FlyingChairs(root, split) for split in ("train", "val", "all"))
    assert (len(train), len(val), len(every)) == (2, 1, 3)
    assert [s.frame for s in train.samples] == [1, 3] and val.samples[0].frame == 2
    item = val[0]
    _check_item(item, 20, 21, flow_field(2))
    assert item["meta"]["dataset"] == "chairs" and item["meta"]["frame"] == 2
    assert item["meta"]["paths"][2].endswith("00002_flow.flo")


def test_chairs_errors_name_the_folder_layout_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        FlyingChairs(tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "data") in message and "_img1.ppm" in message and "lmb.informatik" in message
    root = make_chairs(tmp_path / "partial", count=3, labels="1212")
    with pytest.raises(DatasetNotFoundError, match="lists 4 pairs but .* holds 3"):
        FlyingChairs(root)
    make_chairs(tmp_path / "nosplit", count=1, labels=None)
    with pytest.raises(DatasetNotFoundError, match="FlyingChairs_train_val.txt"):
        FlyingChairs(tmp_path / "nosplit", "val")


def test_chairs_reads_the_real_sample(shared_dir, tmp_path):
    sample = shared_dir / "data" / "flow_samples" / "chairs_crop"
    data = tmp_path / "FlyingChairs_release" / "data"
    data.mkdir(parents=True)
    for name in ("00001_img1.ppm", "00001_img2.ppm", "00001_flow.flo"):
        (data / name).symlink_to(sample / name)
    item = FlyingChairs(tmp_path / "FlyingChairs_release", split="all")[0]
    flow, _ = read_flow(sample / "00001_flow.flo")
    assert item["image1"].shape == (3, 50, 50) and item["valid"].all()
    np.testing.assert_array_equal(item["flow"].numpy().transpose(1, 2, 0), flow)
    np.testing.assert_array_equal(item["image2"].numpy().transpose(1, 2, 0), read_image(sample / "00001_img2.ppm"))


# --- FlyingThings3D -----------------------------------------------------------------------------


def test_things_pairs_both_directions_and_passes(tmp_path):
    root = make_things(tmp_path)
    dataset = FlyingThings3D(root)
    assert len(dataset) == 2 * (2 + 2)  # passes x (future 6->7, 7->8 and past 7->6, 8->7)
    future = FlyingThings3D(root, passes=("final",), directions=("future",))
    _check_item(future[1], 71, 81, flow_field(7))
    past = FlyingThings3D(root, passes=("clean",), directions=("past",))
    item = past[0]  # frame 7 -> frame 6 with OpticalFlowIntoPast_0007
    _check_item(item, 70, 60, flow_field(57))
    assert item["meta"]["paths"][2].endswith("into_past/left/OpticalFlowIntoPast_0007_L.pfm")
    assert item["meta"]["sequence"] == "clean/TRAIN/A/0000" and item["meta"]["frame"] == 7


def test_things_unused_frames_and_large_motion_are_excluded(tmp_path):
    root = make_things(tmp_path, large={("future", 6): 600.0})
    (root / "all_unused_files.txt").write_text("frames_finalpass/TRAIN/A/0000/left/0008.png\n")
    kept = FlyingThings3D(root, passes=("clean",))
    assert [(s.image1.name, s.image2.name) for s in kept.samples] == [("0006.png", "0007.png"), ("0007.png", "0006.png")]
    index = tmp_path / "maxima.json"
    small = FlyingThings3D(root, passes=("clean",), max_flow=500, max_flow_index=index)
    assert [(s.image1.name, s.image2.name) for s in small.samples] == [("0007.png", "0006.png")]
    assert index.exists()  # second construction reads the index instead of the flow files
    assert len(FlyingThings3D(root, passes=("clean",), max_flow=700, max_flow_index=index)) == 2
    with pytest.raises(DatasetNotFoundError, match="frames_finalpass"):
        FlyingThings3D(make_things(tmp_path / "clean_only", passes=("clean",)))


# --- Sintel -------------------------------------------------------------------------------------


def test_sintel_training_and_test(tmp_path):
    root = make_sintel(tmp_path / "MPI-Sintel-complete")
    clean, final = Sintel(root, pass_="clean"), Sintel(root, pass_="final")
    assert len(clean) == len(final) == 4
    item = final[3]  # bamboo_2, frame 2 -> 3
    _check_item(item, 100 + 20 + 1, 100 + 30 + 1, flow_field(102))
    assert item["meta"] == {
        "dataset": "sintel-final",
        "sequence": "bamboo_2",
        "frame": 2,
        "paths": (
            str(root / "training/final/bamboo_2/frame_0002.png"),
            str(root / "training/final/bamboo_2/frame_0003.png"),
            str(root / "training/flow/bamboo_2/frame_0002.flo"),
        ),
    }
    np.testing.assert_array_equal(clean.occlusion(1), np.arange(12)[None].repeat(8, 0) < 3)
    test = Sintel(root, split="test")
    assert len(test) == 4 and not test[0]["valid"].any() and not test[0]["flow"].any()
    assert len(Sintel(root, scenes=["alley_1"])) == 2
    with pytest.raises(DatasetNotFoundError, match="sintel.is.tue.mpg.de"):
        Sintel(tmp_path / "empty")


def test_sintel_invalid_pixels_are_not_valid(tmp_path):
    """``training/invalid`` maps (non-zero = invalid, stored 0/255 or 0/1) leave ``valid``; a
    missing map beside others is an incomplete layout."""
    from PIL import Image

    root = make_sintel(tmp_path / "MPI-Sintel-complete", scenes=("alley_1",))
    assert Sintel(root)[0]["valid"].all()  # no training/invalid folder: every pixel is valid
    invalid = np.zeros((8, 12), np.uint8)
    invalid[2, 3], invalid[5, 7] = 255, 1
    (root / "training/invalid/alley_1").mkdir(parents=True)
    Image.fromarray(invalid).save(root / "training/invalid/alley_1/frame_0001.png")
    item = Sintel(root, pass_="final")[0]
    np.testing.assert_array_equal(item["valid"].numpy(), invalid == 0)
    assert not item["flow"][:, 2, 3].any() and item["flow"][:, 0, 0].any()
    with pytest.raises(DatasetNotFoundError, match="frame_0002.png"):
        Sintel(root)[1]


# --- KITTI and HD1K -----------------------------------------------------------------------------


def test_kitti_2015_sparse_flow(tmp_path):
    root = make_kitti(tmp_path / "kitti15")
    dataset = KITTI(root, 2015)
    assert dataset.sparse and dataset.name == "kitti-2015" and len(dataset) == 2
    valid = np.random.default_rng(1).random((8, 12)) > 0.4
    _check_item(dataset[1], 20, 21, flow_field(1, scale=40), valid)
    noc = KITTI(root, 2015, occluded=False)[1]
    np.testing.assert_array_equal(noc["valid"].numpy(), valid & (np.arange(12) > 3))
    assert not KITTI(root, 2015, split="testing")[0]["valid"].any()


def test_incomplete_layouts_name_the_missing_files(tmp_path):
    sintel = make_sintel(tmp_path / "sintel")
    (sintel / "training" / "flow" / "bamboo_2" / "frame_0002.flo").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"1 file\(s\).*bamboo_2/frame_0002\.flo"):
        Sintel(sintel)
    kitti = make_kitti(tmp_path / "kitti")
    (kitti / "training" / "image_2" / "000001_11.png").unlink()
    with pytest.raises(DatasetNotFoundError, match="000001_11.png"):
        KITTI(kitti, 2015)


def test_kitti_2012_grayscale_frames_become_rgb(tmp_path):
    root = make_kitti(tmp_path / "kitti12", year=2012, image_dir="image_0")
    item = KITTI(root, 2012)[0]
    assert item["image1"].shape == (3, 8, 12)
    assert torch.equal(item["image1"][0], item["image1"][2])
    with pytest.raises(DatasetNotFoundError, match="cvlibs"):
        KITTI(tmp_path / "kitti12", 2015)


def test_hd1k_pairs_within_sequences(tmp_path):
    dataset = HD1K(make_hd1k(tmp_path / "hd1k"))
    assert len(dataset) == 2 * 2 and dataset.sparse
    assert [(s.sequence, s.frame) for s in dataset.samples] == [("000000", 0), ("000000", 1), ("000001", 0), ("000001", 1)]
    valid = np.random.default_rng(1 + 1).random((8, 12)) > 0.5
    _check_item(dataset[3], 31, 32, flow_field(11), valid)


def test_transform_is_applied(tmp_path):
    dataset = Sintel(make_sintel(tmp_path / "s"), transform=lambda item: {**item, "flow": item["flow"] * 0})
    assert not dataset[0]["flow"].any()


# --- downloads through the hub, from a loopback server -----------------------------------------


def _zip_folder(folder, prefix=""):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + str(path.relative_to(folder)))
    return buffer.getvalue()


def test_prepare_sintel_downloads_verifies_and_unpacks(tmp_path, http_server):
    archive = _zip_folder(make_sintel(tmp_path / "original"))
    http_server.routes["/MPI-Sintel-complete.zip"] = Route(archive)
    urls = (http_server.url("/missing.zip"), http_server.url("/MPI-Sintel-complete.zip"))  # a dead mirror first
    sources = {"sintel": DataSource(urls=urls, sha256=hashlib.sha256(archive).hexdigest(), present="training/flow")}
    root = tmp_path / "data" / "sintel"
    assert prepare_dataset("sintel", root, cache_dir=tmp_path / "cache", sources=sources) == root
    _check_item(Sintel(root, pass_="final")[3], 121, 131, flow_field(102))
    prepare_dataset("sintel", root, cache_dir=tmp_path / "cache", sources=sources)
    assert http_server.hits["/MPI-Sintel-complete.zip"] == 1  # a prepared root needs no network
    assert not list(root.parent.glob(".*tmp"))
    by_hand = make_sintel(tmp_path / "by_hand", frames=2)  # unpacked by the user: nothing to fetch
    prepare_dataset("sintel", by_hand, cache_dir=tmp_path / "other_cache", sources=sources)
    assert http_server.hits["/MPI-Sintel-complete.zip"] == 1


def test_prepare_chairs_strips_the_release_folder_and_fetches_the_split(tmp_path, http_server):
    original = make_chairs(tmp_path / "original", count=3, labels="112")
    http_server.routes["/FlyingChairs.zip"] = Route(_zip_folder(original / "data", prefix="FlyingChairs_release/data/"))
    http_server.routes["/split.txt"] = Route((original / "FlyingChairs_train_val.txt").read_bytes())
    sources = {"chairs": DataSource(urls=(http_server.url("/FlyingChairs.zip"),), sha256=None, prefix="FlyingChairs_release/",
                                    extra=((http_server.url("/split.txt"), None, "FlyingChairs_train_val.txt"),))}
    with pytest.warns(UserWarning, match="trust on first use"):
        root = prepare_dataset("chairs", tmp_path / "chairs", cache_dir=tmp_path / "cache", sources=sources)
    assert len(FlyingChairs(root, "train")) == 2 and len(FlyingChairs(root, "val")) == 1


def test_prepare_rejects_a_wrong_checksum(tmp_path, http_server):
    from zoo.datamodules.files.cache import ChecksumError

    http_server.routes["/a.zip"] = Route(_zip_folder(make_sintel(tmp_path / "original", frames=2)))
    sources = {"sintel": DataSource(urls=(http_server.url("/a.zip"),), sha256="0" * 64)}
    with pytest.raises(ChecksumError):
        prepare_dataset("sintel", tmp_path / "sintel", cache_dir=tmp_path / "cache", sources=sources)
    assert not (tmp_path / "sintel").exists()
    with pytest.raises(ValueError, match="no public download"):
        prepare_dataset("kitti-2015", tmp_path / "k")
