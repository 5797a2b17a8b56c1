"""``hf-hub:`` names with no way to the Hub: one line at once, never ``huggingface_hub``'s retries."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.weights.hf_hub import hub_unreachable

ROOT = Path(__file__).resolve().parents[3]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_hub_unreachable_names_a_closed_port_and_passes_an_open_one(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = closed_port()
    assert hub_unreachable(f"http://127.0.0.1:{port}") == f"127.0.0.1:{port}: Connection refused"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        open_port = server.getsockname()[1]
        assert hub_unreachable(f"http://127.0.0.1:{open_port}") is None
        # through a proxy, the proxy is what must answer
        monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("no_proxy", "")
        assert hub_unreachable(f"http://127.0.0.1:{open_port}") == f"127.0.0.1:{port}: Connection refused"


def _sample(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ZOO_HOME": str(tmp_path / "zoo-home"), "HF_HOME": str(tmp_path / "hf-home"),
                   "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "PYTHONPATH": str(ROOT), **env}
    for name in ("HF_HUB_OFFLINE", "ZOO_OFFLINE", "http_proxy", "HTTP_PROXY"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run([sys.executable, "-m", "zoo.cli", "sample", "hf-hub:my-org/pwcnet-synth@v1", "-o",
                           str(tmp_path / "out.png")], cwd=tmp_path, env=environment, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("env", [{"HF_ENDPOINT": "closed"}, {"ZOO_OFFLINE": "1"}, {"HF_HUB_OFFLINE": "1"}])
def test_hub_name_offline_fails_in_one_line_without_retries(tmp_path, env):
    if env.get("HF_ENDPOINT") == "closed":
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}"}
    done = _sample(tmp_path, **env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # today's failure: six "Retrying in Ns" lines first
    assert lines[0].startswith("zoo: error: hf-hub:my-org/pwcnet-synth@v1: config.json is not in the Hugging Face "
                               "cache and the Hub cannot be reached (")
    reason = "Connection refused" if "HF_ENDPOINT" in env else f"({next(iter(env))} set)"
    assert reason in lines[0]
    assert not (tmp_path / "out.png").exists()
