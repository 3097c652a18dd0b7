"""``make gpu-check``: the GPU path tested and measured in one command.

``python -m tests.perf.gpu_check [--device auto] [--out results/gpu-check] [--precisions fp32,bf16]``

On a machine where torch sees a CUDA GPU, in this order (each step's result is written as soon as
it is known, so a run cut short keeps what it measured):

1. ``tests/test_cuda.py`` (CUDA against CPU, CUDA reruns, the record's GPU, bf16 and the
   data-on-device path on CUDA);
2. the cost plan calibrated on the GPU for every entry of ``full``, at each precision: the job
   time of each entry's 60 jobs (one worker);
3. one fold of ``vivit``, ``fin-vivit`` and ``tinysleepnet`` on ``surrogate-20`` (the size of
   Sleep-EDF-20; surrogate data) for a few passes at the full recipe, timed: a check that the
   calibration's step times hold in a real fit;
4. the ``--workers`` count that saturates the GPU: K processes train one model side by side for a
   fixed time (K = 1, 4, 16) and their summed optimiser steps per second are compared with
   one process's, for a small entry (``vivit``) and the largest (``vivit-origin``);
5. the projected wall time of the full suite on this one GPU, per precision and K: each entry's job
   time divided by the measured speed-up at K of its size class (``vivit-origin`` and
   ``fin-vivit-origin``: the large class; the other deep entries: the small one; classic entries run
   on the CPU cores beside it and are counted at one worker each); then the same for the
   ``published`` suite (the published stagers at their authors' budgets), whose entries' calibrations
   are step 2's (one calibration serves every budget of an entry).

On a CPU-only machine the same steps run at tiny sizes (``vivit`` only: the quick suite's
calibration, a pass of 3 steps on the quick protocol, K = 1, 2 for two seconds, and the quick suite
again in place of ``published``), so ``make test``
checks the command itself; bf16 there is CPU autocast, slow on CPUs without bf16 instructions.
Output: ``<out>/gpu-check.json`` and ``<out>/gpu-check.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

#: The sizes of each step, on a GPU and on a CPU-only machine (a smoke run of the command).
SIZES = {
    "cuda": {"suite": "full", "calibrate": None, "fold_protocol": "surrogate-20", "fold_passes": 3,
             "fold_steps": None, "fold_models": ("vivit", "fin-vivit", "tinysleepnet"), "workers": (1, 4, 16),
             "probe_seconds": 6.0,
             "probe_models": ("vivit", "vivit-origin"), "also_projected": ("published",)},
    "cpu": {"suite": "quick", "calibrate": ("vivit",), "fold_protocol": "quick",
            "fold_passes": 1, "fold_steps": 3, "fold_models": ("vivit",), "workers": (1, 2), "probe_seconds": 2.0,
            "probe_models": ("vivit",), "also_projected": ("quick",)},
}
#: entries whose size class is ``vivit-origin``'s in the projection (every other deep entry: vivit's)
LARGE = ("vivit-origin", "fin-vivit-origin")
#: the smallest K whose throughput is within this fraction of the best counts as saturating
SATURATED = 0.9


def run_cuda_tests() -> dict:
    """``pytest tests/test_cuda.py``: the counts of its summary line."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    last = (p.stdout.strip().splitlines() or [""])[-1]
    counts = {k: 0 for k in ("passed", "failed", "skipped", "error")}
    for part in last.strip("= ").split(","):
        words = part.split()
        if len(words) >= 2 and words[0].isdigit():
            counts[words[1].rstrip("s") if words[1].startswith("error") else words[1]] = int(words[0])
    failures = [ln for ln in p.stdout.splitlines() if ln.startswith("FAILED")]
    return {"summary": last, "returncode": p.returncode, **counts, "failures": failures}


def suite_jobs(suite: str, models, device: str, precision: str, results: Path) -> list:
    """The jobs of ``suite`` (``models``: a subset, default all) on ``device`` at ``precision``."""
    from dataclasses import replace

    from sleepbench.benchmark.runner import list_jobs
    from sleepbench.benchmark.suites import load_suite

    spec = load_suite(suite)
    chosen = {m: p for m, p in spec["models"].items() if models is None or m in models}
    jobs = list_jobs(spec["protocol"], chosen, spec["seeds"], results)
    return [replace(j, device=device, precision=precision) for j in jobs]


def calibrate_suite(suite: str, models, device: str, precision: str, results: Path, cache_dir) -> dict:
    """Per entry: step (or per-epoch) time and the (earliest-stop, full-budget) job time of all its
    jobs at one worker."""
    from sleepbench.benchmark.cost import project

    jobs = suite_jobs(suite, models, device, precision, results)
    proj = project(jobs, 1, None, cache_dir)
    out = {}
    for model, m in proj.per_model.items():
        if m.get("error"):
            out[model] = {"error": m["error"]}
            continue
        cal = m["cal"]
        out[model] = {"kind": cal["kind"], "step_ms": None if cal.get("step_s") is None else 1e3 * cal["step_s"],
                      "jobs": m["jobs"], "job_s": [m["lo"], m["hi"]]}
    return out


