"""Determinism: the same seed on the same machine gives byte-identical predictions, for every
registered entry, in two separate processes (each with its own empty cache, so the FINs are
pre-trained afresh in both).

Same-machine check: bytes are compared only with bytes made in this run, under one CPU kernel set.
It runs under this machine's own kernel set and under torch's portable one (tests/support/kernel_sets.py),
so a path that is deterministic on one set only fails here. Across kernel sets a seed gives close,
not equal, rows (docs/reproducibility.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]

#: Small budgets, applied to the entries that take them (see :func:`sleepbench.benchmark.registry.make_entry`).
#: ``depth`` 1: the code paths are the same at any depth, and the origin's 6.5 M-parameter ViViT at
#: full depth would make this test minutes longer.
SMALL = {"max_passes": 1, "steps_per_pass": 3, "batch_size": 8, "pretrain_batch_size": 8, "depth": 1,
         "seq_len": 10, "precise_bn_epochs": 64,
         "fin_config": {"n_train": 600, "n_valid": 100, "epochs": 1, "batch_size": 64}}


def predictions_digest() -> dict[str, str]:
    """SHA-256 of every entry's predicted probabilities on small synthetic sets (run in a child)."""
    import hashlib

    import numpy as np

    from sleepbench.benchmark.jobs import limited_threads
    from sleepbench.benchmark.registry import discover, make_entry
    from tests.support.synthetic import synthetic_set

    # 30-epoch nights: every code path (sequences of SMALL's seq_len, batches, validation) runs at
    # this size, and the origin's ViViTs cost time in proportion to it
    train, valid, test = (synthetic_set(n, 30, seed=s) for n, s in ((2, 1), (1, 2), (1, 3)))
    out = {}
    with limited_threads(1):  # as the runner runs every job
        for name, info in discover().items():
            accepted = info.cls().get_params()
            params = {k: v for k, v in SMALL.items() if k in accepted}
            proba = make_entry(name, seed=5, params=params).fit(train, valid).predict_proba(test)
            out[name] = hashlib.sha256(np.ascontiguousarray(proba, dtype=np.float32).tobytes()).hexdigest()
    return out


def _digests_in_new_processes(kernel_set: str, *caches) -> list[dict[str, str]]:
    """The digests of one child process per cache, run side by side (one thread each) under
    ``kernel_set``."""
    from .support.kernel_sets import kernel_set_env

    code = "import json; from tests.test_determinism import predictions_digest as d; print(json.dumps(d()))"
    env = {**kernel_set_env(kernel_set), "SLEEPBENCH_PLUGINS": ""}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env={**env, "SLEEPBENCH_CACHE": str(cache)}) for cache in caches]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=900)
        assert p.returncode == 0, stderr[-3000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@pytest.mark.parametrize("kernel_set", ["own", "default"])
def test_every_entry_gives_byte_identical_predictions_in_two_processes(tmp_path, kernel_set):
    from sleepbench.benchmark.registry import discover

    a, b = _digests_in_new_processes(kernel_set, tmp_path / "a", tmp_path / "b")
    builtin = {n for n, info in discover().items() if info.builtin}
    assert builtin <= set(a), f"entries not checked: {sorted(builtin - set(a))}"
    differ = sorted(n for n in a if a[n] != b.get(n))
    assert not differ, (f"same-machine check: predictions differ between two runs with the same seed "
                        f"under the {kernel_set} CPU kernel set: {differ}")
