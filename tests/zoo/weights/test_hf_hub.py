"""``hf-hub:`` weights, ``zoo.save_pretrained``, ``zoo push`` and model cards, without network.

``huggingface_hub`` reads ``HF_HUB_CACHE``, ``HF_HUB_OFFLINE`` and ``HF_ENDPOINT`` when it is
imported, so the tests that set them run the zoo in a fresh Python process, as a user would.
The Hub is either its cache layout written by the test (:func:`place_in_cache`) or
:class:`FakeHub` on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from tests.support.hf_hub import FakeHub, place_in_cache
from zoo.catalog.records import WeightsInfo
from zoo.cli import main
from zoo.models.nvae.graphs import example_noise
from zoo.models.pwcnet.network import PWCNet
from zoo.publish.card import model_card
from zoo.weights.checkpoint import read_zoo_metadata, save_weights
from zoo.weights.hf_hub import PRETRAINED_FILES, hub_name, parse_hub_name

ROOT = Path(__file__).resolve().parents[3]
COMMIT_A, COMMIT_B = "a" * 40, "b" * 40


def _frames() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return torch.rand(1, 3, 64, 96, generator=generator), torch.rand(1, 3, 64, 96, generator=generator)


@contextlib.contextmanager
def _one_thread():
    """Run as the ``_run_python`` children do: one thread, so float sums add in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _flow(network) -> torch.Tensor:
    with torch.no_grad(), _one_thread():
        return network(*_frames())


def _logits(network) -> torch.Tensor:
    with torch.no_grad(), _one_thread():
        return network.sample_logits(2, noise=example_noise(network, 2, torch.Generator().manual_seed(4)))


def _safetensors_content(data: bytes) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors) of a safetensors file's bytes."""
    from safetensors.torch import load

    header = json.loads(data[8:8 + int.from_bytes(data[:8], "little")])
    return header["__metadata__"], load(data)


def _run_python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -c code args`` in a fresh process with only ``env`` added for the Hub."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    return subprocess.run([sys.executable, "-c", code, *args], check=False, cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """save_pretrained folders: the bundled PWC-Net and NVAE, and a randomly initialised PWC-Net."""
    root = tmp_path_factory.mktemp("pretrained")
    torch.manual_seed(0)
    random_file = save_weights(root / "random.safetensors", PWCNet().state_dict(), arch="pwcnet",
                               config={"context": True, "channel_order": "BGR", "max_displacement": 4})
    return {"pwc": zoo.save_pretrained("pwcnet.synth", root / "pwc", repo_id="org/pwc"),
            "nvae": zoo.save_pretrained("nvae.mnist-cpu", root / "nvae", repo_id="org/nvae"),
            "random": zoo.save_pretrained(random_file, root / "random")}


def test_save_pretrained_writes_exactly_the_three_files(folders, tmp_path):
    folder = folders["pwc"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(PRETRAINED_FILES)
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == "pwcnet" and config["weights"] == "pwcnet.synth"
    assert config["config"] == {"context": True, "channel_order": "BGR", "max_displacement": 4, "pipeline": "nvlabs"}
    metadata = read_zoo_metadata(folder / "model.safetensors")
    assert metadata["arch"] == "pwcnet" and metadata["config"] == config["config"]
    record = metadata["info"]["record"]
    published = zoo.weights_info("pwcnet.synth").metrics
    assert record["license"].startswith("Apache-2.0") and published
    assert record["metrics"] == {dataset: dict(figures) for dataset, figures in published.items()}
    card = (folder / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0\n") and 'zoo.load("hf-hub:org/pwc")' in card
    chairs = published["flyingchairs-crop-50x50 (1 real pair)"]["epe"]
    assert f"| flyingchairs-crop-50x50 (1 real pair) | epe | {chairs:g} |" in card and "arXiv:1709.02371" in card
    # the file loads to the same network
    torch.testing.assert_close(_flow(zoo.load("pwcnet", weights=folder / "model.safetensors")),
                               _flow(zoo.load("pwcnet.synth")), rtol=0, atol=0)
    # saving again into the same folder is fine, into a folder with other files is not
    zoo.save_pretrained("pwcnet.synth", folder, repo_id="org/pwc")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds other files \(notes.txt\)"):
        zoo.save_pretrained("pwcnet.synth", tmp_path)
    with pytest.raises(ValueError, match="was not built by zoo.load"):
        zoo.save_pretrained(PWCNet(), tmp_path / "new")


_LOAD_OFFLINE = """
import json, sys, torch, zoo
from zoo.models.nvae.graphs import example_noise
from zoo.catalog import registry
frames, out = torch.load(sys.argv[1]), {}
with torch.no_grad():
    for name in ("hf-hub:org/pwc", "hf-hub:org/pwc@v0", "hf-hub:org/pwc@" + "a" * 40):
        out[name] = zoo.load(name)(*frames)
    vae = zoo.load("hf-hub:org/nvae")
    out["nvae"] = vae.sample_logits(2, noise=example_noise(vae, 2, torch.Generator().manual_seed(4)))
    registry._load_catalog()
    registry.register_weights(registry.WeightsInfo(name="pwcnet.hub-test", layout="zoo", hf_repo="org/pwc",
                                                   config={"context": True}))
    registry.register_weights(registry.WeightsInfo(name="pwcnet.hub-v0", layout="zoo", hf_repo="org/pwc",
                                                   hf_revision="v0"))
    out["registry"] = zoo.load("pwcnet.hub-test")(*frames)
    out["registry@v0"] = zoo.load("pwcnet.hub-v0")(*frames)
