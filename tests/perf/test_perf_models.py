"""Model speed and memory (``make bench``): inference and train-step throughput, and peak memory,
per deep entry on CPU, at one thread.

One thread because that is what a fold job gets (``sleepbench run --threads 1``, the default:
``--workers`` jobs share the cores). Each benchmark processes a fixed batch of 30-s epochs;
pytest-benchmark records the time and ``extra_info`` carries epochs/s, the parameter count and
the thread count (results/bench.json). Targets (issue 15): ``fin-vivit`` inference >= 5,000
epochs/s and its train step >= 2x FIN version 4's (``tests.perf.summary``); set for the version-5
FINs (fixed front ends, now ``fin-vivit-fixedfront``). With the raw-signal FINs (version 6) the
target of issue 21 is relative to ``vivit`` instead: tests/perf/test_perf_fin_cost.py. Figures,
not assertions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleepbench.benchmark.registry import make_entry
from sleepbench.benchmark.training import TrainRecipe

#: torch threads of every model benchmark here (a fold job's default)
THREADS = 1


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


ENTRIES = ("vivit", "vivit-seed", "fin-vivit", "fin-vivit-entropy", "fin-vivit-bandpower",
           "fin-vivit-fixedfront", "vivit-oracle", "tinysleepnet")
N_EPOCHS = 1280  # per call: 128 windows of 10 epochs
#: timed rounds per throughput benchmark (the median is reported): on a shared 2-core machine single
#: rounds of the same code varied by +-20 %
ROUNDS = 11


def _module_and_batch(name):
    entry = make_entry(name, seed=0)
    module = entry.build_module(1, 3000)
    seq_len = entry.recipe().seq_len
    x = torch.from_numpy(np.random.default_rng(0).normal(0, 30, (N_EPOCHS // seq_len, seq_len, 1, 3000))
                         .astype(np.float32))
    return entry, module, x


@pytest.mark.parametrize("name", ENTRIES)
def test_inference_throughput(benchmark, name):
    _, module, x = _module_and_batch(name)
    module.eval()

    def run():
        with torch.inference_mode():
            return module(x)

    out = benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    assert out.shape[:2] == x.shape[:2]
    benchmark.extra_info["epochs_per_s"] = N_EPOCHS / benchmark.stats.stats.median
    benchmark.extra_info["params"] = int(sum(p.numel() for p in module.parameters()))
    benchmark.extra_info["threads"] = torch.get_num_threads()


@pytest.mark.parametrize("name", ENTRIES)
def test_train_step_throughput(benchmark, name):
    entry, module, x = _module_and_batch(name)
    recipe: TrainRecipe = entry.recipe()
    n = max(1, recipe.batch_size)  # one optimiser step on one batch of the entry's size
    xb = x[:n]
    y = torch.randint(0, 5, xb.shape[:2])
    opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
    module.train()

    def step():
        loss = torch.nn.functional.cross_entropy(module(xb).reshape(-1, 5), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    benchmark.pedantic(step, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    benchmark.extra_info["epochs_per_s"] = xb.shape[0] * xb.shape[1] / benchmark.stats.stats.median
    benchmark.extra_info["batch_epochs"] = int(xb.shape[0] * xb.shape[1])
    benchmark.extra_info["threads"] = torch.get_num_threads()


PEAK_RSS = """
import re, sys
# VmHWM, not ru_maxrss: the latter is inherited from the parent (pytest) across exec
def peak_kb(): return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
import numpy as np, torch
torch.set_num_threads(THREADS)
from sleepbench.benchmark.registry import make_entry
entry = make_entry(sys.argv[1], seed=0)
module = entry.build_module(1, 3000)
seq = entry.recipe().seq_len
x = torch.from_numpy(np.random.default_rng(0).normal(0, 30, (N // seq, seq, 1, 3000)).astype(np.float32))
base = peak_kb()
with torch.inference_mode():
    module.eval()(x)
infer = peak_kb()
xb = x[:entry.recipe().batch_size]
loss = torch.nn.functional.cross_entropy(module.train()(xb).reshape(-1, 5),
                                         torch.zeros(xb.shape[0] * seq, dtype=torch.long))
loss.backward()
print(base, infer, peak_kb())
"""


@pytest.mark.parametrize("name", ENTRIES)
def test_peak_memory(benchmark, name):
    """Peak RSS of a fresh process: after building the module, after inference on the benchmark
    batch (N_EPOCHS epochs), and after one training step on one batch of the entry's size."""
    import subprocess
    import sys

    from ..conftest import REPO

    code = PEAK_RSS.replace("N // seq", f"{N_EPOCHS} // seq").replace("THREADS", str(THREADS))
    out = benchmark.pedantic(lambda: subprocess.run([sys.executable, "-c", code, name], cwd=REPO,
                                                    capture_output=True, text=True, check=True),
                             rounds=1, iterations=1)
    base, infer, train = (int(v) / 1024 for v in out.stdout.split()[-3:])
    benchmark.extra_info.update(model_mb=base, inference_peak_mb=infer, train_step_peak_mb=train,
                                inference_epochs=N_EPOCHS)
