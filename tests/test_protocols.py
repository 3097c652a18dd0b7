"""Leakage and stability properties of every committed protocol."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sleepbench.benchmark.protocols import PROTOCOL_DIR, available, content_hash, load_protocol
from sleepbench.datasets.inventory import sleep_cassette_records

from .conftest import REPO

NAMES = available()


def test_the_designed_protocols_exist():
    assert {"sleepedf-20", "sleepedf-78", "surrogate-20", "quick", "real-night"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_unit_tested_exactly_once_and_never_in_two_roles(name):
    p = load_protocol(name)
    tested = [s for f in p["folds"] for s in f["test"]]
    if p["kind"] == "cross-study":  # tests the other study's units only, each exactly once
        assert sorted(tested) == sorted(u for u in p["subjects"] if u >= p["test_unit_offset"])
    else:
        assert sorted(tested) == sorted(p["subjects"])  # exactly once
    for f in p["folds"]:
        train, valid, test = set(f["train"]), set(f["valid"]), set(f["test"])
        assert not (train & valid) and not (train & test) and not (valid & test)
        assert train | valid | test == set(p["subjects"])
        assert valid and train and test


@pytest.mark.parametrize("name", NAMES)
def test_hash_matches_content(name):
    p = json.loads((PROTOCOL_DIR / f"{name}.json").read_text())
    assert content_hash(p) == p["hash"] and len(p["hash"]) == 64


@pytest.mark.slow
def test_generation_is_reproducible_in_a_fresh_interpreter(tmp_path):
    """Same files whatever the process (hash randomisation differs between interpreters)."""
    code = ("import json; from benchmark.protocols.make_protocols import build; "
            "print(json.dumps({p['name']: p['hash'] for p in build()}))")
    hashes = []
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
        hashes.append(json.loads(out))
    assert hashes[0] == hashes[1] == {n: load_protocol(n)["hash"] for n in hashes[0]}


def test_sleep_edf_subject_sets():
    nights = {(r.subject, r.night) for r in sleep_cassette_records()}
    p20 = load_protocol("sleepedf-20")
    assert p20["subjects"] == list(range(20)) and len(p20["folds"]) == 20
    assert sum(1 for s, _ in nights if s < 20) == 39  # subject 13 has one night
    p78 = load_protocol("sleepedf-78")
    assert len(p78["subjects"]) == 78 and len(p78["folds"]) == 10
    assert len(nights) == 153


def test_a_hand_edited_protocol_is_refused(tmp_path, monkeypatch):
    import sleepbench.benchmark.protocols as protocols

    p = load_protocol("quick")
    p["folds"][0]["test"].append(p["folds"][0]["train"].pop())
    monkeypatch.setattr(protocols, "PROTOCOL_DIR", tmp_path)
    protocols._load.cache_clear()
    (tmp_path / "quick.json").write_text(json.dumps(p))
    try:
        with pytest.raises(ValueError, match="does not match its hash"):
            protocols.load_protocol("quick")
    finally:
        protocols._load.cache_clear()
