"""Shared fixtures: the real Sleep-EDF folder beside the checkout, and a small surrogate set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: CI has ``../shared`` beside the checkout; SLEEPBENCH_REAL_DATA overrides.
REAL_DIR = Path(os.environ.get("SLEEPBENCH_REAL_DATA", REPO.parent / "shared/data/sleep-edf"))
REAL_PSG = REAL_DIR / "sleep-cassette" / "SC4001E0-PSG.edf"
REAL_HYP = REAL_DIR / "sleep-cassette" / "SC4001EC-Hypnogram.edf"


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not REAL_PSG.is_file() or not REAL_HYP.is_file():
        pytest.skip(f"real Sleep-EDF night SC4001E0 not found under {REAL_DIR} "
                    "(expected ../shared/data/sleep-edf beside the checkout)")
    return REAL_DIR


@pytest.fixture(scope="session")
def small_surrogate(tmp_path_factory) -> Path:
    """Three subjects x two nights x 1.5 h, stage sequences from the transition model."""
    from sleepbench.datasets.surrogate import SurrogateSpec, generate

    out = tmp_path_factory.mktemp("surrogate")
    generate(out, SurrogateSpec(subjects=3, nights=2, hours=1.5, seed=7), progress=False)
    return out


@pytest.fixture(scope="session")
def quick_cache(tmp_path_factory):
    """The quick protocol's surrogate data, generated once into a test cache."""
    from sleepbench.benchmark.protocol_data import open_protocol_data
    from sleepbench.benchmark.protocols import load_protocol

    cache = tmp_path_factory.mktemp("cache")
    open_protocol_data(load_protocol("quick"), cache_dir=cache, n_jobs=2, progress=False)
    return cache


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """``SLEEPBENCH_CACHE`` set to a fresh folder for one test module (FINs of test configurations
    pre-train there, not in the user's cache)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SLEEPBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def toy_plugin():
    """Registers the toy entries of tests/support/toy_entries.py (also for subprocesses, via the env)."""
    from sleepbench.benchmark.registry import discover

    path = REPO / "tests" / "support" / "toy_entries.py"
    os.environ["SLEEPBENCH_PLUGINS"] = str(path)
    discover()
    return path


def pytest_collection_modifyitems(items):
    """Tests that use the fake or the real Docker client are ``docker`` tests (and start
    processes); the mark follows the fixture, so a new Docker test cannot forget it."""
    for item in items:
        if "docker_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.subprocess)
