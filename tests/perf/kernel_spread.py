"""How far another CPU kernel set moves a row, beside how far another seed moves it.

``python -m tests.perf.kernel_spread OWN_RESULTS OTHER_RESULTS [--protocol quick] [--seed 0]``

``OWN_RESULTS`` holds a suite run at several seeds under one kernel set, ``OTHER_RESULTS`` the same
suite at ``--seed`` under another (e.g. ``ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41``).
Per entry: pooled accuracy and macro-F1 (scikit-learn, folds concatenated) at ``--seed`` under both
sets, their difference, and the sd of each metric over the seeds of ``OWN_RESULTS``. Prints a
Markdown table (what docs/reproducibility.md reports).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np


def seed_scores(results, protocol: str) -> dict:
    """model -> seed -> (accuracy, macro-F1, kernel sets seen, records), pooled over the seed's
    folds; a seed without every fold of the protocol is left out."""
    from sleepbench.benchmark.metrics import epoch_metrics
    from sleepbench.benchmark.protocols import load_protocol
    from sleepbench.benchmark.reporting.records import load_records

    n_folds = len(load_protocol(protocol)["folds"])
    runs = load_records(results).get(protocol, [])
    by = defaultdict(lambda: defaultdict(list))
    for r in runs:
        by[r.model][r.seed].append(r)
    out = {}
    for model, seeds in by.items():
        out[model] = {}
        for seed, rs in seeds.items():
            if len({r.fold for r in rs}) < n_folds:  # a seed counts only with every fold
                continue
            yt = np.concatenate([r.arrays["y_true"] for r in rs])
            yp = np.concatenate([r.arrays["y_pred"] for r in rs])
            m = epoch_metrics(yt, yp)
            sets = sorted({(r.record.get("environment") or {}).get("cpu_kernel_set") or "?" for r in rs})
            out[model][seed] = (m["accuracy"], m["macro_f1"], sets, len(rs))
    return out


def spread_table(own, other, protocol: str = "quick", seed: int = 0) -> str:
    a, b = seed_scores(own, protocol), seed_scores(other, protocol)
    rows = ["| entry | Acc own | Acc other | ΔAcc (pp) | Acc sd over seeds (pp) | MF1 own | MF1 other | "
            "ΔMF1 (pp) | MF1 sd over seeds (pp) | seeds | kernel sets |", "|---|" + "---|" * 10]
    for model in sorted(a):
        if seed not in a[model] or seed not in b.get(model, {}):
            rows.append(f"| {model} | missing at seed {seed} under one of the sets |" + " |" * 9)
            continue
        acc0, mf0, k0, _ = a[model][seed]
        acc1, mf1, k1, _ = b[model][seed]
        accs = [v[0] for v in a[model].values()]
        mfs = [v[1] for v in a[model].values()]
        sd = (lambda v: f"{100 * np.std(v, ddof=1):.2f}" if len(v) > 1 else "-")
        rows.append(f"| {model} | {100 * acc0:.2f} | {100 * acc1:.2f} | {100 * (acc1 - acc0):+.2f} | {sd(accs)} | "
                    f"{100 * mf0:.2f} | {100 * mf1:.2f} | {100 * (mf1 - mf0):+.2f} | {sd(mfs)} | "
                    f"{len(accs)} | {'/'.join(k0)} vs {'/'.join(k1)} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.perf.kernel_spread", description=__doc__.split("\n\n")[0])
    p.add_argument("own")
    p.add_argument("other")
    p.add_argument("--protocol", default="quick")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(spread_table(args.own, args.other, args.protocol, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
