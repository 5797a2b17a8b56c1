"""zoo.datamodules.files.cache: digests, the manifest's refusal to forget, and reading without writing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from zoo.datamodules.files import cache
from zoo.datamodules.files.download import import_file

BODY = b"weights " * 1000


def _cached(root: Path, name: str = "model.pth", body: bytes = BODY) -> Path:
    path = root / "files" / "0123456789abcdef" / name
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    return path


def test_git_blob_sha1_equals_what_git_computes(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(BODY + b"\0\x01tail")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    expected = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout
    assert cache.git_blob_sha1(path) == expected.strip()


def test_git_blob_sha1_of_a_known_content(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert cache.git_blob_sha1(path) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


def test_verify_checks_the_git_blob_id_and_remembers_it(tmp_path):
    path = _cached(tmp_path)
    blob = cache.git_blob_sha1(path)
    with pytest.raises(cache.ChecksumError, match="git blob id mismatch"):
        cache.verify_file(path, git_sha1="0" * 40)
    assert cache.verify_file(path, git_sha1=blob) == cache.sha256_file(path)
    entry = json.loads((tmp_path / "manifest.json").read_text())[str(path)]
    assert entry["git_sha1"] == blob and entry["tofu"] is False


@pytest.mark.parametrize("content, problem", [
    ('{"a": {"sha256": "ab", "size": 1', "not valid JSON"),
    ("[]", "expected a JSON object, found list"),
    ('{"x": 5}', "lacks sha256 / size / mtime_ns"),
    ('{"x": {"sha256": "ab", "size": "1", "mtime_ns": 2}}', "lacks sha256 / size / mtime_ns"),
    ('{"x": {"sha256": "ab", "size": true, "mtime_ns": 2}}', "lacks sha256 / size / mtime_ns"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
])
def test_a_damaged_manifest_is_an_error_that_names_it_and_says_how_to_recover(tmp_path, content, problem):
    path = _cached(tmp_path)
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(cache.ManifestError) as error:
        cache.verify_file(path)
    assert str(manifest) in str(error.value) and problem in str(error.value)
    assert "To recover, delete it" in str(error.value)
    assert manifest.read_bytes() == (content if isinstance(content, bytes) else content.encode())  # never reset


def test_a_truncated_manifest_does_not_re_trust_a_tampered_file(tmp_path):
    path = _cached(tmp_path)
    with pytest.warns(UserWarning, match="trust on first use"):
        cache.verify_file(path)  # first use records the hash
    path.write_bytes(BODY.replace(b"w", b"W"))  # tampered, same size
    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:20])  # and the record damaged
    with pytest.raises(cache.ManifestError):
        cache.verify_file(path)


def test_tampering_after_first_use_is_caught(tmp_path):
    path = _cached(tmp_path)
    with pytest.warns(UserWarning):
        cache.verify_file(path)
    path.write_bytes(BODY.replace(b"w", b"W"))
    with pytest.raises(cache.ChecksumError, match="SHA-256 mismatch"):
        cache.verify_file(path)


def test_the_manifest_is_written_durably_through_a_temporary_file(tmp_path, monkeypatch):
    path = _cached(tmp_path)
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    with pytest.warns(UserWarning):
        cache.verify_file(path)
    manifest = tmp_path / "manifest.json"
    assert any(Path(p).name.startswith(".manifest.json.") for p in synced)  # the content, before the rename
    assert str(tmp_path) in synced  # and the folder, after it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files", "manifest.json", "manifest.json.lock"]
    assert json.loads(manifest.read_text())[str(path)]["sha256"] == cache.sha256_file(path)


def test_a_verified_file_is_read_without_writing_anything(tmp_path, monkeypatch):
    path = _cached(tmp_path)
    sha = cache.sha256_file(path)
    cache.verify_file(path, sha)

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(cache.Manifest, "put", refuse)
    monkeypatch.setattr(cache, "sha256_file", lambda p: pytest.fail("re-hashed a file the manifest vouches for"))
    assert cache.verify_file(path, sha[:12]) == sha


def test_a_read_only_cache_still_verifies_what_it_cannot_record(tmp_path, monkeypatch):
    path = _cached(tmp_path)
    sha = cache.sha256_file(path)

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(cache.Manifest, "put", read_only)
    assert cache.verify_file(path, sha) == sha  # checked against the published hash, not recorded
    with pytest.raises(cache.ChecksumError):
        cache.verify_file(path, "0" * 64)
    assert not (tmp_path / "manifest.json").exists()


def test_other_write_errors_are_not_swallowed(tmp_path, monkeypatch):
    path = _cached(tmp_path)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache.Manifest, "put", full)
    with warnings.catch_warnings(), pytest.raises(OSError, match="No space"):
        warnings.simplefilter("ignore")
        cache.verify_file(path)


def test_import_removes_the_parts_a_killed_import_left(tmp_path):
    source = tmp_path / "fetched.pth"
    source.write_bytes(BODY)
    target = tmp_path / "cache" / "manual" / "a.b" / "model.pth"
    target.parent.mkdir(parents=True)
    stale = target.parent / ".model.pth.x1y2z3.part"
    stale.write_bytes(b"half")
    import_file(source, target, cache.sha256_file(source))
    assert target.read_bytes() == BODY and not stale.exists()


def test_downloads_and_imports_are_fsynced_before_the_rename(tmp_path, monkeypatch, http_server):
    from tests.support.http_server import Route
    from zoo.datamodules.files.download import download

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name),
                                                 real_fsync(fd)))
    http_server.routes["/w/model.pth"] = Route(BODY)
    target = download(http_server.url("/w/model.pth"), cache.sha256_file(_cached(tmp_path / "ref")), cache_dir=tmp_path)
    assert any(name.startswith(".model.pth.") and name.endswith(".part") for name in synced)
    source = tmp_path / "fetched.pth"
    source.write_bytes(BODY)
    synced.clear()
    import_file(source, tmp_path / "manual" / "a.b" / "w.pth", cache.sha256_file(source))
    assert any(name.startswith(".w.pth.") and name.endswith(".part") for name in synced)
    assert target.read_bytes() == BODY
