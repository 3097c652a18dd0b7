"""Summary of a ``make bench`` run: each performance target with its measured figure, then the
per-entry speed and memory table. ``python -m tests.perf.summary results/bench.json``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tabulate import tabulate


def _by_name(bench: dict) -> dict[str, dict]:
    return {b["name"]: b for b in bench["benchmarks"]}


def _median(b: dict | None) -> float | None:
    return None if b is None else b["stats"]["median"]


def _extra(bench: dict | None, name: str, key: str):
    """``extra_info[key]`` of benchmark ``name`` in ``bench`` (None when either is absent)."""
    b = None if bench is None else _by_name(bench).get(name)
    return None if b is None else b["extra_info"].get(key)


def targets(bench: dict, baseline: dict | None = None) -> list[list]:
    """Rows: target, measured, goal, met (None when the benchmark did not run).

    ``baseline``: a bench.json of the code before the FIN-ViViT speed-up (FIN version 4), taken on
    the same machine, for the train-step target (a ratio, as epochs/s depend on the machine)."""
    b = _by_name(bench)
    plain = _median(b.get("test_plain_read_of_the_psg_bytes"))
    cold = _median(b.get("test_prepare_real_night_cold"))
    verified = _median(b.get("test_prepare_real_night_verified"))
    cached = _median(b.get("test_prepare_real_night_cached"))
    suite = _median(b.get("test_quick_suite_wall_time"))
    rss = {n: b.get(f"test_prepare_memory_is_independent_of_the_number_of_nights[{n}]")
           for n in (12, 153)}
    rows = []

    def row(what, value, goal, ok, fmt="{:.2f}"):
        rows.append([what, "-" if value is None else fmt.format(value), goal,
                     "-" if value is None else ("yes" if ok(value) else "NO")])

    row("EDF -> cached epochs, throughput / plain read (cold, with SHA-1)",
        plain / cold if plain and cold else None, ">= 0.5", lambda v: v >= 0.5)
    row("  the same with the SHA-1s already known", plain / verified if plain and verified else None,
        ">= 0.5", lambda v: v >= 0.5)
    row("cache load vs cold prepare", cold / cached if cold and cached else None, ">= 20x",
        lambda v: v >= 20, "{:.0f}x")
    infer = "test_inference_throughput[fin-vivit]"
    row(f"fin-vivit inference, epochs/s ({_extra(bench, infer, 'threads') or '?'} thread(s))",
        _extra(bench, infer, "epochs_per_s"), ">= 5000", lambda v: v >= 5000, "{:.0f}")
    train = _extra(bench, "test_train_step_throughput[fin-vivit]", "epochs_per_s")
    before = _extra(baseline, "test_train_step_throughput[fin-vivit]", "epochs_per_s")
    row("fin-vivit train step, epochs/s" + (f" / baseline's {before:.0f}" if before else " (no --baseline)"),
        train / before if train and before else None, ">= 2x", lambda v: v >= 2, "{:.2f}x")
    for kind, what, goal in (("train_step", "train step time", 1.5), ("inference", "inference time", 2.0)):
        name = f"test_fin_vivit_cost_ratio[{kind}]"
        row(f"fin-vivit / vivit {what}, interleaved, {_extra(bench, name, 'threads') or '?'} thread(s)",
            _extra(bench, name, "ratio"), f"<= {goal}", lambda v, g=goal: v <= g, "{:.2f}x")
    row("quick suite wall time, min", suite / 60 if suite else None, "<= 15", lambda v: v <= 15,
        "{:.1f}")
    if rss[12] and rss[153]:
        small, large = (rss[n]["extra_info"]["peak_rss_mb"] for n in (12, 153))
        rows.append(["prepare peak RSS, 12 vs 153 nights (MB)", f"{small:.0f} vs {large:.0f}",
                     "independent of nights", "yes" if large <= 1.25 * small else "NO"])
    return rows


def entries(bench: dict) -> list[list]:
    b = _by_name(bench)
    names = sorted({n.split("[")[1].rstrip("]") for n in b if n.startswith("test_inference_throughput[")})
    out = []
    for name in names:
        inf = b.get(f"test_inference_throughput[{name}]", {}).get("extra_info", {})
        trn = b.get(f"test_train_step_throughput[{name}]", {}).get("extra_info", {})
        mem = b.get(f"test_peak_memory[{name}]", {}).get("extra_info", {})
        out.append([name, inf.get("params"), inf.get("epochs_per_s"), trn.get("epochs_per_s"),
                    mem.get("inference_peak_mb"), mem.get("train_step_peak_mb")])
    return out


def main(argv=None) -> int:
    """``python -m tests.perf.summary [BENCH.json] [--baseline OLD.json]``."""
    p = argparse.ArgumentParser(prog="python -m tests.perf.summary", description=__doc__.split("\n\n")[0])
    p.add_argument("bench", nargs="?", default="results/bench.json")
    p.add_argument("--baseline", help="bench.json of an earlier commit on this machine (speed-up ratios)")
    args = p.parse_args(argv)
    path = args.bench
    bench = json.loads(Path(path).read_text())
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    info = bench.get("machine_info", {})
    print(f"make bench: {path} ({info.get('cpu', {}).get('brand_raw', '?')}, "
          f"{info.get('cpu', {}).get('count', '?')} cores, {bench.get('datetime', '')})\n")
    print(tabulate(targets(bench, baseline), headers=["target", "measured", "goal", "met"]))
    print()
    print(tabulate(entries(bench), floatfmt=".0f",
                   headers=["entry", "params", "inference ep/s", "train-step ep/s",
                            "inference peak MB", "train-step peak MB"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