def probe(model: str, device: str, precision: str, barrier: str, k: int, seconds: float) -> int:
    """Optimiser steps one process takes in ``seconds`` training ``model`` (its full-suite recipe's
    batch and sequence length, random data on the device), timed once all ``k`` processes of a scan
    have warmed up (each writes a file into the folder ``barrier`` and waits for the others')."""
    import numpy as np
    import torch

    from sleepbench.benchmark.device import autocast, use_device, use_precision
    from sleepbench.benchmark.registry import make_entry
    from sleepbench.benchmark.suites import load_suite

    torch.set_num_threads(1)
    entry = make_entry(model, 0, load_suite("full")["models"].get(model, {}))
    recipe = entry.recipe()
    with use_device(device) as dev, use_precision(precision):
        dev = torch.device(dev)
        module = entry.build_module(1, 3000).to(dev).train()
        opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
        g = torch.Generator().manual_seed(0)
        x = torch.randn(recipe.batch_size, recipe.seq_len, 1, 3000, generator=g).mul_(20).to(dev)
        y = torch.from_numpy(np.random.default_rng(0).integers(0, 5, (recipe.batch_size, recipe.seq_len))).to(dev)
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

        def step():
            with autocast(dev):
                logits = module(x)
            loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 5), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        for _ in range(3):  # warm-up: allocator, kernels, autotuning
            step()
        sync()
        folder = Path(barrier)
        (folder / f"ready-{os.getpid()}").touch()
        deadline = time.time() + 300
        while len(list(folder.glob("ready-*"))) < k and time.time() < deadline:
            time.sleep(0.005)
        t_off, n = time.perf_counter() + seconds, 0
        while time.perf_counter() < t_off:
            step()
            sync()
            n += 1
    return n


