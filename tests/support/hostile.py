"""Helpers of the hostile tests (the ``*_hostile.py`` files, marked ``hostile``).

* running the ``zoo`` CLI: :func:`run_cli` (a subprocess, optionally with temporary registry
  entries, a memory limit or a read-only folder), :func:`call_cli` (in-process ``zoo.cli.main``),
  :func:`run_python` / :func:`run_limited` (a Python snippet in a bounded subprocess), and
  :func:`assert_one_line_error` for the README's promise "errors print one line";
* cache bookkeeping: :func:`tree` and :func:`new_files` (every file, hidden ones included);
* temporary registry entries: :func:`registered_weights` (in-process), ``weights=`` of
  :func:`run_cli` (in the subprocess), :func:`pwcnet_entry`;
* builders of hostile files: PNGs of any size from a few bytes of deflate, gzip and zip bombs,
  a torch file that inflates to gigabytes, safetensors with doctored metadata, pickles with a
  payload, frame pairs;
* :func:`read_only`, a folder made read-only for a subprocess, also when the tests run as root.

Every import of an internal module path of the project happens here (``zoo.catalog.registry``), so a
restructuring of the package changes one place.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import pickle
import re
import shlex
import shutil
import struct
import subprocess
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SYNTH_WEIGHTS = ROOT / "zoo" / "weights" / "pwcnet-synth.safetensors"
MNIST_CPU_WEIGHTS = ROOT / "zoo" / "weights" / "nvae-mnist-cpu.safetensors"
#: what ``zoo/catalog/pwcnet.py`` registers for every PWC-Net weight set
PWCNET_CONFIG = {"context": True, "channel_order": "BGR", "max_displacement": 4}
PWCNET_NUM_PARAMS = 9_374_274
#: virtual-memory limit (KiB) of the bounded subprocesses; python + torch + zoo take ~0.75 GB
MEMORY_LIMIT_KB = 3_000_000
ERROR_PREFIX = "zoo: error: "


# ------------------------------------------------------------------------------ running the CLI


@dataclasses.dataclass
class CliResult:
    """Exit status and output of one command; unpacks as ``rc, stdout, stderr``."""

    rc: int
    stdout: str
    stderr: str
    elapsed: float = 0.0

    def __iter__(self) -> Iterator[Any]:
        return iter((self.rc, self.stdout, self.stderr))


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a subprocess: this checkout first on the path, one thread, the
    test's ``ZOO_HOME`` (set by the autouse fixture), no ``ZOO_OFFLINE`` unless given."""
    env = dict(os.environ)
    env.pop("ZOO_OFFLINE", None)
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


