"""The one output rule (:mod:`zoo.datamodules.files.outputs`) on every spelling of one file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.output_spellings import SPELLINGS, spell
from zoo.datamodules.files.outputs import FileIdentity, check_output_file, check_outputs, check_suffix, local_files

pytestmark = pytest.mark.hostile


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "a.png"
    path.parent.mkdir()
    path.write_bytes(b"input")
    return path


@pytest.mark.parametrize("how", SPELLINGS)
def test_every_spelling_of_an_input_is_refused(source: Path, how: str) -> None:
    target = spell(source, how)
    with pytest.raises(ValueError, match=r"^-o .*: the same file as IMG .*a\.png \(input\)"):
        check_outputs({"-o": target}, {"IMG": source})


@pytest.mark.parametrize("how", SPELLINGS)
def test_two_outputs_onto_one_file_are_refused(source: Path, how: str) -> None:
    with pytest.raises(ValueError, match=r"^--png .*: the same file as -o .* \(output\)"):
        check_outputs([("-o", source), ("--png", spell(source, how))])


def test_distinct_files_pass_also_where_names_look_alike(tmp_path: Path, source: Path) -> None:
    """A copy (same bytes, another inode), a file of the same name elsewhere, an output that does not exist yet."""
    copy = tmp_path / "a.png"
    copy.write_bytes(source.read_bytes())
    check_outputs({"-o": copy, "--png": tmp_path / "new" / "a.png"}, {"IMG": source})


def test_identity_of_a_missing_path_is_its_resolved_path(tmp_path: Path) -> None:
    """An output that does not exist yet, under a symlinked folder, is the same as the path it resolves to."""
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert FileIdentity(tmp_path / "alias" / "x.flo").same_as(FileIdentity(tmp_path / "real" / "x.flo"))
    assert not FileIdentity(tmp_path / "alias" / "x.flo").same_as(FileIdentity(tmp_path / "real" / "y.flo"))


@pytest.mark.parametrize("name", ["out.txt", "out", "out.png.tmp", "out.safetensors.bak"])
def test_wrong_suffixes_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^-o .*{name}: expected a file name ending in \.safetensors"):
        check_suffix("-o", tmp_path / name, (".safetensors",))


def test_suffix_is_compared_without_case_and_a_folder_is_refused(tmp_path: Path) -> None:
    check_suffix("-o", tmp_path / "OUT.PNG", (".png",))
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(IsADirectoryError, match=r"dir\.png: is a folder"):
        check_output_file("-o", tmp_path / "dir.png", (".png",))


def test_local_files_keeps_files_and_the_files_of_folders(tmp_path: Path, source: Path) -> None:
    """Names that are no path (a registry name, None, a network object) are no inputs; a folder stands for its files."""
    assert local_files({"--weights": "pwcnet.things", "x": None, "net": object(), "IMG": source}) == [("IMG", source)]
    assert local_files({"DIR": source.parent}) == [("DIR", source)]
    assert local_files({"long": "x" * 5000}) == []  # a name too long for the OS is no file either
