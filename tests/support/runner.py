"""One fold job of an entry through the runner, as ``sleepbench run`` runs it (the entries' end-to-end
tests on the quick and real-night protocols)."""

from __future__ import annotations

import json
from pathlib import Path


def fold0_record(model: str, params: dict, protocol: str, tmp_path, **kw) -> dict:
    """The record of fold 0, seed 0 of ``protocol`` for ``model`` at ``params`` (``kw``: list_jobs'
    ``data_dir``, ``cache_dir``), after checking that the job ran and scored every test epoch."""
    from sleepbench.benchmark.runner import list_jobs, run

    jobs = list_jobs(protocol, {model: dict(params)}, [0], Path(tmp_path) / "results", **kw)[:1]
    (result,) = run(jobs, progress=False)
    assert result.status == "done", result.error
    rec = json.loads(Path(result.path).read_text())
    assert rec["protocol"]["name"] == protocol and rec["model"]["name"] == model
    assert rec["n_test_epochs"] > 0 and 0.0 <= rec["metrics"]["pooled"]["macro_f1"] <= 1.0
    return rec


def assert_both_stages_ran(rec: dict, steps: int) -> None:
    """A two-stage entry's record (deepsleepnet, sleepyco) at ``steps_per_pass = steps``, one pass:
    the cap held in its pre-training and in its main stage."""
    training = rec["entry_report"]["training"]
    assert training["pretraining"]["passes_run"] == 1 and training["pretraining"]["steps_run"] == steps
    assert training["passes_run"] == 1 and training["steps_run"] == steps
