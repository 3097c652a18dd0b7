"""What the FINs add to the ViViT's cost (issue 21): ``fin-vivit`` against ``vivit``, one training
step and inference, **interleaved in one process** at one thread (a fold job's default), so that
the other work on a shared machine slows both alike and the ratio is what is compared.

Targets: a training step of ``fin-vivit`` takes <= 1.5x the time of ``vivit``'s, and its inference
runs at >= 0.5x ``vivit``'s speed (time ratio <= 2). Figures, not assertions: ``extra_info`` carries
both medians and the ratio (results/bench.json; ``tests.perf.summary``).

The modules are built with random FIN weights (``pretrained=False``): the cost does not depend on
the weights, and the benchmark then needs no shipped file.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from sleepbench.benchmark.registry import make_entry

THREADS = 1
#: timed rounds (the median of each model is reported); each round times vivit then fin-vivit
ROUNDS = {"train_step": 15, "inference": 7}
#: inference batch: 128 windows of 10 epochs (as tests/perf/test_perf_models.py)
N_WINDOWS = 128
TARGETS = {"train_step": 1.5, "inference": 2.0}  # max time ratio fin-vivit / vivit


def _modules():
    out = {}
    for name, params in (("vivit", {}), ("fin-vivit", {"pretrained": False})):
        entry = make_entry(name, seed=0, params=params)
        out[name] = (entry, entry.build_module(1, 3000))
    return out


def interleaved_ratio(kind: str, rounds: int) -> dict:
    """Median seconds of one ``kind`` ("train_step" or "inference") call of vivit and fin-vivit,
    timed alternately in this process at :data:`THREADS` thread(s), and their ratio."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        mods = _modules()
        seq = mods["vivit"][0].recipe().seq_len
        x = torch.from_numpy(np.random.default_rng(0).normal(0, 30, (N_WINDOWS, seq, 1, 3000))
                             .astype(np.float32))
        calls = {}
        for name, (entry, module) in mods.items():
            if kind == "train_step":
                xb = x[:entry.recipe().batch_size]
                y = torch.randint(0, 5, xb.shape[:2], generator=torch.Generator().manual_seed(0))
                opt = torch.optim.AdamW(module.parameters(), lr=1e-4)

                def call(module=module, xb=xb, y=y, opt=opt):
                    module.train()
                    loss = torch.nn.functional.cross_entropy(module(xb).reshape(-1, 5), y.reshape(-1))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            else:
                def call(module=module):
                    module.eval()
                    with torch.inference_mode():
                        module(x)
            calls[name] = call
        times = {name: [] for name in calls}
        for call in calls.values():   # warm-up
            call()
        for _ in range(rounds):
            for name, call in calls.items():
                t0 = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - t0)
        med = {name: float(np.median(t)) for name, t in times.items()}
        return {"vivit_s": med["vivit"], "fin_vivit_s": med["fin-vivit"],
                "ratio": med["fin-vivit"] / med["vivit"], "target_ratio": TARGETS[kind],
                "rounds": rounds, "threads": torch.get_num_threads()}
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("kind", ["train_step", "inference"])
def test_fin_vivit_cost_ratio(benchmark, kind):
    res = benchmark.pedantic(lambda: interleaved_ratio(kind, ROUNDS[kind]), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    assert res["ratio"] > 0