_BOOTSTRAP = """\
import json, os, sys
from zoo.catalog.registry import WeightsInfo, list_models, register_weights
list_models()  # loads the catalog before the temporary entries join it
for fields in json.loads(os.environ["ZOO_HOSTILE_WEIGHTS"]):
    register_weights(WeightsInfo(**fields))
from zoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli_command(*args: str | os.PathLike, weights: Sequence[dict] = ()) -> tuple[list[str], dict[str, str]]:
    """The command line and extra environment of ``zoo ARGS``: ``python -m zoo.cli ARGS``, or,
    with ``weights`` (fields of temporary :class:`zoo.WeightsInfo` entries, JSON-serialisable),
    a bootstrap that registers them and then calls ``zoo.cli.main(ARGS)``."""
    argv = [str(a) for a in args]
    if not weights:
        return [PYTHON, "-m", "zoo.cli", *argv], {}
    return [PYTHON, "-c", _BOOTSTRAP, *argv], {"ZOO_HOSTILE_WEIGHTS": json.dumps(list(weights))}


def run_cli(*args: str | os.PathLike, weights: Sequence[dict] = (), env: dict[str, str] | None = None,
            **options: Any) -> CliResult:
    """``zoo ARGS`` in a subprocess (see :func:`cli_command`, and :func:`run_command` for
    ``options``)."""
    cmd, extra = cli_command(*args, weights=weights)
    return run_command(cmd, env={**(env or {}), **extra}, **options)


def spawn_cli(*args: str | os.PathLike, weights: Sequence[dict] = ()) -> subprocess.Popen:
    """``zoo ARGS`` started in the background (output discarded), to be killed by the test."""
    cmd, extra = cli_command(*args, weights=weights)
    return subprocess.Popen(cmd, env=cli_env(extra), cwd=str(ROOT), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_python(code: str, *args: str | os.PathLike, **options: Any) -> CliResult:
    """``python -c CODE ARGS`` in a subprocess (see :func:`run_command`)."""
    return run_command([PYTHON, "-c", code, *(str(a) for a in args)], **options)


def run_limited(code: str, *args: str | os.PathLike, limit_kb: int = MEMORY_LIMIT_KB,
                **options: Any) -> CliResult:
    """``python -c CODE`` under ``ulimit -v limit_kb``: a runaway allocation fails instead of
    swapping the machine."""
    return run_python(code, *args, memory_limit_kb=limit_kb, **options)


def run_command(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None,
                timeout: float = 180, memory_limit_kb: int | None = None, file_limit_kb: int | None = None,
                wrap: Callable[[list[str]], list[str]] | None = None) -> CliResult:
    """Run ``cmd`` with :func:`cli_env` (plus ``env``) from ``cwd`` (default: the project root).

    Args:
        memory_limit_kb: run under ``ulimit -v`` (KiB of virtual memory).
        file_limit_kb: run under ``ulimit -f`` (largest file it may write, KiB): a write past it
            fails with EFBIG ("File too large"; Python ignores SIGXFSZ), like a full disk.
        wrap: a last rewrite of the command line, e.g. :func:`read_only`'s.
    The test fails (rather than hangs) when the command outlives ``timeout`` seconds.
    """
    cmd = list(cmd)
    limits = [f"ulimit -{flag} {int(value)}; " for flag, value in (("v", memory_limit_kb), ("f", file_limit_kb))
              if value is not None]
    if limits:
        cmd = ["bash", "-c", "".join(limits) + 'exec "$@"', "bash", *cmd]
    if wrap is not None:
        cmd = wrap(cmd)
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, env=cli_env(env), cwd=str(cwd or ROOT), capture_output=True,
                              text=True, errors="replace", timeout=timeout, stdin=subprocess.DEVNULL,
                              check=False)
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"still running after {timeout:g} s: {cmd[-6:]}\n"
                    f"stderr so far:\n{_text(expired.stderr)[-2000:]}")
    return CliResult(done.returncode, done.stdout, done.stderr, time.monotonic() - start)


def _text(data: bytes | str | None) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def call_cli(*args: str | os.PathLike) -> CliResult:
    """``zoo.cli.main(ARGS)`` in this process, its output captured.

    An exception that escapes ``main`` is printed as the interpreter would (a traceback on
    stderr, status 1), so callers can assert there is none.
    """
    from zoo.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exit_:
            rc = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
            if isinstance(exit_.code, str):
                print(exit_.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 - reproduce what the interpreter would print
            traceback.print_exc()
            rc = 1
    return CliResult(int(rc or 0), out.getvalue(), err.getvalue(), time.monotonic() - start)


def assert_one_line_error(result: CliResult, *fragments: str | re.Pattern) -> str:
    """The README's promise: a non-zero exit (not a signal), no traceback, and stderr is one
    line ``zoo: error: ...`` that contains every fragment (plain text, or a compiled regex).
    Returns that line."""
    stderr = result.stderr.strip()
    assert result.rc > 0, f"exit status {result.rc}, expected an error status\nstderr:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, f"a traceback instead of a one-line error:\n{stderr[-3000:]}"
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(ERROR_PREFIX), (
        f"stderr is not one '{ERROR_PREFIX.strip()}' line:\n{stderr[-3000:]}")
    for fragment in fragments:
        if isinstance(fragment, re.Pattern):
            assert fragment.search(lines[0]), f"/{fragment.pattern}/ does not match: {lines[0]}"
        else:
            assert fragment in lines[0], f"{fragment!r} is not in: {lines[0]}"
    return lines[0]


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


# ------------------------------------------------------------------------------ cache bookkeeping


def tree(root: str | os.PathLike) -> dict[str, tuple[str, int, int]]:
    """Everything below ``root``, hidden entries included: relative path -> (kind, size, mtime_ns)."""
    root = Path(root)
    entries = {}
    if not root.exists():
        return entries
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            kind = "dir" if path.is_dir() and not path.is_symlink() else "file"
            entries[str(path.relative_to(root))] = (kind, st.st_size if kind == "file" else 0, st.st_mtime_ns)
    return entries


def new_files(root: str | os.PathLike, before: dict, *, ignore_locks: bool = False) -> list[str]:
    """Files below ``root`` that are new or changed since ``before = tree(root)`` (folders are
    not counted; ``ignore_locks`` also skips ``*.lock`` files, which a lock may leave)."""
    after = tree(root)
    return sorted(path for path, entry in after.items()
                  if entry[0] == "file" and before.get(path) != entry
                  and not (ignore_locks and path.endswith(".lock")))


def part_files(root: str | os.PathLike) -> list[str]:
    """Temporary download/import files (``*.part``, ``*.tmp``) anywhere below ``root``."""
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*")
                  if p.is_file() and p.name.endswith((".part", ".tmp")))


# ------------------------------------------------------------------------------ registry entries


def pwcnet_entry(name: str, **fields: Any) -> dict:
    """Fields of a PWC-Net weight set like the catalog's, layout ``zoo`` (our safetensors)."""
    entry = {"name": name, "layout": "zoo", "config": dict(PWCNET_CONFIG),
             "num_params": PWCNET_NUM_PARAMS, "file_name": "weights.safetensors",
             "input_convention": {"channels": "RGB", "range": "[0, 1]"}}
    entry.update(fields)
    return entry