out["licence"] = zoo.load("hf-hub:org/nvae").zoo_record.weights.license
try:
    zoo.load("hf-hub:org/missing")
except FileNotFoundError as error:
    out["missing"] = str(error)
torch.save(out, sys.argv[2])
"""


def test_hub_cache_loads_offline_to_identical_outputs_with_revisions(folders, tmp_path):
    cache = tmp_path / "hub-cache"
    place_in_cache(folders["pwc"], cache, "org/pwc", COMMIT_A, refs=("main",))
    place_in_cache(folders["random"], cache, "org/pwc", COMMIT_B, refs=("v0",))
    place_in_cache(folders["nvae"], cache, "org/nvae", COMMIT_A)
    torch.save(_frames(), tmp_path / "frames.pt")
    result = _run_python(_LOAD_OFFLINE, {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "home")},
                         str(tmp_path / "frames.pt"), str(tmp_path / "out.pt"))
    assert result.returncode == 0, result.stderr[-3000:]
    out = torch.load(tmp_path / "out.pt")
    synth, random_init = _flow(zoo.load("pwcnet.synth")), _flow(zoo.load("pwcnet", weights=folders["random"] / "model.safetensors"))
    # Computed in another process: equal to rounding, not promised bit for bit (both run on one
    # thread, where they agree exactly today). 1e-5 px / logit is far above float32 rounding of
    # these outputs (~1e-6) and far below the distance between two weight sets (asserted > 0.1).
    def same(a, b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)

    for name in ("hf-hub:org/pwc", f"hf-hub:org/pwc@{COMMIT_A}", "registry"):
        same(out[name], synth)
    same(out["hf-hub:org/pwc@v0"], random_init)
    assert float((random_init - synth).abs().max()) > 0.1
    same(out["registry@v0"], random_init)
    same(out["nvae"], _logits(zoo.load("nvae.mnist-cpu")))
    assert out["licence"].startswith("Apache-2.0")
    assert "hf-hub:org/missing: config.json is not in the Hugging Face cache" in out["missing"]


_CLI = """
import sys
from zoo.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_cli_takes_hub_weights_and_pushes_to_the_hub(folders, tmp_path):
    hub = FakeHub().start()
    try:
        env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_test_token", "HF_HUB_CACHE": str(tmp_path / "cache"),
               "HF_HOME": str(tmp_path / "home")}
        pushed = _run_python(_CLI, env, "push", "pwcnet.synth", "org/pwc")
        assert pushed.returncode == 0, pushed.stderr[-3000:]
        assert [(c["organization"], c["name"]) for c in hub.created] == [("org", "pwc")]
        commits = [(path, headers) for method, path, headers in hub.requests if "/commit/" in path]
        assert [path for path, _ in commits] == ["/api/models/org/pwc/commit/main"]
        assert commits[0][1]["authorization"] == "Bearer hf_test_token"  # the token from HF_TOKEN
        uploaded = hub.files("org/pwc")
        assert sorted(uploaded) == sorted(PRETRAINED_FILES)
        for name in ("config.json", "README.md"):
            assert uploaded[name] == (folders["pwc"] / name).read_bytes()
        # safetensors orders its header's metadata per process: compare the parsed contents
        local = _safetensors_content((folders["pwc"] / "model.safetensors").read_bytes())
        remote = _safetensors_content(uploaded["model.safetensors"])
        assert remote[0] == local[0] and remote[1].keys() == local[1].keys()
        assert all(torch.equal(remote[1][k], local[1][k]) for k in local[1])
        assert f"pushed pwcnet.synth to org/pwc: {hub.endpoint}/org/pwc/commit/" in pushed.stdout

        from PIL import Image
        for index, image in enumerate(_frames()):
            Image.fromarray((image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(tmp_path / f"{index}.png")
        images = [str(tmp_path / "0.png"), str(tmp_path / "1.png")]
        # ZOO_OFFLINE=1 keeps the Hub off the network too: nothing cached yet, so an error and no request
        requests_before = len(hub.requests)
        refused = _run_python(_CLI, {**env, "ZOO_OFFLINE": "1"}, "flow", *images, "--weights", "hf-hub:org/pwc",
                              "-o", str(tmp_path / "refused.flo"))
        assert refused.returncode == 1 and "not in the Hugging Face cache" in refused.stderr
        assert len(hub.requests) == requests_before

        # the pushed repository serves --weights hf-hub:... of zoo flow: the same flow as the bundled file
        flowed = _run_python(_CLI, env, "flow", *images, "--weights", "hf-hub:org/pwc", "-o", str(tmp_path / "hub.flo"),
                             "--precision", "float32")
        assert flowed.returncode == 0, flowed.stderr[-3000:]
        commit = hub.repos["org/pwc"]["refs"]["main"]
        weight_requests = {path for _, path, _ in hub.requests[requests_before:] if path.endswith("/model.safetensors")}
        assert weight_requests == {f"/org/pwc/resolve/{commit}/model.safetensors"}  # the commit config.json came from
        with _one_thread():  # as the zoo process that read the Hub
            assert main(["flow", *images, "--weights", "pwcnet.synth", "-o", str(tmp_path / "local.flo"),
                         "--precision", "float32"]) == 0
        assert (tmp_path / "hub.flo").read_bytes() == (tmp_path / "local.flo").read_bytes()

        # offline now, from the cache that the download filled; a missing repository is one line
        offline = _run_python(_CLI, {**env, "HF_HUB_OFFLINE": "1"}, "flow", *images, "--weights", "hf-hub:org/pwc",
                              "-o", str(tmp_path / "offline.flo"), "--precision", "float32")
        assert offline.returncode == 0 and (tmp_path / "offline.flo").read_bytes() == (tmp_path / "local.flo").read_bytes()
        missing = _run_python(_CLI, env, "sample", "hf-hub:org/nope", "-o", str(tmp_path / "s.png"))
        assert missing.returncode == 1
        assert missing.stderr.strip().splitlines() == [
            ("zoo: error: hf-hub:org/nope: config.json: no such repository on the Hub (or it is private: log in with "
             "hf auth login, or set HF_TOKEN)")]
    finally:
        hub.stop()


def test_hub_names_and_records():
    assert parse_hub_name("hf-hub:org/name") == ("org/name", None)
    assert parse_hub_name("hf-hub:org/name@v1.0") == ("org/name", "v1.0")
    assert hub_name("org/name", "main") == "hf-hub:org/name@main"
    for bad in ("hf-hub:name", "hf-hub:org/", "hf-hub:a/b/c", "hf-hub:org/name@"):
        with pytest.raises(ValueError, match="expected hf-hub:ORG/NAME"):
            parse_hub_name(bad)
    info = WeightsInfo(name="pwcnet.x", layout="zoo", hf_repo="org/name", hf_revision="v1")
    assert dict(info.as_rows())["urls"] == "hf-hub:org/name@v1"
    with pytest.raises(ValueError, match="hf_repo must be 'ORG/NAME'"):
        WeightsInfo(name="pwcnet.x", layout="zoo", hf_repo="name")
    with pytest.raises(ValueError, match="either urls or hf_repo"):
        WeightsInfo(name="pwcnet.x", layout="zoo", hf_repo="org/name", urls=("https://example.org/w",))
    described = zoo.weights_info("nvae.mnist-cpu").description()
    assert WeightsInfo.from_description("x.y", described).description() == described


def test_zoo_card_prints_the_card_of_bundled_and_official_weights(capsys):
    assert main(["card", "pwcnet.synth"]) == 0
    card = capsys.readouterr().out
    assert card == model_card("pwcnet", zoo.weights_info("pwcnet.synth")) + "\n"
    assert "license: apache-2.0" in card and "- optical-flow" in card and "## Training recipe" in card
    assert "zoo flow frame1.png frame2.png --weights pwcnet.synth" in card
    assert main(["card", "nvae.cifar10"]) == 0  # official NVIDIA weights: licence 'other' with its name
    card = capsys.readouterr().out
    assert "license: other\nlicense_name: nvidia-source-code-license-for-nvae\n" in card
    assert "| cifar10-test | bpd | 2.91 |" in card and "net.sample(16, temperature=0.7)" in card
