"""Names that commands took wrongly (issue 26, item 18): a ``--frames`` file named ``1²2.png``
(``str.isdigit`` holds for ``²``, ``int`` refuses it), ``zoo export -o <folder>`` reported its
hidden ``.tmp`` file, ``--weights pwcnet`` was reported as ``pwcnet.pwcnet``, ``zoo info
hf-hub:org/n@../x`` as ``unknown architecture 'hf-hub:org/n@'``."""

from __future__ import annotations

import pytest

from tests.support.hostile import assert_one_line_error, call_cli, write_frames
from zoo.datamodules.flow.formats import read_flow

pytestmark = pytest.mark.hostile


def test_frames_with_non_ascii_digits_in_their_names_are_ordered(tmp_path):
    """``1²2.png`` sorts as text after the number 1 and before ``3.png``: two pairs, in that order."""
    frames = write_frames(tmp_path / "frames", names=("1²2.png", "1.png", "3.png"))
    out = tmp_path / "out"
    result = call_cli("flow", "--frames", frames[0].parent, "-o", out, "--weights", "pwcnet.synth")
    assert result.rc == 0, result.stderr
    assert sorted(p.name for p in out.glob("*.flo")) == ["1.flo", "1²2.flo"]
    assert read_flow(out / "1²2.flo")[0].shape == (64, 80, 2)


def test_export_to_a_folder_names_the_folder_not_a_temporary_file(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    result = call_cli("export", "pwcnet.synth", "-o", folder)
    line = assert_one_line_error(result, str(folder), "is a folder; give a file name")
    assert ".tmp" not in line and list(folder.iterdir()) == [] and list(tmp_path.iterdir()) == [folder]


def test_weights_named_by_a_bare_architecture_mean_its_default_set(tmp_path, monkeypatch):
    """Offline, the default set is not in the cache: the error names pwcnet.things, never pwcnet.pwcnet."""
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    first, second = write_frames(tmp_path / "frames")
    line = assert_one_line_error(call_cli("flow", first, second, "-o", tmp_path / "o.flo", "--weights", "pwcnet"),
                                 "pwcnet.things")
    assert "pwcnet.pwcnet" not in line
    assert_one_line_error(call_cli("flow", first, second, "-o", tmp_path / "o.flo", "--weights", "nvae"),
                          "'nvae' has no default weights")


@pytest.mark.parametrize(("name", "expected"), [
    ("hf-hub:org/n@../x", "revision '../x' is no branch, tag or commit name"),
    ("hf-hub:org/n@a b", "revision 'a b' is no branch"),
    ("hf-hub:org/../x", "expected hf-hub:ORG/NAME"),
    ("hf-hub:org/n@", "expected hf-hub:ORG/NAME"),
])
def test_a_hub_name_that_could_leave_the_cache_is_refused(name, expected, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    first, second = write_frames(tmp_path / "frames")
    for command in (("info", name), ("flow", first, second, "-o", tmp_path / "o.flo", "--weights", name)):
        assert_one_line_error(call_cli(*command), repr(name), expected)
    assert not (tmp_path / "cache").exists()