@contextlib.contextmanager
def registered_weights(**fields: Any) -> Iterator[Any]:
    """A temporary :class:`zoo.WeightsInfo` in this process's registry, removed afterwards."""
    from zoo.catalog import registry

    registry.list_models()  # the catalog first
    info = registry.register_weights(registry.WeightsInfo(**fields))
    try:
        yield info
    finally:
        registry._WEIGHTS.pop(info.name, None)  # the registry has no public removal


@contextlib.contextmanager
def changed_weights(name: str, **changes: Any) -> Iterator[Any]:
    """The registry entry ``name`` with ``changes`` (``dataclasses.replace``) in this process, restored afterwards."""
    import dataclasses

    from zoo.catalog import registry

    registry.list_models()
    original = registry._WEIGHTS[name]  # the registry has no public replacement
    registry._WEIGHTS[name] = dataclasses.replace(original, **changes)
    try:
        yield registry._WEIGHTS[name]
    finally:
        registry._WEIGHTS[name] = original


# ------------------------------------------------------------------------------ hashes


@functools.cache
def sha256_of(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """Git's blob id: SHA-1 of ``b"blob <size>\\0" + data`` (what GitHub publishes per file)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ------------------------------------------------------------------------------ deflate bombs


def deflate_zeros(prefix: bytes, zeros: int, *, container: str = "zlib", block: int = 1 << 20) -> bytes:
    """A valid compressed stream of ``prefix`` followed by ``zeros`` zero bytes, built in
    milliseconds whatever its inflated size: after a full flush deflate's output for a block
    does not depend on what came before, so one compressed zero block is repeated.

    ``container``: ``"zlib"`` (PNG IDAT), ``"raw"`` (zip entries) or ``"gzip"`` (``.gz`` files).
    """
    wbits = {"zlib": 15, "raw": -15, "gzip": -15}[container]
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    parts = [compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)]
    full, rest = divmod(zeros, block)
    if full:
        parts += [compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)] * full
    if rest:
        parts.append(compressor.compress(bytes(rest)) + compressor.flush(zlib.Z_FULL_FLUSH))
    parts.append(b"\x03\x00")  # a final, empty fixed-Huffman block
    body = b"".join(parts)
    if container == "raw":
        return body
    if container == "zlib":
        adler = zlib.adler32(prefix)
        a, b = adler & 0xFFFF, adler >> 16
        b = (b + zeros * a) % 65521  # zeros leave a unchanged and add a to b once each
        return body + struct.pack(">I", (b << 16) | a)
    crc = _crc_of_zeros(prefix, zeros, block)
    header = b"\x1f\x8b\x08\x00" + b"\x00" * 4 + b"\x00\xff"
    return header + body + struct.pack("<II", crc, (len(prefix) + zeros) & 0xFFFFFFFF)


def _crc_of_zeros(prefix: bytes, zeros: int, block: int) -> int:
    crc = zlib.crc32(prefix)
    zero = bytes(block)
    full, rest = divmod(zeros, block)
    for _ in range(full):
        crc = zlib.crc32(zero, crc)
    return zlib.crc32(bytes(rest), crc)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def png_header(width: int, height: int, depth: int, colour: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


def png_of_zeros(width: int, height: int, *, depth: int = 8, colour: int = 2, rows: int | None = None) -> bytes:
    """A PNG of ``width x height`` black pixels (colour type 0/2/4/6), a few KB for any size.

    ``rows``: store only that many rows (a header that promises more data than the file has).
    """
    stride = 1 + width * _PNG_CHANNELS[colour] * depth // 8
    idat = deflate_zeros(b"", stride * (height if rows is None else rows))
    return png_header(width, height, depth, colour) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_bytes(image: np.ndarray) -> bytes:
    """An independent PNG encoder (filter 0): uint8 or uint16, (H, W) gray, (H, W, 2) gray +
    alpha, (H, W, 3) RGB or (H, W, 4) RGBA. Pillow cannot write 16-bit RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    height, width, channels = image.shape
    colour = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    depth = 16 if image.dtype == np.uint16 else 8
    samples = image.astype(">u2" if depth == 16 else np.uint8).reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), samples], axis=1).tobytes()
    return (png_header(width, height, depth, colour) + png_chunk(b"IDAT", zlib.compress(raw))
            + png_chunk(b"IEND", b""))


