"""The GPU path, run only where torch sees a CUDA GPU (skipped cleanly elsewhere).

What is checked, and the tolerances (float32 everywhere, TF32 off, deterministic algorithms on):

* the same trained weights give the same probabilities on CUDA as on CPU to 1e-4 (absolute):
  only the summation order of the kernels differs;
* trained on CUDA and on CPU from the same seed, a small entry's probabilities agree to 0.05
  (absolute), and its predicted stage agrees on every epoch where the CPU's two likeliest stages are
  more than 0.1 apart: rounding differences grow through the optimiser steps, so training is close,
  never bit-equal, across devices, and after a few steps many epochs are near ties whose argmax
  either device may flip (seen on an H200: 85 % of all epochs agreed, every decided one did);
* two CUDA trainings with the same seed give the same probabilities to 1e-5 (bit-equal in
  practice with deterministic algorithms; not promised: see README, "GPU");
* a job run by the runner on CUDA records ``{"type": "cuda", "name": <the GPU>}``;
* under ``bf16`` autocast a deep entry trains on CUDA and learns;
* a fold's signals copied to the GPU once (``resident``) train to the same probabilities as
  batches copied one at a time (1e-5; the inputs are the same bytes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

#: a small but real training run: vivit at a reduced width, a few optimiser steps
PARAMS = {"max_passes": 2, "steps_per_pass": 4, "batch_size": 4, "d_model": 32}


def _sets():
    from tests.support.synthetic import synthetic_set

    return tuple(synthetic_set(n, 60, seed=s) for n, s in ((2, 1), (1, 2), (1, 3)))


def _fit_predict(device: str, model: str = "vivit"):
    from sleepbench.benchmark.device import use_device
    from sleepbench.benchmark.jobs import limited_threads
    from sleepbench.benchmark.registry import make_entry

    train, valid, test = _sets()
    accepted = make_entry(model, 5).get_params()
    params = {k: v for k, v in PARAMS.items() if k in accepted}
    with limited_threads(1), use_device(device):
        entry = make_entry(model, 5, params).fit(train, valid)
        assert next(entry.module_.parameters()).device.type == device.split(":")[0]
        return entry, np.asarray(entry.predict_proba(test))


def test_same_weights_predict_the_same_on_cuda_and_cpu():
    from sleepbench.benchmark.training import predict_module

    entry, p_cpu = _fit_predict("cpu")
    _, _, test = _sets()
    module = entry.module_.to("cuda")
    with torch.inference_mode():
        p_gpu = predict_module(module, test, entry.recipe().seq_len)
    assert np.abs(p_gpu - p_cpu).max() < 1e-4


@pytest.mark.parametrize("model", ["vivit", "tinysleepnet"])
def test_training_on_cuda_agrees_with_cpu(model):
    _, p_cpu = _fit_predict("cpu", model)
    _, p_gpu = _fit_predict("cuda", model)
    assert p_gpu.shape == p_cpu.shape and np.isfinite(p_gpu).all()
    assert np.abs(p_gpu - p_cpu).max() < 0.05
    top2 = np.sort(p_cpu, axis=1)[:, -2:]
    decided = top2[:, 1] - top2[:, 0] > 0.1
    assert (p_gpu.argmax(1) == p_cpu.argmax(1))[decided].all()


def test_two_cuda_runs_with_one_seed_agree():
    _, a = _fit_predict("cuda")
    _, b = _fit_predict("cuda")
    assert np.abs(a - b).max() < 1e-5


def test_a_cuda_job_records_its_gpu(quick_cache, tmp_path):
    from dataclasses import replace

    from sleepbench.benchmark.runner import list_jobs, run_job

    job = replace(list_jobs("quick", {"vivit": PARAMS}, [0], tmp_path, cache_dir=quick_cache)[0],
                  device="cuda:0")
    result = run_job(job)
    assert result.status == "done", result.error
    record = json.loads(open(result.path).read())
    assert record["environment"]["device"] == {"type": "cuda",
                                               "name": torch.cuda.get_device_name(0)}


def test_bf16_training_on_cuda_learns():
    from sleepbench.benchmark.device import use_device, use_precision
    from sleepbench.benchmark.registry import make_entry

    train, valid, test = _sets()
    with use_device("cuda:0"), use_precision("bf16"):
        entry = make_entry("vivit", 5, {**PARAMS, "max_passes": 3, "steps_per_pass": None}).fit(train, valid)
        proba = entry.predict_proba(test)
    assert np.isfinite(proba).all() and proba.dtype == np.float32
    history = entry.training_["history"]
    assert history[-1]["loss"] < history[0]["loss"], history


def test_resident_signals_train_like_copied_batches_on_cuda():
    from sleepbench.benchmark.device import use_device
    from sleepbench.benchmark.registry import make_entry
    from sleepbench.benchmark.training import SignalSource, TrainRecipe, fit_module, predict_module

    train, valid, test = _sets()
    out = []
    for resident in (True, False):
        with use_device("cuda:0"):
            torch.manual_seed(0)
            module = make_entry("vivit", 5, PARAMS).build_module(1, 3000).to("cuda:0")
            fit_module(module, train, valid, TrainRecipe(max_passes=2, batch_size=4), seed=5,
                       resident=resident)
            out.append(predict_module(module, test, 1, source=SignalSource(test.x, torch.device("cuda:0"), resident)))
    assert np.abs(out[0] - out[1]).max() < 1e-5
