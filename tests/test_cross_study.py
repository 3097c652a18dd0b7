"""Cross-study protocols (Sleep-EDF cassette -> telemetry): the telemetry record table and its drug
conditions, the ST-layout surrogate writer, the reader on ST files, fetching both ST nights with
SHA-1 checks, and ``sleepbench run --protocol sleepedf-sc-to-st`` end to end on an SC+ST surrogate."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest

from sleepbench.benchmark.protocols import load_protocol
from sleepbench.datasets.inventory import Record, sleep_telemetry_records, telemetry_conditions
from sleepbench.datasets.sleep_edf import SleepEDF, fetch
from sleepbench.datasets.studies import TEST_UNIT_OFFSET
from sleepbench.datasets.surrogate import PSG_SIGNALS_ST, SurrogateSpec, generate

from .support.loopback import MirrorHandler, loopback_mirror

PROTOCOLS = {"placebo": "sleepedf-sc-to-st", "temazepam": "sleepedf-sc-to-st-temazepam"}


@pytest.fixture(scope="module")
def sc_st_surrogate(tmp_path_factory):
    """Cassette subjects 0-9 (one 30-min night each: enough for the protocol's training and
    validation subjects 0 and 9) and telemetry subjects 0-2 (both nights), in their layouts."""
    out = tmp_path_factory.mktemp("sc-st")
    generate(out, SurrogateSpec(subjects=10, nights=1, hours=0.5, seed=3, telemetry_subjects=3),
             n_jobs=2, progress=False)
    return out


def test_telemetry_conditions_one_of_each_per_subject():
    cond = telemetry_conditions()
    assert Counter(cond.values()) == {"placebo": 22, "temazepam": 22}
    by_subject = {}
    for rec in sleep_telemetry_records():
        by_subject.setdefault(rec.subject, set()).add(cond[rec.name])
    assert all(v == {"placebo", "temazepam"} for v in by_subject.values()) and len(by_subject) == 22
    # the order differs between subjects: the night number does not tell the drug
    assert cond["ST7011J0"] == "placebo" and cond["ST7021J0"] == "temazepam"


def test_cross_study_protocols():
    placebo, temazepam = (load_protocol(p) for p in PROTOCOLS.values())
    for p, condition in ((placebo, "placebo"), (temazepam, "temazepam")):
        assert p["kind"] == "cross-study" and p["dataset"]["test_condition"] == condition
        (fold,) = p["folds"]
        assert sorted(fold["train"] + fold["valid"]) == list(range(20)) and len(fold["valid"]) == 2
        assert fold["test"] == [TEST_UNIT_OFFSET + s for s in range(22)]
    assert placebo["folds"][0]["train"] == temazepam["folds"][0]["train"]  # same training


def test_surrogate_in_telemetry_layout(sc_st_surrogate):
    import mne

    manifest = json.loads((sc_st_surrogate / "SURROGATE.json").read_text())
    st = [r for r in manifest["records"] if r["study"] == "surrogate-ST"]
    real = {r.name: r for r in sleep_telemetry_records() if r.subject < 3}
    assert sorted(r["psg"].split("-")[0] for r in st) == sorted(real)
    for r in st:  # ST's own file names, in sleep-telemetry/
        assert r["hypnogram"] == real[r["psg"].split("-")[0]].hypnogram
        assert (sc_st_surrogate / "sleep-telemetry" / r["psg"]).is_file()
    raw = mne.io.read_raw_edf(sc_st_surrogate / "sleep-telemetry" / st[0]["psg"], verbose="error")
    assert raw.ch_names == [s[0] for s in PSG_SIGNALS_ST]
    assert "EMG submental" in raw.ch_names and raw.info["sfreq"] == 100.0
    # each study's dataset sees its own layout only; the reader takes ST files as they are
    tele = SleepEDF(sc_st_surrogate, study="telemetry", cache_dir=sc_st_surrogate / "cache")
    cass = SleepEDF(sc_st_surrogate, study="cassette", cache_dir=sc_st_surrogate / "cache")
    assert {r.name[:2] for r in tele.records} == {"ST"} and len(tele.records) == 6
    assert {r.name[:2] for r in cass.records} == {"SC"} and len(cass.records) == 10
    assert not tele.prepare(progress=False)
    rec = tele.load("ST7011J0")
    assert rec.x.shape[1:] == (1, 3000) and len(rec.y) > 0 and rec.subject == 0


@pytest.mark.slow
@pytest.mark.parametrize("condition", ["placebo", "temazepam"])
def test_run_cross_study_end_to_end(sc_st_surrogate, tmp_path, condition):
    from sleepbench.benchmark.cli import main
    from sleepbench.benchmark.reporting import write_tables

    protocol = PROTOCOLS[condition]
    results = tmp_path / "results"
    rc = main(["run", "--protocol", protocol, "--models", "majority", "--data-dir",
               str(sc_st_surrogate), "--results", str(results), "--cache-dir",
               str(sc_st_surrogate / "cache"), "--workers", "1"])
    assert rc == 0
    record = json.loads((results / f"runs/{protocol}/majority/seed-0/fold-0.json").read_text())
    assert record["dataset"]["source"] == "surrogate" and record["protocol"]["kind"] == "cross-study"
    assert record["subjects"]["test"] == [TEST_UNIT_OFFSET + s for s in range(3)]
    assert record["subjects"]["valid"] == [0, 9] and set(record["subjects"]["train"]) == set(range(1, 9))
    with np.load(results / f"runs/{protocol}/majority/seed-0/fold-0.npz") as z:
        nights = set(z["recording"].tolist())
        subjects = set(z["subject"].tolist())
    cond = telemetry_conditions()
    assert len(nights) == 3 and {cond[n] for n in nights} == {condition}  # one night per subject
    assert subjects == {0, 1, 2}  # paired statistics over the telemetry subjects
    paths = {p.name for p in write_tables(results)}
    assert {f"{protocol}.md", f"{protocol}-sleepstats.md", f"{protocol}-sleepstats.csv"} <= paths
    text = (results / "tables" / f"{protocol}.md").read_text()
    assert text.startswith("# [SURROGATE") and "cross-study" in text


@pytest.fixture
def telemetry_mirror(tmp_path):
    with loopback_mirror(tmp_path / "mirror", "sleep-telemetry") as mirror:
        yield mirror


def test_fetch_telemetry_both_nights_with_sha1(sc_st_surrogate, telemetry_mirror, tmp_path,
                                               monkeypatch):
    """Both nights of a subject are fetched (MNE's own fetcher gets the placebo night only) and
    verified against the record table; here the table is pointed at the surrogate files."""
    import sleepbench.datasets.sleep_edf as sedf

    folder, url = telemetry_mirror
    manifest = json.loads((sc_st_surrogate / "SURROGATE.json").read_text())
    table = tuple(Record("ST", r["subject"], r["night"], r["psg"], r["psg_sha1"], r["hypnogram"],
                         r["hypnogram_sha1"]) for r in manifest["records"] if r["study"] == "surrogate-ST")
    for r in table:
        for f in (r.psg, r.hypnogram):
            shutil.copy(sc_st_surrogate / "sleep-telemetry" / f, folder / f)
    monkeypatch.setattr(sedf, "records_for", lambda study: table)
    inv = fetch(tmp_path / "data", subjects=[0], study="telemetry", base_url=url, progress=False)
    assert sorted(inv.complete) == ["ST7011J0", "ST7012J0"] and not inv.corrupt
    assert sorted(MirrorHandler.requests) == sorted(f"/sleep-telemetry/{f}" for r in table[:2]
                                               for f in (r.psg, r.hypnogram))
    # a corrupt copy on the mirror is refused by its SHA-1 and listed, not raised
    bad = bytearray((folder / table[2].psg).read_bytes())
    bad[-10] ^= 0xFF
    (folder / table[2].psg).write_bytes(bytes(bad))
    inv = fetch(tmp_path / "data", subjects=[1], study="telemetry", base_url=url, progress=False)
    failed = {r.name: problem for r, _, problem in inv.corrupt}
    assert table[2].name in failed and failed[table[2].name].startswith("download failed")
    assert table[3].name in inv.complete