def gzip_of_zeros(prefix: bytes, zeros: int) -> bytes:
    """A ``.gz`` file of ``prefix`` then ``zeros`` zero bytes (a few MB for gigabytes)."""
    return deflate_zeros(prefix, zeros, container="gzip")


# ------------------------------------------------------------------------------ torch / pickle files


class _StorageRef:
    """Stands for the one storage of a handmade torch file in its pickle."""


class _TensorRef:
    def __init__(self, storage: _StorageRef, numel: int) -> None:
        self.storage, self.numel = storage, numel

    def __reduce__(self):  # what torch.save writes for a float32 tensor of numel elements
        import torch

        return (torch._utils._rebuild_tensor_v2,  # the name torch.save writes
                (self.storage, 0, (self.numel,), (1,), False, collections.OrderedDict()))


def torch_zip_bomb(path: str | os.PathLike, numel: int, key: str = "conv1a.0.weight") -> Path:
    """A zip-format torch file of a few MB whose one float32 tensor of ``numel`` elements
    inflates to ``4 * numel`` bytes of zeros.

    The structure is exactly what ``torch.save`` writes (``archive/data.pkl`` with a persistent
    id ``('storage', torch.FloatStorage, '0', 'cpu', numel)``, ``archive/byteorder``,
    ``archive/data/0``, ``archive/version``), except that ``data/0`` is DEFLATE-compressed,
    which torch's zip reader accepts. ``torch.load(weights_only=True)`` allocates the full
    storage before reading it: a real allocation of ``4 * numel`` bytes.
    """
    import torch

    storage = _StorageRef()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", numel) if obj is storage else None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump({key: _TensorRef(storage, numel)})
    nbytes = 4 * numel
    if nbytes >= 1 << 32:
        raise ValueError("keep the bomb under 4 GiB (no zip64 here)")
    entries = [("archive/data.pkl", buffer.getvalue(), None), ("archive/byteorder", b"little", None),
               ("archive/data/0", deflate_zeros(b"", nbytes, container="raw"),
                (_crc_of_zeros(b"", nbytes, 1 << 20), nbytes)),
               ("archive/version", b"3\n", None)]
    path = Path(path)
    path.write_bytes(_zip(entries))
    return path


def _zip(entries: Iterable[tuple[str, bytes, tuple[int, int] | None]]) -> bytes:
    """A zip archive; an entry with ``(crc, size)`` is already DEFLATE data of that content."""
    out, central = io.BytesIO(), io.BytesIO()
    count = 0
    for name, data, deflated in entries:
        method, (crc, size) = (8, deflated) if deflated else (0, (zlib.crc32(data), len(data)))
        offset = out.tell()
        encoded = name.encode()
        fields = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out.write(b"PK\x03\x04" + fields + encoded + data)
        central.write(b"PK\x01\x02" + struct.pack("<H", 20) + fields
                      + struct.pack("<HHHII", 0, 0, 0, 0, offset) + encoded)
        count += 1
    directory = central.getvalue()
    start = out.tell()
    out.write(directory)
    out.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, count, count, len(directory), start, 0))
    return out.getvalue()


