"""The cost of a run before it starts (benchmark.plan): fold sizes, the projection's arithmetic, a
real calibration of small entries, ``run --cost`` for every suite, projected vs actual."""

from __future__ import annotations

import json

import pytest

from sleepbench.benchmark.cost import (
    Calibration,
    FoldShape,
    Projection,
    calibrate,
    compare,
    fold_seconds,
    fold_shapes,
    list_schedule,
)
from sleepbench.benchmark.protocols import load_protocol


def test_list_schedule_is_the_makespan_of_in_order_dispatch():
    assert list_schedule([3, 3, 3], 1) == 9
    assert list_schedule([3, 3, 3], 2) == 6
    assert list_schedule([5, 1, 1, 1], 2) == 5
    assert list_schedule([], 4) == 0


def test_sleep_edf_fold_sizes_are_estimated_from_the_real_hypnograms_without_data():
    from sleepbench.datasets.hypnogram_model import load_model
    from sleepbench.datasets.inventory import records_for

    protocol = load_protocol("sleepedf-20")
    shapes, note = fold_shapes(protocol)
    night = round(load_model()["night_epochs_mean"])
    nights = {}
    for r in records_for("cassette"):
        nights[r.subject] = nights.get(r.subject, 0) + 1
    assert len(shapes) == len(protocol["folds"]) == 20
    for s, f in zip(shapes, protocol["folds"]):
        assert s.train == [night] * sum(nights[u] for u in f["train"])
        assert s.n_test == night * sum(nights[u] for u in f["test"])
    assert "39 real Sleep-EDF-20 hypnograms" in note and "estimated" in note


def test_surrogate_fold_sizes_follow_the_declared_size():
    shapes, note = fold_shapes(load_protocol("surrogate-20"))
    assert shapes[0].train == [1200] * 32 and shapes[0].n_valid == 4800 and shapes[0].n_test == 4800
    assert "20 subjects x 2 nights x 10 h" in note


def test_fold_seconds_arithmetic():
    cal = Calibration("m", "deep", fixed_s=2.0, step_s=0.1, predict_per_epoch_s=0.001,
                      recipe={"batch_size": 16, "seq_len": 10, "steps_per_pass": 100,
                              "max_passes": 30, "patience": 6})
    shape = FoldShape(0, [1200] * 32, n_valid=2400, n_test=1000)
    lo, hi = fold_seconds(cal, shape)
    per_pass = 100 * 0.1 + 2400 * 0.001   # 3,840 windows -> 240 steps, capped at 100
    assert lo == pytest.approx(2.0 + 1.0 + 7 * per_pass)    # patience + 1 passes
    assert hi == pytest.approx(2.0 + 1.0 + 30 * per_pass)   # the full budget
    no_valid = FoldShape(0, [1200] * 32, n_valid=0, n_test=1000)
    assert fold_seconds(cal, no_valid)[0] == fold_seconds(cal, no_valid)[1]  # no early stopping
    classic = Calibration("c", "classic", fixed_s=1.0, fit_per_epoch_s=1e-3, predict_per_epoch_s=1e-4)
    assert fold_seconds(classic, shape) == pytest.approx((1.0 + 38.4 + 0.1,) * 2)


def test_calibration_times_a_small_deep_and_a_classic_entry():
    deep = calibrate("vivit", {"d_model": 16, "batch_size": 2, "seq_len": 2, "max_passes": 7,
                               "steps_per_pass": 5, "patience": 2})
    assert deep.error is None, deep.error
    assert deep.kind == "deep" and deep.step_s > 0 and deep.predict_per_epoch_s > 0
    assert deep.recipe == {"batch_size": 2, "seq_len": 2, "steps_per_pass": 5, "max_passes": 7,
                           "patience": 2, "pass_steps": "windows"}
    classic = calibrate("majority", {})
    assert classic.error is None and classic.kind == "classic" and classic.predict_per_epoch_s >= 0


def test_an_entry_that_fails_on_noise_is_reported_not_raised(toy_plugin):
    cal = calibrate("toy-broken", {})  # fails on subject 0, which synthetic data has
    assert cal.error and "toy failure" in cal.error


def test_compare_is_over_the_jobs_that_ran():
    from sleepbench.benchmark.jobs import Job, JobResult

    jobs = [Job("quick", "m", 0, k) for k in range(3)]
    proj = Projection({j.label: (10.0, 20.0) for j in jobs}, 1.0, 1, {}, [], 0.0, {})
    results = [JobResult(jobs[0], "done", seconds=12.0), JobResult(jobs[1], "skipped"),
               JobResult(jobs[2], "done", seconds=14.0)]
    line = compare(proj, results, 27.0)
    assert line == "projected vs actual (2 job(s) run): wall 20-40 s vs 27 s; job time 20-40 s vs 26 s"


