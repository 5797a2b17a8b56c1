"""``ZOO_OFFLINE=1 zoo push`` sent its requests (create repo, preupload, commit) to the Hub
(issue 26, item 13). Offline, a push is refused before any request: counted on the loopback
fake Hub that ``huggingface_hub`` is pointed at."""

from __future__ import annotations

import pytest

from tests.support.hf_hub import FakeHub
from tests.support.hostile import assert_one_line_error, run_cli

pytestmark = pytest.mark.hostile


@pytest.mark.parametrize("variable", ["ZOO_OFFLINE", "HF_HUB_OFFLINE"])
def test_an_offline_push_sends_nothing(tmp_path, variable):
    hub = FakeHub().start()
    try:
        env = {"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_test_token", "HF_HUB_CACHE": str(tmp_path / "cache"),
               "HF_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_TELEMETRY": "1", variable: "1"}
        result = run_cli("push", "pwcnet.synth", "org/pwc", env=env)
        assert_one_line_error(result, "cannot push to org/pwc", f"{variable} set", "nothing was sent")
        assert hub.requests == [] and hub.created == []
        online = run_cli("push", "pwcnet.synth", "org/pwc", env={**env, variable: "0"})
        assert online.rc == 0, online.stderr[-2000:]  # the same command online reaches the hub
        assert [(c["organization"], c["name"]) for c in hub.created] == [("org", "pwc")]
    finally:
        hub.stop()
