"""Incomplete flow datasets are refused, naming what is missing (issue 26, item 8): a Sintel scene
with one frame deleted lost two pairs and evaluated as ``n=2`` under the full set's name, and
FlyingChairs' split labels were paired with the flow files present by position, not by pair
number, so a tree without some pairs put training pairs into the validation split."""

from __future__ import annotations

import shutil

import pytest

from tests.support.flow_fixtures import make_chairs, make_sintel
from zoo.datamodules.flow.datasets.base import DatasetNotFoundError
from zoo.datamodules.flow.datasets.chairs import FlyingChairs
from zoo.datamodules.flow.datasets.sintel import Sintel

pytestmark = pytest.mark.hostile


@pytest.fixture(scope="module")
def sintel_tree(tmp_path_factory):
    return make_sintel(tmp_path_factory.mktemp("sintel") / "MPI-Sintel-complete", frames=4)


def _copy(tree, tmp_path):
    return shutil.copytree(tree, tmp_path / "copy")


def test_the_complete_sintel_tree_has_every_pair(sintel_tree):
    for pass_ in ("clean", "final"):
        dataset = Sintel(sintel_tree, "training", pass_)
        assert [(s.sequence, s.frame) for s in dataset.samples] == [
            (scene, f) for scene in ("alley_1", "bamboo_2") for f in (1, 2, 3)]
    assert len(Sintel(sintel_tree, "test")) == 6


@pytest.mark.parametrize(("split", "frame"), [("training", 2), ("training", 1), ("training", 4), ("test", 3)])
def test_a_deleted_sintel_frame_is_named(sintel_tree, tmp_path, split, frame):
    """A middle frame (its two pairs), the first or the last (one pair each) of a training scene,
    and a middle frame of a test scene."""
    root = _copy(sintel_tree, tmp_path)
    deleted = root / split / "final" / "bamboo_2" / f"frame_{frame:04d}.png"
    deleted.unlink()
    with pytest.raises(DatasetNotFoundError) as caught:
        Sintel(root, split, "final")
    message = str(caught.value)
    assert message.startswith(f"MPI Sintel: scene {root / split / 'final' / 'bamboo_2'} (incomplete download or "
                              f"deleted files?): 1 missing: {deleted}.\n"), message
    assert len(Sintel(root, split, "clean")) == 6  # the other pass is complete


def test_a_deleted_sintel_scene_folder_is_named(sintel_tree, tmp_path):
    root = _copy(sintel_tree, tmp_path)
    shutil.rmtree(root / "training" / "clean" / "alley_1")
    with pytest.raises(DatasetNotFoundError, match=r"^MPI Sintel: .*clean lacks the scenes alley_1 that .*flow holds"):
        Sintel(root, "training", "clean")
    assert [s.sequence for s in Sintel(root, "training", "clean", scenes=["bamboo_2"]).samples] == ["bamboo_2"] * 3


def test_a_deleted_sintel_flow_is_named(sintel_tree, tmp_path):
    root = _copy(sintel_tree, tmp_path)
    (root / "training" / "flow" / "alley_1" / "frame_0002.flo").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing .*alley_1/frame_0002\.flo"):
        Sintel(root, "training", "clean")


def test_chairs_labels_go_to_pairs_by_number(tmp_path):
    """Pairs 1-4 labelled train, val, train, val; with every pair present the split follows the
    numbers (the baseline the position pairing also got right)."""
    root = make_chairs(tmp_path / "FlyingChairs_release", count=4, labels="1212")
    assert [s.frame for s in FlyingChairs(root, "val").samples] == [2, 4]
    assert [s.frame for s in FlyingChairs(root, "train").samples] == [1, 3]


def test_chairs_with_a_pair_missing_and_a_matching_list_is_refused(tmp_path):
    """Pair 2 deleted and the list shortened to as many lines as flow files (what a hand-made
    subset looks like): by position, pair 3 took pair 2's label (val) and pair 4 pair 3's."""
    root = make_chairs(tmp_path / "FlyingChairs_release", count=4, labels="122")
    for name in ("00002_img1.ppm", "00002_img2.ppm", "00002_flow.flo"):
        (root / "data" / name).unlink()
    with pytest.raises(DatasetNotFoundError) as caught:
        FlyingChairs(root, "val")
    message = str(caught.value).splitlines()[0]
    data = root / "data"
    assert message == (f"FlyingChairs: {root / 'FlyingChairs_train_val.txt'} lists 3 pairs but {data} holds 3 flow "
                       f"files (incomplete download or deleted files?): 1 missing: {data / '00002_flow.flo'}; "
                       f"1 with no place in it: {data / '00004_flow.flo'}.")


def test_chairs_all_split_refuses_a_gap_in_the_numbers(tmp_path):
    root = make_chairs(tmp_path / "FlyingChairs_release", count=3, labels=None)
    (root / "data" / "00002_flow.flo").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"numbers its pairs from 1 to 3 .*1 missing: .*00002_flow\.flo"):
        FlyingChairs(root, "all")


def test_chairs_split_file_with_a_foreign_label_is_named(tmp_path):
    root = make_chairs(tmp_path / "FlyingChairs_release", count=3, labels="1x2")
    with pytest.raises(DatasetNotFoundError, match=r"FlyingChairs_train_val\.txt line 2: 'x' is no split label"):
        FlyingChairs(root, "train")
