"""Precision (``--precision fp32|bf16``) and a fold's signals kept on the device, tested on the CPU.

* bf16: CPU autocast supports bfloat16, so a deep entry trains under it here and must learn; a bf16
  record is another experiment than an fp32 one (another config hash; a conflict, not a reuse; a
  table refuses to merge them);
* the data-on-device path (:class:`sleepbench.benchmark.training.SignalSource` with ``resident=True``) gives the
  same batches in the same order with the same bytes as the batch-by-batch copy, and training
  through it gives byte-identical predictions.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from sleepbench.benchmark.device import current_precision, parse_precision, use_precision
from sleepbench.benchmark.jobs import limited_threads
from sleepbench.benchmark.registry import make_entry
from sleepbench.benchmark.training import SignalSource, TrainRecipe, fit_module, keep_on_device, predict_module, windows
from tests.support.synthetic import macro_f1, synthetic_set

SMALL = {"max_passes": 3, "batch_size": 8, "d_model": 32}


def _sets():
    return tuple(synthetic_set(n, 60, seed=s) for n, s in ((3, 1), (1, 2), (2, 3)))


def test_precision_is_parsed_and_scoped():
    assert parse_precision(" BF16 ") == "bf16"
    with pytest.raises(ValueError, match="--precision 'fp16': expected one of fp32, bf16"):
        parse_precision("fp16")
    assert current_precision() == "fp32"
    with use_precision("bf16"):
        assert current_precision() == "bf16"
    assert current_precision() == "fp32"


@pytest.mark.slow
def test_a_deep_entry_learns_under_bf16_autocast_on_the_cpu():
    train, valid, test = _sets()
    with limited_threads(1), use_precision("bf16"):
        entry = make_entry("vivit", 0, SMALL).fit(train, valid)
        proba = entry.predict_proba(test)
    assert proba.dtype == np.float32 and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    history = entry.training_["history"]
    assert history[-1]["loss"] < history[0]["loss"], history
    chance = macro_f1(test.y, np.full(len(test.y), np.bincount(train.y).argmax()))
    assert macro_f1(test.y, proba.argmax(1)) > chance + 0.2
    with limited_threads(1):  # fp32 from the same seed: close, but another computation
        p32 = make_entry("vivit", 0, SMALL).fit(train, valid).predict_proba(test)
    assert not np.array_equal(p32, proba)


def test_resident_signals_give_the_same_batches_in_the_same_order():
    train, _, _ = _sets()
    cpu = torch.device("cpu")
    host, resident = SignalSource(train.x, cpu, False), SignalSource(train.x, cpu, True)
    rng = np.random.default_rng(0)
    starts = rng.permutation(windows(train, 5, rng))
    for i in range(0, len(starts), 7):
        a, b = host.windows(starts[i:i + 7], 5), resident.windows(starts[i:i + 7], 5)
        assert a.shape == (len(starts[i:i + 7]), 5, 1, 3000)
        assert torch.equal(a, b)
    assert not keep_on_device(10, cpu)  # on the CPU the host array already is the device's memory


def _train_digest(resident: bool) -> str:
    train, valid, test = _sets()
    torch.manual_seed(0)
    entry = make_entry("vivit", 0, SMALL)
    module = entry.build_module(1, 3000)
    recipe = TrainRecipe(max_passes=2, batch_size=8, seq_len=entry.recipe().seq_len)
    with limited_threads(1):
        fit_module(module, train, valid, recipe, seed=0, resident=resident)
        proba = predict_module(module, test, recipe.seq_len,
                               source=SignalSource(test.x, torch.device("cpu"), resident))
    return hashlib.sha256(proba.tobytes()).hexdigest()


def test_training_through_resident_signals_is_byte_identical():
    assert _train_digest(True) == _train_digest(False)


@pytest.mark.slow
def test_a_bf16_record_is_another_experiment(quick_cache, tmp_path):
    from dataclasses import replace

    from sleepbench.benchmark.reporting.records import MixedRecordsError, check_model_consistent, load_records
    from sleepbench.benchmark.runner import conflict, list_jobs, run_job

    params = {"max_passes": 1, "steps_per_pass": 2, "batch_size": 4}
    job = list_jobs("quick", {"vivit": params}, [0], tmp_path, cache_dir=quick_cache)[0]
    assert run_job(job).status == "done"
    bf16 = replace(job, precision="bf16")
    assert "precision: fp32 (record) -> bf16 (now)" in conflict(bf16)
    other = replace(job, fold=1, precision="bf16")
    result = run_job(other)
    assert result.status == "done", result.error
    import json
    assert json.loads(open(result.path).read())["precision"] == "bf16"
    runs = [r for r in load_records(tmp_path)["quick"] if r.model == "vivit"]
    with pytest.raises(MixedRecordsError, match="precision"):
        check_model_consistent("quick", "vivit", runs)
