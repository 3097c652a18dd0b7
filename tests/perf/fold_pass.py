"""One training pass of one fold at a suite's recipe, timed: what the README's "Measured: one fold of
the full recipe" table reports.

``python -m tests.perf.fold_pass vivit fin-vivit [--protocol surrogate-20] [--suite full]
[--fold 0] [--cache-dir DIR]``

Each deep entry gets the suite's parameters with ``max_passes=1`` (one pass over the fold's
training epochs at the suite's batch size and sequence length: a whole fold is up to the suite's
``P`` passes, so its cost is about ``P x`` this; a classic entry fits as the suite says), is fitted
on the fold's training and validation
subjects and predicts its test subjects, at one thread (what a fold job gets). Printed per entry:
CPU seconds of this process (what a free core takes), wall seconds and the steps run. Surrogate
protocols generate their data into the cache first (not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def fold_pass(models: list[str], protocol: str = "surrogate-20", suite: str = "full", fold: int = 0,
              cache_dir=None, passes: int = 1, steps: int | None = None, device: str = "cpu",
              precision: str = "fp32") -> list[dict]:
    """``passes`` passes of ``fold`` per entry at ``suite``'s recipe (at most ``steps`` optimiser
    steps a pass when given), on ``device`` at ``precision``; returns one dict per entry."""
    import torch

    from sleepbench.benchmark.device import use_device, use_precision
    from sleepbench.benchmark.protocol_data import open_protocol_data
    from sleepbench.benchmark.protocols import load_protocol
    from sleepbench.benchmark.registry import make_entry
    from sleepbench.benchmark.suites import load_suite
    from sleepbench.benchmark.training import DeepEntry

    spec = load_protocol(protocol)
    data = open_protocol_data(spec, None, cache_dir, n_jobs=min(8, os.cpu_count() or 1), progress=False)
    roles = {r: data.epoch_set(spec["folds"][fold][r]) for r in ("train", "valid", "test")}
    recipe = load_suite(suite)["models"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = []
    try:
        for name in models:
            if name not in recipe:
                raise SystemExit(f"{name}: not an entry of suite {suite!r} ({', '.join(recipe)})")
            entry = make_entry(name, 0, recipe[name])
            if isinstance(entry, DeepEntry):  # `passes` passes (the attributes its recipe() reads)
                entry.max_passes = passes
                if steps:
                    entry.steps_per_pass = steps
            with use_device(device), use_precision(precision):
                cpu, wall = time.process_time(), time.perf_counter()
                entry.fit(roles["train"], roles["valid"])
                entry.predict_proba(roles["test"])
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            training = entry.report(roles["test"]).get("training", {})
            out.append({"entry": name, "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
                        "steps": training.get("steps_run"), "passes": training.get("passes_run"),
                        "epochs": {r: len(v) for r, v in roles.items()}})
    finally:
        torch.set_num_threads(threads)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.perf.fold_pass", description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--protocol", default="surrogate-20")
    p.add_argument("--suite", default="full")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = fold_pass(args.models, args.protocol, args.suite, args.fold, args.cache_dir)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    e = rows[0]["epochs"] if rows else {}
    print(f"{args.protocol} fold {args.fold} ({e.get('train')} training, {e.get('valid')} validation, "
          f"{e.get('test')} test epochs), suite {args.suite}, one pass, one thread:")
    for r in rows:
        print(f"  {r['entry']:<22} {r['cpu_s']:>8.1f} CPU s {r['wall_s']:>8.1f} s wall  {r['steps']} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
