"""Fold jobs on a real Dask cluster (scheduler + worker processes on loopback, not a mock)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sleepbench.benchmark.runner import list_jobs, run

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (dask[distributed]) is not installed")

MODELS = {"majority": {}, "bandpower-gbm": {"max_iter": 40}}


def _records(results):
    out = {}
    for r in results:
        assert r.status == "done", r.error
        rec = json.loads(Path(r.path).read_text())
        z = np.load(Path(r.path).with_suffix(".npz"))
        out[(rec["model"]["name"], rec["fold"])] = (rec, z)
    return out


def test_dask_cluster_records_equal_a_local_run(quick_cache, tmp_path):
    local = _records(run(list_jobs("quick", MODELS, [0], tmp_path / "local", cache_dir=quick_cache),
                         progress=False))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        jobs = list_jobs("quick", MODELS, [0], tmp_path / "dask", cache_dir=quick_cache)
        remote = _records(run(jobs, executor="dask", address=address, progress=False))
        # a rerun through the cluster finds every record and skips it
        again = run(jobs, executor="dask", address=address, progress=False)
        assert {r.status for r in again} == {"skipped"}
    assert local.keys() == remote.keys() and len(local) == 2 * 3
    for key, (rec, z) in local.items():
        rec2, z2 = remote[key]
        assert rec["config_hash"] == rec2["config_hash"]
        assert rec["metrics"] == rec2["metrics"]
        for name in ("y_true", "y_pred", "proba", "subject", "night", "epoch"):
            np.testing.assert_array_equal(z[name], z2[name], err_msg=f"{key} {name}")


def test_unknown_executor_and_missing_address_are_clear(quick_cache, tmp_path):
    from sleepbench.benchmark.executors import make_executor

    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("slurm")
    with pytest.raises(OSError):
        make_executor("dask", address="127.0.0.1:1", timeout=2)
