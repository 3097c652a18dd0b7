"""The harness end to end on the quick protocol's surrogate data, with toy entries from a plugin file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from sleepbench.benchmark.runner import list_jobs, run

from .conftest import REPO


def _run(results, cache, models, seeds=(0,), **kw):
    models = models if isinstance(models, dict) else {m: {} for m in models}
    jobs = list_jobs("quick", models, list(seeds), results, cache_dir=cache)
    return run(jobs, progress=False, **kw)


def test_a_plugin_entry_runs_through_the_harness(toy_plugin, quick_cache, tmp_path):
    results = _run(tmp_path, quick_cache, ["toy-prior"])
    assert [r.status for r in results] == ["done"] * 3
    rec = json.loads(Path(results[0].path).read_text())
    assert rec["protocol"]["name"] == "quick" and rec["dataset"]["source"] == "surrogate"
    assert rec["model"]["description"].startswith("Training class prior")
    assert set(rec["subjects"]["test"]).isdisjoint(rec["subjects"]["train"] + rec["subjects"]["valid"])
    assert rec["environment"]["packages"]["numpy"] == np.__version__
    z = np.load(Path(results[0].path).with_suffix(".npz"))
    assert set(np.unique(z["subject"])) == set(rec["subjects"]["test"])
    assert len(z["y_true"]) == rec["n_test_epochs"] == len(z["proba"])


def test_recorded_metrics_equal_sklearn_on_saved_predictions(toy_plugin, quick_cache, tmp_path):
    for r in _run(tmp_path, quick_cache, ["toy-prior"]):
        rec = json.loads(Path(r.path).read_text())
        z = np.load(Path(r.path).with_suffix(".npz"))
        pooled = rec["metrics"]["pooled"]
        assert pooled["accuracy"] == pytest.approx(accuracy_score(z["y_true"], z["y_pred"]))
        assert pooled["kappa"] == pytest.approx(cohen_kappa_score(z["y_true"], z["y_pred"]))
        assert pooled["macro_f1"] == pytest.approx(
            f1_score(z["y_true"], z["y_pred"], average="macro", labels=range(5), zero_division=0))
        for s, m in rec["metrics"]["per_subject"].items():
            sel = z["subject"] == int(s)
            assert m["accuracy"] == pytest.approx(accuracy_score(z["y_true"][sel], z["y_pred"][sel]))
        assert np.array_equal(z["y_pred"], z["proba"].argmax(1))


@pytest.mark.slow
def test_same_seed_gives_identical_predictions(toy_plugin, quick_cache, tmp_path):
    a = _run(tmp_path / "a", quick_cache, ["toy-prior"])
    b = _run(tmp_path / "b", quick_cache, ["toy-prior"])
    for ra, rb in zip(a, b):
        za, zb = np.load(Path(ra.path).with_suffix(".npz")), np.load(Path(rb.path).with_suffix(".npz"))
        assert np.array_equal(za["proba"], zb["proba"]) and np.array_equal(za["y_pred"], zb["y_pred"])


@pytest.mark.slow
def test_rerun_skips_finished_jobs_and_force_redoes_them(toy_plugin, quick_cache, tmp_path):
    _run(tmp_path, quick_cache, ["toy-prior"])
    assert [r.status for r in _run(tmp_path, quick_cache, ["toy-prior"])] == ["skipped"] * 3
    assert [r.status for r in _run(tmp_path, quick_cache, ["toy-prior"], force=True)] == ["done"] * 3
    # a different seed is a different job
    assert [r.status for r in _run(tmp_path, quick_cache, ["toy-prior"], seeds=(1,))] == ["done"] * 3


@pytest.mark.slow
def test_one_failing_fold_does_not_sink_the_run(toy_plugin, quick_cache, tmp_path):
    results = _run(tmp_path, quick_cache, ["toy-broken", "toy-prior"])
    failed = [r for r in results if r.status == "failed"]
    assert len(failed) == 1 and "toy failure" in failed[0].error and "toy-broken" in failed[0].error
    assert sum(r.status == "done" for r in results) == 5


@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing_finished_folds(toy_plugin, quick_cache, tmp_path):
    suite = tmp_path / "slow.yaml"
    suite.write_text("protocol: quick\nseeds: [0]\nmodels:\n  toy-prior: {sleep_s: 2.0}\n")
    # in-process (--workers 1): pool workers outlive a SIGKILL of their parent and finish their job
    # (test_crash_safety kills whole process groups)
    cmd = [sys.executable, "-m", "sleepbench", "run", "--suite", str(suite), "--results",
           str(tmp_path / "r"), "--cache-dir", str(quick_cache), "--workers", "1"]
    env = {**os.environ, "SLEEPBENCH_PLUGINS": str(toy_plugin)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = tmp_path / "r/runs/quick/toy-prior/seed-0/fold-0.json"
    deadline = time.time() + 120
    while not first.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the first fold never finished"
    before = first.stat().st_mtime_ns
    done_before = sorted(p.name for p in first.parent.glob("fold-*.json"))
    assert len(done_before) < 3, "the run finished before it was killed"
    results = _run(tmp_path / "r", quick_cache, {"toy-prior": {"sleep_s": 2.0}})
    skipped = sorted(f"fold-{r.job.fold}.json" for r in results if r.status == "skipped")
    assert skipped == done_before and first.stat().st_mtime_ns == before
    assert all(r.status in ("done", "skipped") for r in results)


# --- record identity (issue 11 item 1, issue 13 item 2) ------------------------------------------

def test_record_stores_its_full_identity(toy_plugin, quick_cache, tmp_path):
    from sleepbench.benchmark.protocols import load_protocol
    from sleepbench.datasets.cache import CACHE_VERSION

    rec = json.loads(Path(_run(tmp_path, quick_cache, {"toy-prior": {"sleep_s": 0.01}})[0].path).read_text())
    ident = rec["identity"]
    assert ident["params"] == {"seed": 0, "sleep_s": 0.01} == rec["model"]["params"]  # resolved, seed included
    assert ident["cache_version"] == CACHE_VERSION and ident["prep"] == load_protocol("quick")["prep"]
    assert ident["data"] == rec["dataset"]["checksums"] and ident["data"]
    files = ident["code_files"]
    assert ("plugin:toy_entries.py" in files and "sleepbench.benchmark.runner" in files
            and "sleepbench.benchmark.training" in files)
    assert ident["code_hash"] == rec["model"]["code_hash"] and len(ident["code_hash"]) == 64


def test_code_identity_follows_lazy_imports_of_the_entry():
    from sleepbench.benchmark.identity import code_identity
    from sleepbench.benchmark.registry import get_entry

    files = code_identity(get_entry("fin-vivit").cls)["files"]
    # models/fin.py is imported inside a method of fin_vivit.py: a change there must redo records
    assert {"sleepbench.models.fin_vivit", "sleepbench.models.vivit", "sleepbench.models.fin",
            "sleepbench.benchmark.epochs"} <= set(files)
    assert ("sleepbench.benchmark.cli" not in files
            and not any(f.startswith("sleepbench.benchmark.reporting") for f in files))


def test_every_identity_field_changes_the_config_hash():
    from sleepbench.benchmark.identity import config_hash
    from sleepbench.benchmark.jobs import Job

    job, protocol = Job("quick", "m", 0, 0), {"hash": "p"}
    base = {"harness": 2, "params": {"lr": 1e-3}, "code_hash": "c", "code_files": {}, "cache_version": 2,
            "prep": {"sfreq": 100.0}, "data": {"SC4001E0": ["a", "b"]}}
    variants = [{**base, "params": {"lr": 1e-4}}, {**base, "code_hash": "d"}, {**base, "cache_version": 3},
                {**base, "prep": {"sfreq": 50.0}}, {**base, "data": {"SC4001E0": ["a", "c"]}}]
    hashes = {config_hash(job, protocol, v) for v in [base, *variants]}
    assert len(hashes) == 1 + len(variants)
    assert config_hash(job, protocol, base, "cuda") != config_hash(job, protocol, base, "cpu")


@pytest.mark.slow
def test_changed_code_redoes_the_record(toy_plugin, quick_cache, tmp_path, monkeypatch):
    import sleepbench.benchmark.identity as identity

    _run(tmp_path, quick_cache, ["toy-prior"])
    assert [r.status for r in _run(tmp_path, quick_cache, ["toy-prior"])] == ["skipped"] * 3
    real = identity._code_identity_of
    monkeypatch.setattr(identity, "_code_identity_of", lambda cls: ("0" * 64, real(cls)[1]))
    results = _run(tmp_path, quick_cache, ["toy-prior"])
    assert [r.status for r in results] == ["done"] * 3  # stale: same settings, other code
    assert json.loads(Path(results[0].path).read_text())["identity"]["code_hash"] == "0" * 64


@pytest.mark.slow
def test_other_settings_never_overwrite_a_record_silently(toy_plugin, quick_cache, tmp_path):
    from sleepbench.benchmark.runner import ConfigConflict

    first = _run(tmp_path, quick_cache, {"toy-prior": {"sleep_s": 0.01}})
    js = Path(first[0].path)
    before = js.read_bytes()
    with pytest.raises(ConfigConflict, match=r"sleep_s: 0\.01 \(record\) -> 0\.0 \(now\)"):
        _run(tmp_path, quick_cache, ["toy-prior"])  # the entry's defaults, e.g. `run --protocol`
    assert js.read_bytes() == before  # nothing replaced
    results = _run(tmp_path, quick_cache, ["toy-prior"], force=True)
    assert [r.status for r in results] == ["done"] * 3
    assert json.loads(js.read_text())["model"]["params"]["sleep_s"] == 0.0


def test_cli_run_suite_models_uses_the_suite_budget_and_refuses_other_settings(toy_plugin, quick_cache,
                                                                                tmp_path, capsys):
    from sleepbench.benchmark.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text("protocol: quick\nseeds: [0]\nmodels:\n  toy-prior: {sleep_s: 0.01}\n  toy-broken: {}\n")
    common = ["--results", str(tmp_path / "r"), "--cache-dir", str(quick_cache), "--workers", "1"]
    assert main(["run", "--suite", str(suite), "--models", "toy-prior", *common]) == 0
    rec = json.loads((tmp_path / "r/runs/quick/toy-prior/seed-0/fold-0.json").read_text())
    assert rec["model"]["params"]["sleep_s"] == 0.01  # the suite's setting, not the entry's default
    assert main(["run", "--suite", str(suite), "--models", "majority", *common]) == 2
    assert "not in suite" in capsys.readouterr().err
    assert main(["run", "--protocol", "quick", "--models", "toy-prior", *common]) == 2
    err = capsys.readouterr().err
    assert "other resolved parameters" in err and "sleep_s" in err and "--force" in err


@pytest.mark.slow
def test_a_changed_default_with_changed_code_is_redone_not_refused(toy_plugin, quick_cache, tmp_path,
                                                                    monkeypatch):
    import sleepbench.benchmark.identity as identity

    _run(tmp_path, quick_cache, {"toy-prior": {"sleep_s": 0.01}})
    real = identity._code_identity_of
    # the entry's code changed (e.g. its default sleep_s edited): the records are stale, not rivals
    monkeypatch.setattr(identity, "_code_identity_of", lambda cls: ("1" * 64, real(cls)[1]))
    results = _run(tmp_path, quick_cache, ["toy-prior"])
    assert [r.status for r in results] == ["done"] * 3