def worker_scan(model: str, device: str, precision: str, workers, seconds: float) -> dict:
    """Summed steps per second of K processes training side by side, for each K of ``workers``."""
    import tempfile

    out = {}
    code = ("import sys; from tests.perf.gpu_check import probe; "
            "print(probe(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), float(sys.argv[6])))")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in workers:
        with tempfile.TemporaryDirectory() as barrier:
            procs = [subprocess.Popen([sys.executable, "-c", code, model, device, precision, barrier, str(k),
                                       str(seconds)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      env=env, cwd=Path(__file__).resolve().parents[2]) for _ in range(k)]
            steps, errors = [], []
            for p in procs:
                so, se = p.communicate(timeout=900)
                if p.returncode == 0:
                    steps.append(int(so.strip().splitlines()[-1]))
                else:
                    errors.append(se.strip().splitlines()[-1] if se.strip() else f"exit {p.returncode}")
        out[k] = {"steps_per_s": sum(steps) / seconds, "per_process": steps, "errors": errors}
    base = out[workers[0]]["steps_per_s"] or float("nan")
    for k in workers:
        out[k]["speedup"] = out[k]["steps_per_s"] / base
    best = max(out[k]["steps_per_s"] for k in workers)
    out["saturating_workers"] = next(k for k in workers if out[k]["steps_per_s"] >= SATURATED * best)
    return out


def project_wall(calibration: dict, scans: dict, workers) -> dict:
    """Projected wall time (earliest stop, full budget) of the calibrated suite for each K."""
    small = scans.get("vivit")
    large = scans.get("vivit-origin", small)
    out = {}
    for k in workers:
        lo = hi = 0.0
        for model, c in calibration.items():
            if "error" in c:
                continue
            if c["kind"] == "classic":
                speed = 1.0
            else:
                scan = large if model in LARGE else small
                speed = scan[k]["speedup"] if scan else 1.0
                if not speed > 0:  # every process of the scan failed: no projection at this K
                    lo = hi = float("nan")
                    break
            lo, hi = lo + c["job_s"][0] / speed, hi + c["job_s"][1] / speed
        out[k] = [lo, hi]
    return out


def hours(s: float) -> str:
    """``41.3 h``, ``12 min`` or ``8 s``."""
    if s != s:
        return "n/a"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min" if s >= 60 else f"{s:.0f} s"


def main(argv=None) -> int:
    from sleepbench.benchmark.device import cuda_count, device_info, device_type, resolve_device

    ap = argparse.ArgumentParser(prog="python -m tests.perf.gpu_check", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto (default), cuda, cuda:N or cpu")
    ap.add_argument("--out", type=Path, default=Path("results/gpu-check"))
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    device = "cuda:0" if device == "cuda" else device
    size = SIZES[device_type(device)]
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": device_info(device),
              "gpus": cuda_count(), "sizes": {k: list(v) if isinstance(v, tuple) else v for k, v in size.items()},
              "precisions": precisions}
    import torch

    report["torch"] = torch.__version__

    t0 = time.perf_counter()
    report["step_seconds"] = {}

    def save(step: str):
        report["step_seconds"][step] = round(time.perf_counter() - t0, 1)  # since the start
        (args.out / "gpu-check.json").write_text(json.dumps(report, indent=1, default=str))
        print(f"[{time.strftime('%H:%M:%S')}] {step} done", flush=True)

    report["cuda_tests"] = run_cuda_tests()
    save(f"1/5 tests/test_cuda.py: {report['cuda_tests']['summary']}")
    report["calibration"] = {p: calibrate_suite(size["suite"], size["calibrate"], device, p,
                                                args.out / "scratch-results", args.cache_dir)
                             for p in precisions}
    save("2/5 calibration")
    from tests.perf.fold_pass import fold_pass

    report["fold"] = {p: fold_pass(list(size["fold_models"]), size["fold_protocol"], size["suite"], 0, args.cache_dir,
                                   passes=size["fold_passes"], steps=size["fold_steps"], device=device,
                                   precision=p) for p in precisions}
    save("3/5 one fold")
    report["workers"] = {p: {} for p in precisions}
    for p in precisions:  # saved after each scan: a run cut short keeps the scans it finished
        for m in size["probe_models"]:
            report["workers"][p][m] = worker_scan(m, device, p, size["workers"], size["probe_seconds"])
            save(f"4/5 workers: {m} at {p}")
    report["projection"] = {p: project_wall(report["calibration"][p], report["workers"][p], size["workers"])
                            for p in precisions}
    report["more_projections"] = {
        suite: {p: project_wall(calibrate_suite(suite, size["calibrate"], device, p, args.out / "scratch-results",
                                                args.cache_dir), report["workers"][p], size["workers"])
                for p in precisions}
        for suite in size["also_projected"]}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    save("5/5 projection")
    text = summary(report)
    (args.out / "gpu-check.md").write_text(text)
    print(text)
    return 1 if report["cuda_tests"]["failed"] or report["cuda_tests"]["error"] else 0


def summary(r: dict) -> str:
    """The readable summary of a report (also written to gpu-check.md)."""
    d = r["device"]
    size = r["sizes"]
    lines = [f"# make gpu-check, {r['date']}", "",
             f"Device: {d.get('type')} ({d.get('name')}), torch {r['torch']}; suite {size['suite']}"
             + (" (CPU-only machine: tiny sizes, a check of the command, not a measurement)"
                if d.get("type") != "cuda" else ""), "",
             f"1. tests/test_cuda.py: {r['cuda_tests']['summary']}"]
    lines += [f"   {f}" for f in r["cuda_tests"]["failures"]]
    lines += ["", "2. Calibration (ms per optimiser step; job time of all the entry's jobs at one worker):", "",
              "| entry | " + " | ".join(f"{p} step ms | {p} job time" for p in r["precisions"]) + " |",
              "|---|" + "---|---|" * len(r["precisions"])]
    models = list(next(iter(r["calibration"].values())))
    for m in models:
        cells = []
        for p in r["precisions"]:
            c = r["calibration"][p].get(m, {})
            if "error" in c:
                cells += ["failed", c["error"][:60]]
                continue
            cells += ["-" if c.get("step_ms") is None else f"{c['step_ms']:.1f}",
                      f"{hours(c['job_s'][0])}-{hours(c['job_s'][1])}"]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", f"3. One fold of {size['fold_protocol']} ({size['fold_passes']} pass(es)"
              + (f", {size['fold_steps']} steps each" if size["fold_steps"] else "") + "):", ""]
    for p in r["precisions"]:
        for f in r["fold"][p]:
            lines.append(f"   {p} {f['entry']:<14} {f['wall_s']:>7.1f} s wall, {f['steps']} steps in "
                         f"{f['passes']} pass(es), epochs {f['epochs']}")
    lines += ["", "4. Workers side by side (summed optimiser steps/s; speed-up over one worker):", ""]
    for p in r["precisions"]:
        for m, scan in r["workers"][p].items():
            ks = [k for k in scan if k != "saturating_workers"]
            cells = ", ".join(f"K={k}: {scan[k]['steps_per_s']:.1f}/s (x{scan[k]['speedup']:.2f})"
                              + (f" [{len(scan[k]['errors'])} failed]" if scan[k]["errors"] else "") for k in ks)
            lines.append(f"   {p} {m}: {cells}; saturates at K={scan['saturating_workers']}")
    for n, (suite, projections) in enumerate([(size["suite"], r["projection"]),
                                              *r.get("more_projections", {}).items()]):
        lines += ["", f"5{'abcdefgh'[n]}. Projected wall time of suite {suite} on this device "
                  "(earliest early stop - full budget):", ""]
        for p in r["precisions"]:
            proj = projections[p]
            best = min((k for k in proj if proj[k][1] == proj[k][1]), key=lambda k: proj[k][1], default=None)
            lines.append(f"   {p}: " + "; ".join(f"K={k}: {hours(v[0])}-{hours(v[1])}" for k, v in proj.items())
                         + f"  -> best --workers {best}")
    lines.append(f"\n{r['seconds']:.0f} s in all.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