@pytest.mark.slow
@pytest.mark.parametrize("suite", ["quick", "full", "real-night", "published"])
def test_plan_works_for_every_suite_without_data_or_running_anything(suite, tmp_path, capsys,
                                                                    monkeypatch):
    from sleepbench.benchmark import cost as cost_mod
    from sleepbench.benchmark.cli import main

    # the real calibration is covered above; here the fast stand-in keeps every suite cheap
    def fake(model, params, *a, **k):
        return Calibration(model, "deep" if "max_passes" in params or model.startswith(("vivit", "fin", "tiny"))
                           else "classic", 1.0, step_s=0.5, fit_per_epoch_s=1e-3,
                           predict_per_epoch_s=1e-3,
                           recipe={"batch_size": 16, "seq_len": 10, "steps_per_pass": 20,
                                   "max_passes": 10, "patience": 4})

    monkeypatch.setattr(cost_mod, "calibrate", fake)
    monkeypatch.setenv("SLEEPBENCH_CACHE", str(tmp_path / "cache"))
    assert main(["run", "--suite", suite, "--cost", "--results", str(tmp_path / "r"),
                 "--cache-dir", str(tmp_path / "cache"), "--workers", "2", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "projected job time" in out and "wall time" in out and "estimated" in out
    assert not (tmp_path / "r" / "runs").exists()                 # nothing ran
    assert not (tmp_path / "cache" / "surrogate").exists()         # nothing was generated


@pytest.mark.slow
def test_a_real_run_ends_with_projected_vs_actual(toy_plugin, quick_cache, tmp_path, capsys):
    from sleepbench.benchmark.cli import main

    assert main(["run", "--protocol", "quick", "--models", "toy-prior", "--results",
                 str(tmp_path), "--cache-dir", str(quick_cache), "--workers", "1",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "projected job time" in captured.err                   # the plan, before it starts
    assert "fold sizes measured on the prepared data" in captured.err
    assert "projected vs actual (3 job(s) run)" in captured.out
    # calibrations are cached: a second plan reuses them
    main(["run", "--protocol", "quick", "--models", "toy-prior", "--results", str(tmp_path / "b"),
          "--cache-dir", str(quick_cache), "--cost", "--device", "cpu"])
    assert "reused from the cache" in capsys.readouterr().out
    # (the session's quick cache also holds other tests' calibrations, e.g. test_makefile's)
    cached = {json.loads(p.read_text())["model"] for p in (quick_cache / "cost").glob("*.json")}
    assert "toy-prior" in cached


def test_the_quick_suite_runs_without_a_projection_unless_asked(monkeypatch, tmp_path, capsys):
    """quick (`projection: false`) starts its jobs without calibrating; --projection restores it;
    other suites project by default."""
    import sleepbench.benchmark.cost as cost
    from sleepbench.benchmark import runner
    from sleepbench.benchmark.cli import main
    from sleepbench.benchmark.suites import load_suite

    calls = []
    monkeypatch.setattr(cost, "run_projection", lambda *a, **k: calls.append(a) or None)
    monkeypatch.setattr(runner, "prepare_data", lambda jobs, workers: type("D", (), {"problems": lambda s: []})())
    monkeypatch.setattr(runner, "run", lambda jobs, **k: [])
    monkeypatch.setattr(runner, "summarize", lambda results, problems: "")
    monkeypatch.setattr(runner, "exit_status", lambda results: 0)
    base = ["run", "--suite", "quick", "--models", "majority", "--results", str(tmp_path)]
    assert main(base) == 0 and calls == []
    assert main([*base, "--projection"]) == 0 and len(calls) == 1
    assert load_suite("quick")["projection"] is False
    assert load_suite("full")["projection"] is True and load_suite("published")["projection"] is True


def test_one_calibration_serves_every_budget_of_an_entry(tmp_path):
    """Passes and patience set how long a fold runs, not how long a step takes: they are not in the
    calibration's key, and the projection reads them from each job."""
    from sleepbench.benchmark.cost import Calibration, _with_budget, calibration_key

    shape = (1, 3000, 100.0)
    a = calibration_key("vivit", {"max_passes": 6, "patience": 3}, shape, "cpu", 1)
    assert a == calibration_key("vivit", {"max_passes": 200, "patience": 50}, shape, "cpu", 1)
    assert a != calibration_key("vivit", {"max_passes": 6, "batch_size": 4}, shape, "cpu", 1)
    cal = Calibration("vivit", "deep", 1.0, step_s=0.1, recipe={"batch_size": 16, "seq_len": 10,
                      "pass_steps": "windows", "steps_per_pass": None, "max_passes": 6, "patience": 3})
    assert _with_budget(cal, "vivit", {"max_passes": 200, "patience": 50}).recipe["max_passes"] == 200
    assert _with_budget(cal, "vivit", {"max_passes": 200, "patience": 50}).recipe["patience"] == 50


def test_calibrations_are_kept_across_commits_that_leave_the_entry_alone(monkeypatch):
    """The calibration cache key follows the entry's code hash, not the commit."""
    import sleepbench.benchmark.identity as identity
    import sleepbench.benchmark.store as store
    from sleepbench.benchmark.cost import calibration_key

    args = ("majority", {}, (1, 3000, 100.0), "cpu", 1)
    key = calibration_key(*args)
    env = store.environment()
    monkeypatch.setattr(store, "environment", lambda: {**env, "git_commit": "another-commit"})
    assert calibration_key(*args) == key
    monkeypatch.setattr(identity, "code_identity", lambda cls: {"hash": "changed code", "files": {}})
    assert calibration_key(*args) != key
    assert calibration_key("vivit", *args[1:]) != calibration_key("majority", *args[1:])


@pytest.mark.subprocess
@pytest.mark.slow
def test_the_one_pass_fold_measurement_runs(quick_cache):
    """`python -m tests.perf.fold_pass` (the README's measured fold table), on the quick protocol."""
    import subprocess
    import sys

    from .conftest import REPO

    out = subprocess.run([sys.executable, "-m", "tests.perf.fold_pass", "vivit", "majority",
                          "--protocol", "quick", "--suite", "quick", "--cache-dir", str(quick_cache),
                          "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {r["entry"]: r for r in json.loads(out.stdout)}
    assert rows["vivit"]["steps"] == 18 and rows["vivit"]["cpu_s"] > 0        # one pass of 18 steps
    assert rows["majority"]["steps"] is None and rows["majority"]["epochs"]["test"] > 0


def test_a_stateful_loop_is_projected_at_its_own_steps_per_pass():
    """TinySleepNet walks 15 nights side by side, 20 epochs a step: a pass over 32 nights of 1,200
    epochs is 3 groups x 60 = 180 steps (what its loop ran on surrogate-20's fold 0), not
    ceil(32 x 60 windows / 15) = 128. The last group has 2 rows, so its 60 steps cost 2/15 of a
    full batch's: 120 + 8 full-batch steps of time."""
    from sleepbench.benchmark.registry import make_entry
    from sleepbench.benchmark.training import pass_batches, pass_steps

    shape = FoldShape(0, [1200] * 32, n_valid=0, n_test=0)
    recipe = {"batch_size": 15, "seq_len": 20, "steps_per_pass": None, "max_passes": 1, "patience": 1}
    for rule, work in (("recordings", 128), ("windows", 128)):
        cal = Calibration("x", "deep", 0.0, step_s=1.0, recipe={**recipe, "pass_steps": rule})
        assert fold_seconds(cal, shape) == pytest.approx((work, work))
    # fewer nights than a batch (the quick protocol's 6 training nights of 480 epochs): 24 steps of
    # 6 rows each
    assert pass_steps([480] * 6, 15, 20, "recordings") == 24
    assert pass_batches([480] * 6, 15, 20, "recordings") == pytest.approx(24 * 6 / 15)
    assert pass_batches([480] * 6, 15, 20, "recordings", cap=10) == pytest.approx(10 * 6 / 15)
    # every window at stride 1 (SleePyCo's stage 2): 6 nights x 471 windows of 10 epochs, 64 a step
    assert pass_steps([480] * 6, 64, 10, "every-window") == 45
    assert make_entry("sleepyco", seed=0).pass_steps_rule == "every-window"
    tsn = make_entry("tinysleepnet", seed=0)
    assert tsn.pass_steps_rule == "recordings" and tsn._pass_steps([1200] * 32) == 180
    assert pass_steps([1200] * 32, 15, 20, "recordings") == 180
    assert make_entry("vivit", seed=0).pass_steps_rule == "windows"
