"""Training budgets are counted in passes and steps, never in seconds (issue 11).

A wall-clock budget makes a record depend on the machine and on how many jobs ran beside it, so no
registered entry may default to one and no suite may set one.
"""

from __future__ import annotations

import inspect

import pytest

from benchmark.registry import discover
from benchmark.suites import available, load_suite

#: parameter names that would bound training by elapsed time
WALL_CLOCK = ("max_train_seconds",)


def test_no_entry_defaults_to_a_wall_clock_budget():
    entries = discover()
    assert "tinysleepnet" in entries and "vivit" in entries
    for name, info in entries.items():
        params = inspect.signature(info.cls.__init__).parameters
        for key in WALL_CLOCK:
            if key in params:
                assert params[key].default is None, f"{name} defaults to {key}={params[key].default}"
        if info.kind == "deep":
            assert info.cls().recipe().max_train_seconds is None, name


@pytest.mark.parametrize("suite", available())
def test_no_suite_sets_a_wall_clock_budget(suite):
    models = load_suite(suite)["models"]
    for model, params in models.items():
        for key in WALL_CLOCK:
            assert params.get(key) is None, f"suite {suite}: {model} sets {key}={params[key]}"
