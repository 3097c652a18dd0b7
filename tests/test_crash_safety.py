"""Crash safety: SIGKILL the runner at random points, rerun, and check nothing is partial or redone;
two runs on one results folder at once.

Each run is the CLI on the quick protocol with the toy entry (0.4 s per job, 6 jobs) over a small
surrogate folder, with a cache shared by all trials so that kills land in data preparation as well
as in fold jobs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sleepbench.datasets.cache import load_arrays

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

N_TRIALS = 10
N_JOBS = 6  # 3 folds x 2 seeds


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from sleepbench.datasets.surrogate import SurrogateSpec, generate

    out = tmp_path_factory.mktemp("crash-data")
    generate(out, SurrogateSpec(subjects=6, nights=2, hours=0.75, seed=3), n_jobs=2, progress=False)
    return out


def _command(data_dir, results, cache, workers=1):
    suite = data_dir / "toy-suite.yaml"
    suite.write_text("protocol: quick\nseeds: [0, 1]\nmodels:\n  toy-prior: {sleep_s: 0.4}\n")
    return [sys.executable, "-m", "sleepbench", "run", "--suite", str(suite),
            "--data-dir", str(data_dir), "--results", str(results), "--cache-dir", str(cache),
            "--workers", str(workers)]


def _env(toy_plugin):
    return {**os.environ, "SLEEPBENCH_PLUGINS": str(toy_plugin)}


def _visible(root: Path):
    """Files other than in-flight temporaries (``.name.XXXX.tmp``, never read by anyone)."""
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _assert_intact(results: Path, cache: Path) -> dict[Path, bytes]:
    """Every record and cache file is whole; returns the finished records' bytes."""
    records = {}
    for path in _visible(results):
        if path.suffix == ".json":
            text = path.read_bytes()
            record = json.loads(text)
            with np.load(path.with_suffix(".npz")) as z:
                assert len(z["y_pred"]) == record["n_test_epochs"], path
            records[path] = text
        elif path.suffix == ".npz":  # written before its JSON; alone it is simply redone
            with np.load(path) as z:
                [z[k] for k in z.files]
    for path in _visible(cache):
        if path.suffix == ".npz":
            meta, arrays = load_arrays(path)
            assert len(arrays["x"]) == len(arrays["y"]) == len(arrays["onsets"]), path
        elif path.parent.name == "sha1":
            assert re.fullmatch(r"[0-9a-f]{40}", path.read_text()), path
        elif path.suffix == ".json":
            json.loads(path.read_text())
    return records


def test_sigkill_at_random_points_then_rerun(data_dir, toy_plugin, tmp_path):
    results, cache = tmp_path / "results", tmp_path / "cache"
    rng = np.random.default_rng(20261125)
    finished: dict[Path, bytes] = {}
    killed_in = []
    for trial in range(N_TRIALS):
        workers = 1 + trial % 2  # in-process and process-pool runs alike
        proc = subprocess.Popen(_command(data_dir, results, cache, workers), cwd=REPO,
                                env=_env(toy_plugin), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(0.5, 7.0))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole process group, pool workers too
            killed_in.append(trial)
        proc.wait()
        time.sleep(0.2)
        records = _assert_intact(results, cache)
        for path, content in finished.items():  # a finished job is never redone
            assert records.get(path) == content, f"trial {trial}: {path} changed or vanished"
        finished = records
    assert len(killed_in) >= N_TRIALS // 2, f"only trials {killed_in} were killed mid-run"
    out = subprocess.run(_command(data_dir, results, cache), cwd=REPO, env=_env(toy_plugin),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    records = _assert_intact(results, cache)
    assert len(records) == N_JOBS
    assert all(records[p] == c for p, c in finished.items())
    assert f"{len(finished)} already done" in out.stdout


def test_two_runs_on_one_results_folder_at_once(data_dir, toy_plugin, tmp_path):
    results, cache = tmp_path / "results", tmp_path / "cache"
    procs = [subprocess.Popen(_command(data_dir, results, cache), cwd=REPO, env=_env(toy_plugin),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    records = _assert_intact(results, cache)
    assert len(records) == N_JOBS
    done = [int(re.search(r"(\d+) done", out).group(1)) for out, _ in outs]
    assert sum(done) == N_JOBS, f"jobs done twice: {done}"  # the per-job lock