class Payload:
    """Unpickling it runs ``touch MARKER`` (what a malicious weight file does)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def payload_weights(path: str | os.PathLike, marker: str | os.PathLike) -> Path:
    """A ``torch.save`` file whose pickle runs ``touch marker`` when unpickled unsafely."""
    import torch

    torch.save({"conv1a.0.weight": torch.zeros(2), "evil": Payload(Path(marker))}, path)
    return Path(path)


# ------------------------------------------------------------------------------ safetensors variants


@functools.cache
def _weights_parts(path: str) -> tuple[dict, dict[str, str]]:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118 - safe_open has no __iter__


def safetensors_variant(path: str | os.PathLike, *, source: Path = SYNTH_WEIGHTS,
                        config: dict | None = None, metadata: dict[str, str] | None = None,
                        tensors: Callable[[Any], Any] | None = None) -> Path:
    """A copy of one of our safetensors files with doctored content.

    Args:
        config: merged into the ``zoo.config`` metadata (the network builder's keywords).
        metadata: raw metadata strings replacing entries (e.g. invalid JSON).
        tensors: applied to every tensor (e.g. fill with NaN).
    """
    from safetensors.torch import save_file

    state, meta = _weights_parts(str(source))
    meta = dict(meta)
    if config is not None:
        meta["zoo.config"] = json.dumps({**json.loads(meta.get("zoo.config", "{}")), **config})
    meta.update(metadata or {})
    state = {k: (tensors(v) if tensors else v).contiguous() for k, v in state.items()}
    save_file(state, str(path), metadata=meta)
    return Path(path)


def truncated_copy(source: str | os.PathLike, path: str | os.PathLike, keep: float = 0.5) -> Path:
    data = Path(source).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return Path(path)


# ------------------------------------------------------------------------------ images


def textured_frames(height: int = 64, width: int = 80, shift: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two uint8 RGB frames: smooth random texture, the second moved ``shift`` px right."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8 + 2, width // 8 + 2, 3))
    image = np.kron(coarse, np.ones((8, 8, 1)))[:height, : width + shift]
    first = (image[:, shift:] * 255).astype(np.uint8)
    second = (image[:, :width] * 255).astype(np.uint8)
    return first, second


def write_frames(folder: str | os.PathLike, names: Sequence[str] = ("a.png", "b.png"), **kwargs: Any) -> list[Path]:
    """Frames of :func:`textured_frames` written with Pillow under ``folder``."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    first, second = textured_frames(**kwargs)
    paths = []
    for index, name in enumerate(names):
        path = folder / name
        Image.fromarray(first if index % 2 == 0 else second).save(path)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------ servers


# ------------------------------------------------------------------------------ read-only folders


@functools.lru_cache(maxsize=1)
def _can_unshare_mounts() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True, check=False)
    return probe.returncode == 0


_READ_ONLY_MOUNT = 'd="$0"; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" "$d" && exec "$@"'


@contextlib.contextmanager
def read_only(folder: str | os.PathLike) -> Iterator[Callable[[list[str]], list[str]]]:
    """Make ``folder`` read-only for the commands run with the yielded ``wrap``.

    As an ordinary user the tree is ``chmod -R a-w`` (restored afterwards). As root, permission
    bits do not stop writes, so the command runs in a private mount namespace (``unshare -m``)
    where ``folder`` is bind-mounted read-only: every write, ``mkdir`` or lock file there fails
    with EROFS ("Read-only file system"), exactly as on a read-only volume. Where neither works
    the test is skipped.
    """
    folder = Path(folder)
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for path, mode in modes.items():
            path.chmod(mode & ~0o222)
        try:
            yield lambda cmd: cmd
        finally:
            for path, mode in sorted(modes.items(), key=lambda item: len(item[0].parts)):
                path.chmod(mode)
        return
    if not _can_unshare_mounts():
        pytest.skip("running as root without the right to bind-mount a read-only folder (unshare -m)")
    yield lambda cmd: ["unshare", "-m", "--propagation", "private", "sh", "-c", _READ_ONLY_MOUNT, str(folder), *cmd]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` every 10 ms until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
