"""Memory bounds (issue 12, item 9, and further bombs): small hostile inputs that claim or
inflate to gigabytes must be refused with a clear one-line error before the memory is
allocated, not end in a MemoryError traceback or a kill.

Every case that would allocate runs in a subprocess under ``ulimit -v`` (by default
:data:`_support.MEMORY_LIMIT_KB`, ~3 GB, of which python + torch + zoo take ~0.75 GB), so a
regression fails instead of swapping; the hostile files themselves are built in milliseconds
(:func:`_support.deflate_zeros`).

API assumed: ``zoo flow --max-size N`` downscales frames whose longer side exceeds N (aspect
kept) so the longer side is N, and writes the flow at that size (in pixels of the downscaled
frames); without it, frames over the default limit are refused with an error naming their size
and ``--max-size``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.hostile import (
    MEMORY_LIMIT_KB,
    assert_one_line_error,
    call_cli,
    deflate_zeros,
    gzip_of_zeros,
    new_files,
    png_chunk,
    png_header,
    png_of_zeros,
    run_cli,
    run_limited,
    safetensors_variant,
    torch_zip_bomb,
    tree,
    write_frames,
)
from tests.support.http_server import LoopbackServer, Route
from zoo.datamodules import read_flow
from zoo.datamodules.files import cache, download

pytestmark = pytest.mark.hostile

GIB = 1 << 30


def _refusal(code: str, *args, limit_kb: int = MEMORY_LIMIT_KB) -> str:
    """Run ``code`` (which must raise ValueError for the hostile input) under a memory limit;
    return the error message. ``code`` may use ``sys.argv[1:]``."""
    wrapped = ("import sys\ntry:\n" + "".join(f"    {line}\n" for line in code.splitlines())
               + "except ValueError as error:\n    print('REFUSED:', error)\n    sys.exit(3)\n")
    result = run_limited(wrapped, *args, limit_kb=limit_kb)
    assert result.rc == 3, f"exit {result.rc}, not a ValueError:\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stdout.split("REFUSED:", 1)[1].strip()


# ------------------------------------------------------------------------------ weight files


@pytest.fixture(scope="module")
def torch_bomb(tmp_path_factory) -> Path:
    """A 3 MB zip-format torch file whose one tensor inflates to 3 GB (see torch_zip_bomb)."""
    return torch_zip_bomb(tmp_path_factory.mktemp("bomb") / "pwc_net_chairs.pth.tar", 750_000_000)


@pytest.mark.parametrize("command", ["flow", "import"])
def test_torch_file_that_inflates_to_gigabytes_is_refused_before_allocating(
        torch_bomb: Path, tmp_path: Path, zoo_home: Path, command: str) -> None:
    """The file is 3 MB on disk, its ``data/0`` entry inflates to 3 GB. It must be refused by
    inspection (torch never writes compressed entries; uncompressed sizes far beyond the file
    size), with one line naming the file, not by an allocation failure (today, under the
    limit: "DefaultCPUAllocator: can't allocate memory: you tried to allocate 3000000000 bytes";
    without a limit it allocates the 3 GB)."""
    if command == "flow":
        first, second = write_frames(tmp_path)
        args = ("flow", first, second, "-o", tmp_path / "out.flo", "--weights", torch_bomb)
    else:
        args = ("import", "pwcnet.things", torch_bomb)
    before = tree(zoo_home)
    result = run_cli(*args, memory_limit_kb=MEMORY_LIMIT_KB)
    line = assert_one_line_error(result, str(torch_bomb))
    assert "allocat" not in line.lower(), f"refused only because the allocation failed: {line}"
    assert new_files(zoo_home, before) == []


def test_absurd_config_in_safetensors_metadata_is_refused_before_building(tmp_path: Path) -> None:
    """``max_displacement: 400`` in the metadata would build a cost volume of 641,601 channels
    (today: a 2.9 GB allocation, then a kill or MemoryError). A range check names the file and
    the key before the network is built."""
    weights = safetensors_variant(tmp_path / "md400.safetensors", config={"max_displacement": 400})
    first, second = write_frames(tmp_path)
    result = run_cli("flow", first, second, "-o", tmp_path / "out.flo", "--weights", weights,
                     memory_limit_kb=MEMORY_LIMIT_KB)
    assert_one_line_error(result, str(weights), "max_displacement")


# ------------------------------------------------------------------------------ frames


@pytest.fixture(scope="module")
def huge_frame(tmp_path_factory) -> Path:
    """A real 10000x10000 RGB PNG (black; 300 KB on disk, 300 MB decoded, 1.2 GB as float)."""
    path = tmp_path_factory.mktemp("huge") / "frame 10000.png"
    path.write_bytes(png_of_zeros(10000, 10000))
    return path


def test_huge_frames_are_refused_naming_the_size_and_max_size(huge_frame: Path, tmp_path: Path) -> None:
    """``zoo flow`` on two 10000x10000 frames: one line naming "10000x10000" and ``--max-size``
    (today: numpy's _ArrayMemoryError traceback under the limit); no output file."""
    out = tmp_path / "out.flo"
    result = run_cli("flow", huge_frame, huge_frame, "-o", out, "--weights", "pwcnet.synth",
                     memory_limit_kb=MEMORY_LIMIT_KB)
    assert_one_line_error(result, "10000x10000", "--max-size")
    assert not out.exists()


def test_max_size_processes_huge_frames_downscaled(tmp_path: Path) -> None:
    """``--max-size 512`` on a 4000x4000 pair (16 MP, over the default per-forward budget, so
    refused without the option): processed within the memory limit, the network at 512x512, and
    the flow written at the frames' resolution, as the README states."""
    frame = tmp_path / "frame 4000.png"
    frame.write_bytes(png_of_zeros(4000, 4000))
    out = tmp_path / "out.flo"
    refused = run_cli("flow", frame, frame, "-o", out, "--weights", "pwcnet.synth", memory_limit_kb=MEMORY_LIMIT_KB)
    assert_one_line_error(refused, "4000x4000", "--max-size")
    result = run_cli("flow", frame, frame, "-o", out, "--weights", "pwcnet.synth", "--max-size", "512",
                     memory_limit_kb=MEMORY_LIMIT_KB, timeout=120)
    assert result.rc == 0, result.stderr[-3000:]
    flow, valid = read_flow(out)
    assert flow.shape == (4000, 4000, 2) and valid.all() and np.isfinite(flow).all()


def test_frame_with_an_absurd_header_is_a_one_line_error(tmp_path: Path) -> None:
    """A 167-byte PNG whose header says 30000x30000: today Pillow's DecompressionBombError
    escapes as a traceback. One line naming the file and its size."""
    frame = tmp_path / "bomb.png"
    frame.write_bytes(png_of_zeros(30000, 30000, rows=1))
    result = call_cli("flow", frame, frame, "-o", tmp_path / "out.flo", "--weights", "pwcnet.synth")
    assert_one_line_error(result, str(frame), "30000x30000")


# ------------------------------------------------------------------------------ downloads


def test_download_without_content_length_is_capped_at_the_expected_size(zoo_home: Path) -> None:
    """A server that streams zeros forever without Content-Length: ``download.download(url,
    size=1 MiB)`` stops once it has more than the expected size (plus the socket buffers the
    kernel fills, under 16 MiB here) with a ChecksumError naming the URL; nothing but lock files
    stays in the cache. Today it reads everything the server sends (capped at 256 MiB by the
    test server), then complains."""
    expected = 1 << 20
    with LoopbackServer({"/w/endless.bin": Route(endless_bytes=256 << 20)}) as server:
        url = server.url("/w/endless.bin")
        before = tree(zoo_home)
        with pytest.raises(cache.ChecksumError) as error:
            download.download(url, "0" * 64, size=expected)
        sent = server.sent
    assert url in str(error.value)
    assert sent <= expected + (16 << 20), f"the client read {sent / (1 << 20):.0f} MiB for a 1 MiB file"
    assert new_files(zoo_home, before, ignore_locks=True) == []


# ------------------------------------------------------------------------------ data files


def test_kitti_flow_png_whose_data_inflates_beyond_its_header(tmp_path: Path) -> None:
    """A KITTI flow PNG whose header says 1000x1000 (6 MB of samples) but whose image data
    inflates to 1.5 GB: the reader inflates only the rows the header promises (libpng, through
    OpenCV) and ignores the rest, so it stays far under a 1 GB limit; the flow it returns has the
    header's size (a refusal naming the file would do as well)."""
    path = tmp_path / "kitti_bomb.png"
    idat = deflate_zeros(b"", 1_500_000_000)
    path.write_bytes(png_header(1000, 1000, 16, 2) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
    code = ("import sys\nfrom zoo.datamodules import read_flow\n"
            "try:\n    flow, valid = read_flow(sys.argv[1])\n    print('SHAPE', flow.shape, valid.any())\n"
            "except ValueError as error:\n    print('REFUSED:', error)\n")
    result = run_limited(code, path, limit_kb=1_000_000)
    assert result.rc == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "SHAPE (1000, 1000, 2) False" in result.stdout or f"REFUSED: {path}" in result.stdout, result.stdout


def test_mnist_archive_that_inflates_to_gigabytes(tmp_path: Path) -> None:
    """A ``train-images-idx3-ubyte.gz`` with a valid IDX header (60000x28x28) followed by 1 GB
    of zeros (the real file has 47 MB): today ``gzip.open(...).read()`` inflates it all
    (MemoryError under a 1.1 GB limit, of which torch and Lightning take 0.75 GB) before the MD5 check. ``prepare_data`` reads at most the
    expected size and raises a ValueError naming the file."""
    data = tmp_path / "mnist"
    data.mkdir()
    bomb = data / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip_of_zeros(bytes([0, 0, 8, 3]) + (60000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2,
                                   GIB))
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (data / name).write_bytes(b"\x00\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00")
    code = ("from zoo.datamodules import MNISTDataModule\n"
            "MNISTDataModule(sys.argv[1], num_workers=0, cache_dir=sys.argv[2]).prepare_data()")
    message = _refusal(code, data, tmp_path / "cache", limit_kb=1_100_000)
    assert str(bomb) in message


@pytest.mark.parametrize(("suffix", "content"), [
    (".flo", b"PIEH" + (65536).to_bytes(4, "little") * 2),                   # 34 GB promised
    (".flo", b"PIEH" + (-5 & 0xFFFFFFFF).to_bytes(4, "little") + (3).to_bytes(4, "little")),
    (".flo", b"XXXX" + (4).to_bytes(4, "little") * 2 + bytes(128)),          # wrong magic
    (".flo", b"PIEH" + (4).to_bytes(4, "little") * 2 + bytes(64)),           # truncated
    (".pfm", b"PF\n65536 65536\n-1.0\n" + bytes(64)),
    (".pfm", b"PF\n-3 4\n-1.0\n" + bytes(64)),
], ids=["flo-huge", "flo-negative", "flo-magic", "flo-truncated", "pfm-huge", "pfm-negative"])
def test_flow_file_with_a_lying_header_is_refused(tmp_path: Path, suffix: str, content: bytes) -> None:
    """Guard: headers that promise absurd or negative sizes, a wrong magic or missing data are
    refused with a FlowFormatError naming the file, without allocating what the header says."""
    path = tmp_path / f"hostile{suffix}"
    path.write_bytes(content)
    message = _refusal("from zoo.datamodules import read_flow\nread_flow(sys.argv[1])", path)
    assert str(path) in message


def test_zoo_sample_with_a_billion_samples_is_refused_up_front(tmp_path: Path) -> None:
    """``zoo sample -n 1000000000`` would sample for days and then build a 1 TB grid; it must
    be refused at once with one line naming ``--num-samples`` (today it runs until the test's
    20 s timeout)."""
    result = run_cli("sample", "nvae.mnist-cpu", "-n", "1000000000", "-o", tmp_path / "grid.png", timeout=20)
    assert_one_line_error(result, "--num-samples")
    assert not (tmp_path / "grid.png").exists()
