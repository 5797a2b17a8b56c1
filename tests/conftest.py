"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the project root (real data and official-layout fixtures)."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the shared data and fixtures come only with CI and dev checkouts")
    return SHARED


@pytest.fixture(autouse=True)
def zoo_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty weight cache, so no test sees the user's ~/.cache/zoo."""
    home = tmp_path_factory.mktemp("zoo_home")
    monkeypatch.setenv("ZOO_HOME", str(home))
    monkeypatch.delenv("ZOO_OFFLINE", raising=False)
    return home


@pytest.fixture()
def http_server():
    """A real HTTP server on 127.0.0.1; add :class:`tests.support.http_server.Route` entries to ``routes``."""
    from tests.support.http_server import LoopbackServer

    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pwcnet_fixture_dir(shared_dir: Path) -> Path:
    """``../shared/fixtures/pwcnet``: PWC-Net key lists, weight recipe and reference outputs."""
    return shared_dir / "fixtures" / "pwcnet"


@pytest.fixture(scope="session")
def pwcnet_recipe(pwcnet_fixture_dir: Path) -> dict:
    """The fixture's PWC-Net recipe weights (float64) under NVlabs names (``tests/support/pwcnet_recipe.py``)."""
    from tests.support.pwcnet_recipe import recipe_nvlabs

    return recipe_nvlabs(pwcnet_fixture_dir)


@pytest.fixture()
def tinynet(monkeypatch):
    """Registers the ``tinynet`` architecture (tests/support/tinynet.py) for the duration of a test."""
    from zoo.catalog import registry

    registry._load_catalog()
    monkeypatch.setattr(registry, "_ARCHITECTURES", dict(registry._ARCHITECTURES))
    monkeypatch.setattr(registry, "_WEIGHTS", dict(registry._WEIGHTS))
    registry.register_architecture(registry.Architecture(
        name="tinynet", network="tests.support.tinynet:TinyNet", converter="tests.support.tinynet",
        default_config={"width": 4}, description="a test architecture"))
    return registry


@pytest.fixture()
def zoo_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sys.argv`` as the ``zoo`` command has it, for tests that run ``zoo fit`` in this process:
    LightningCLI warns on stderr when it is given arguments while ``sys.argv`` holds pytest's, and
    a test of a one-line error must not see that warning (pytest's warnings plugin may be off)."""
    import sys

    monkeypatch.setattr(sys, "argv", ["zoo"])
