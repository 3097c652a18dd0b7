"""The cost of a run before it starts: its jobs, and their wall time projected from a calibration.

``sleepbench run ... --cost`` prints this without running a job; a real run prints it first and
ends with projected against actual. Nothing here is a hand-typed speed: every second comes from
timing, on this machine, at the run's device and thread count, each entry of the run on synthetic
arrays of the protocol's shape (:func:`calibrate`):

* a deep entry (:class:`sleepbench.benchmark.training.DeepEntry`) is fitted once for ``1 + k`` optimiser
  steps (one pass, no validation), with the run's parameters (batch, sequence length, model size);
  a global hook stamps the clock after every optimiser step, and the median gap between two
  stamps (the first step, with its one-off costs, ends before the first gap) is the time of one
  step, robust to a stall on a busy machine; the rest of the fit is its fixed cost (module
  construction, FIN loading, BatchNorm
  re-estimation, ...); its ``predict_proba`` on synthetic epochs gives the time per predicted
  epoch;
* a classic entry is fitted on two sizes of training set (fit time linear in the number of
  epochs; a validation set is not given, so an entry with early stopping, such as
  ``bandpower-gbm``, runs its whole budget: an upper bound) and timed predicting.

A fold's projected time is then ``fixed + passes x (steps x step + n_valid x per_epoch) + n_test x
per_epoch`` (+ loading the fold's recordings, when the data is there to time it). Steps per pass
follow from the fold's training epochs, ``seq_len``, ``batch_size`` and ``steps_per_pass``.
Passes are not known before training (early stopping): the projection is a range, from the
earliest stop (``patience + 1`` passes) to the full ``max_passes``.

Fold sizes are the protocol's real epoch counts when its data is prepared; otherwise they are
estimated from the protocol's declared size (a surrogate's subjects x nights x hours; for
Sleep-EDF, the nights of MNE's record table x the mean trimmed night length of the 39 real
Sleep-EDF-20 hypnograms, ``datasets/hypnogram_model.json``), and the output says so.

Wall time: jobs are handed to ``workers`` in submission order as a worker frees (a list-scheduling
simulation); with more job threads than cores each job is slowed by ``workers x threads / cores``.
On a GPU the jobs sharing it are assumed not to slow each other (true only until it is saturated):
the GPU projection is a lower bound when several workers share one GPU.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

#: optimiser steps timed after the first (which carries one-off costs: allocator, autograd graph)
CALIBRATION_STEPS = 5
#: epochs predicted to time inference
CALIBRATION_PREDICT_EPOCHS = 400
#: training-set sizes (epochs) of the two timed fits of a classic entry
CALIBRATION_CLASSIC_EPOCHS = (500, 2000)


# --- fold sizes -------------------------------------------------------------------------------------

@dataclass
class FoldShape:
    """Epochs of one fold: per training recording, and totals of validation and test."""

    fold: int
    train: list[int]
    n_valid: int
    n_test: int
    n_valid_recordings: int = 1


def _estimated_units(protocol: dict) -> tuple[dict[int, list[int]], str]:
    """Epochs per recording per unit, from the protocol's declared size (no data needed)."""
    from sleepbench.datasets.hypnogram_model import load_model

    spec = protocol["dataset"]
    night = load_model()["night_epochs_mean"]
    night_note = (f"{night:.0f} epochs per night: the mean trimmed length of the "
                  f"{load_model()['n_nights']} real Sleep-EDF-20 hypnograms (datasets/hypnogram_model.json)")
    if spec["type"] == "surrogate":
        s = spec["spec"]
        n = night if s.get("hours") is None else round(s["hours"] * 3600 / 30)
        note = (f"estimated from the declared size: {s['subjects']} subjects x {s['nights']} nights x "
                + (f"{s['hours']:g} h = {n} epochs per night (before wake trimming)" if s.get("hours")
                   else night_note))
        return {u: [int(n)] * int(s["nights"]) for u in protocol["subjects"]}, note
    if protocol["kind"] == "within-night":
        k = int(protocol["n_blocks"])
        return ({u: [int(round(night / k))] for u in protocol["subjects"]},
                f"estimated: one night cut in {k} blocks, {night_note}")
    from sleepbench.datasets.inventory import records_for

    nights: dict[int, int] = {}
    for rec in records_for(spec.get("study", "cassette")):
        nights[rec.subject] = nights.get(rec.subject, 0) + 1
    units = {u: [int(round(night))] * nights.get(u, 0) for u in protocol["subjects"]}
    total = sum(len(v) for v in units.values())
    return units, (f"estimated (data not prepared here): {total} nights (MNE's record table) x "
                   f"{night_note}")


def _measured_units(data) -> dict[int, list[int]]:
    """Epochs per recording per unit of an opened :class:`~benchmark.protocol_data.ProtocolData`."""
    out = {}
    for u, recs in data.units.items():
        out[u] = [len(r.y) if hasattr(r, "y") else len(data.dataset.load(r, signals=False).y)
                  for r in recs]
    return out


def fold_shapes(protocol: dict, data=None) -> tuple[list[FoldShape], str]:
    """Every fold's epoch counts: measured from ``data`` (opened protocol data) when given, else
    estimated (:func:`_estimated_units`); returns them and a line saying which."""
    if data is not None:
        units, note = _measured_units(data), f"measured on the prepared data ({data.source})"
    else:
        units, note = _estimated_units(protocol)
    shapes = []
    for f in protocol["folds"]:
        shapes.append(FoldShape(
            f["fold"], [n for u in f["train"] for n in units.get(u, [])],
            sum(n for u in f["valid"] for n in units.get(u, [])),
            sum(n for u in f["test"] for n in units.get(u, [])),
            sum(len(units.get(u, [])) for u in f["valid"])))
    return shapes, note


def data_if_ready(protocol: dict, data_dir=None, cache_dir=None):
    """The protocol's data when it can be opened without generating or fetching anything, else
    None (a surrogate not generated yet, or a Sleep-EDF protocol without ``data_dir``)."""
    from sleepbench.datasets.inventory import read_surrogate_manifest

    from .protocol_data import open_protocol_data, surrogate_dir

    spec = protocol["dataset"]
    if spec["type"] == "surrogate" and data_dir is None:
        if read_surrogate_manifest(surrogate_dir(spec["spec"], cache_dir)) is None:
            return None
    elif spec["type"] != "surrogate" and (data_dir is None or not Path(data_dir).is_dir()):
        return None
    try:
        return open_protocol_data(protocol, data_dir, cache_dir, progress=False)
    except (FileNotFoundError, ValueError):
        return None


# --- calibration ------------------------------------------------------------------------------------

def synthetic_epochs(lengths: list[int], n_channels: int, n_samples: int, sfreq: float, seed: int = 0):
    """An :class:`~benchmark.epochs.EpochSet` of Gaussian noise (20 µV sd) with stage labels in runs
    of 10 epochs: only the shape matters for timing."""
    from sleepbench.datasets.sleep_edf import Recording

    from .epochs import EpochSet

    rng = np.random.default_rng(seed)
    recs = []
    for i, n in enumerate(lengths):
        x = rng.standard_normal((n, n_channels, n_samples), dtype=np.float32) * 20.0
        y = np.repeat(rng.integers(0, 5, -(-n // 10)), 10)[:n].astype(np.int8)
        y[:min(5, n)] = np.arange(min(5, n))  # every class present (class weights, stratification)
        recs.append(Recording(f"CAL{i}", i, 1, x, y, 30.0 * np.arange(n)))
    channels = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "EMG submental")[:n_channels]
    return EpochSet(recs, sfreq, tuple(channels) + ("x",) * (n_channels - len(channels)))


@dataclass
class Calibration:
    """Timings of one entry with one parameter set (seconds)."""

    model: str
    kind: str                        # "deep" or "classic"
    fixed_s: float                   # per fit: construction, loading, one-off work
    step_s: float = 0.0              # deep: one optimiser step
    fit_per_epoch_s: float = 0.0     # classic: fit time per training epoch
    predict_per_epoch_s: float = 0.0
    recipe: dict = field(default_factory=dict)  # deep: batch_size, seq_len, steps_per_pass, ...
    seconds: float = 0.0             # what calibrating took
    error: str | None = None


def _clock():
    """The clock of :func:`_timed`: CPU seconds of this process per job thread on CPU, wall seconds
    after a synchronisation on CUDA."""
    import torch

    from .device import current_device

    if current_device().type == "cuda":
        def cuda_clock():
            torch.cuda.synchronize()
            return time.perf_counter()
        return cuda_clock
    threads = max(1, torch.get_num_threads())
    return lambda: time.process_time() / threads


def _timed(fn) -> float:
    """Seconds ``fn`` takes by :func:`_clock`. CPU time on CPU, so that a calibration on a busy
    machine measures what a job gets from a free core rather than its wait for one (it still
    varies when another process shares the core's caches or hyper-threads)."""
    clock = _clock()
    t0 = clock()
    fn()
    return clock() - t0


def calibrate(model: str, params: dict, n_channels: int = 1, n_samples: int = 3000,
              sfreq: float = 100.0, seed: int = 0) -> Calibration:
    """Time ``model`` with ``params`` on synthetic data, in the current thread / device settings
    (the caller wraps it like a job: ``limited_threads`` and ``use_device``)."""
    from .registry import make_entry
    from .training import DeepEntry

    t0 = time.perf_counter()
    try:
        entry = make_entry(model, seed, params)
        if "pretrained" in entry.get_params():
            # same architecture and cost per step, without pre-training (or loading) FIN weights in
            # a plan: a run that must pre-train them does it once, and shares them across jobs
            params = {**params, "pretrained": False}
        if isinstance(entry, DeepEntry):
            cal = _calibrate_deep(model, params, seed, n_channels, n_samples, sfreq)
        else:
            cal = _calibrate_classic(model, params, seed, n_channels, n_samples, sfreq)
    except Exception as exc:  # an entry that cannot run on noise: say so, project without it
        cal = Calibration(model, "?", 0.0, error=f"{type(exc).__name__}: {exc}")
    cal.seconds = time.perf_counter() - t0
    return cal


def _calibrate_deep(model, params, seed, n_channels, n_samples, sfreq) -> Calibration:
    from .epochs import EpochSet
    from .registry import make_entry

    entry = make_entry(model, seed, params)
    recipe = entry.recipe()
    seq, batch = int(recipe.seq_len), int(recipe.batch_size)
    steps = 1 + CALIBRATION_STEPS
    # one pass of exactly `steps` steps, no validation, no wall-clock cap (attributes: what the
    # entry's recipe() reads)
    entry.max_passes, entry.steps_per_pass = 1, steps
    # `batch` recordings of `steps + 2` windows: enough windows for `steps` batches whether the
    # entry draws windows at random or walks `batch` recordings side by side (a stateful loop,
    # whose batch rows are recordings)
    train = synthetic_epochs([(steps + 2) * seq] * batch, n_channels, n_samples, sfreq, seed)
    empty = EpochSet([], sfreq, ("EEG Fpz-Cz",) * n_channels)
    # the clock after every optimiser step (a global hook, removed after the fit): whatever loop
    # the entry runs, one step lies between two stamps
    from torch.optim.optimizer import register_optimizer_step_post_hook

    clock, stamps = _clock(), []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: stamps.append(clock()))
    try:
        total = _timed(lambda: entry.fit(train, empty))
    finally:
        handle.remove()
    gaps = np.diff(stamps)  # the first step (one-off costs: allocator, graph) ends before gap 1
    if len(gaps) == 0:
        raise RuntimeError(f"{model}: {len(stamps)} optimiser step(s) seen in training; "
                           "cannot time a step")
    step = float(np.median(gaps))  # robust to a stall of a busy machine
    fixed = max(0.0, total - len(stamps) * step)
    n = max(CALIBRATION_PREDICT_EPOCHS, 4 * seq)
    warm = synthetic_epochs([2 * seq], n_channels, n_samples, sfreq, seed + 1)
    test = synthetic_epochs([n // 2, n - n // 2], n_channels, n_samples, sfreq, seed + 2)
    entry.predict_proba(warm)
    per_epoch = _timed(lambda: entry.predict_proba(test)) / n
    return Calibration(model, "deep", fixed, step_s=step, predict_per_epoch_s=per_epoch,
                       recipe={"batch_size": batch, "seq_len": seq, "pass_steps": entry.pass_steps_rule,
                               "steps_per_pass": recipe.steps_per_pass,
                               "max_passes": int(recipe.max_passes), "patience": int(recipe.patience)})


def _calibrate_classic(model, params, seed, n_channels, n_samples, sfreq) -> Calibration:
    from .epochs import EpochSet
    from .registry import make_entry

    empty = EpochSet([], sfreq, ("EEG Fpz-Cz",) * n_channels)
    times = []
    for n in CALIBRATION_CLASSIC_EPOCHS:
        train = synthetic_epochs([n // 2, n - n // 2], n_channels, n_samples, sfreq, seed)
        entry = make_entry(model, seed, params)
        times.append(_timed(lambda: entry.fit(train, empty)))
    (n1, n2), (t1, t2) = CALIBRATION_CLASSIC_EPOCHS, times
    slope = max(0.0, (t2 - t1) / (n2 - n1))
    fixed = max(0.0, t1 - slope * n1)
    n = CALIBRATION_PREDICT_EPOCHS
    test = synthetic_epochs([n // 2, n - n // 2], n_channels, n_samples, sfreq, seed + 2)
    per_epoch = _timed(lambda: entry.predict_proba(test)) / n
    return Calibration(model, "classic", fixed, fit_per_epoch_s=slope, predict_per_epoch_s=per_epoch)


#: Parameters that set how long training runs, not how long a step takes: left out of the
#: calibration's key (one calibration serves every budget) and read from the job by the projection.
BUDGET_PARAMS = ("max_passes", "patience", "pretrain_passes", "pretrain_patience")


def calibration_key(model: str, params: dict, shape: tuple, device: str, threads,
                    precision: str = "fp32") -> str:
    """Cache key: the entry, its parameters but the budget (:data:`BUDGET_PARAMS`), the data shape,
    and what sets speed on this machine.

    The entry's code is its code hash (:func:`sleepbench.benchmark.identity.code_identity`: its modules, what
    they import, the harness, shipped weights), not the commit: a commit that touches other
    entries, the docs or the tests keeps this entry's calibration.
    """
    from sleepbench.datasets.cache import config_key

    from .device import device_info
    from .identity import code_identity
    from .registry import get_entry
    from .store import environment

    env = environment()
    params = {k: v for k, v in params.items() if k not in BUDGET_PARAMS}
    return config_key("calibration", 3, model, json.dumps(params, sort_keys=True, default=str),
                      list(shape), device_info(device), threads, env["packages"].get("torch"),
                      code_identity(get_entry(model).cls)["hash"], os.uname().nodename,
                      *(() if precision == "fp32" else (precision,)))


def calibrate_cached(model: str, params: dict, shape: tuple, device: str, threads,
                     cache_dir=None, refresh: bool = False,
                     precision: str = "fp32") -> tuple[Calibration, bool]:
    """:func:`calibrate` under the job's thread count, device and precision, cached in
    ``<cache>/cost/<key>.json`` (same entry, parameters, shape, device, threads, torch, entry code
    and host, whatever the budget: :data:`BUDGET_PARAMS`); returns it, at ``params``' budget, and
    whether it came from the cache."""
    from sleepbench.datasets.cache import atomic_write_bytes, default_cache_dir

    from .device import use_device, use_precision
    from .jobs import limited_threads

    key = calibration_key(model, params, shape, device, threads, precision)
    path = Path(cache_dir or default_cache_dir()) / "cost" / f"{key}.json"
    if not refresh and path.is_file():
        try:
            cached = Calibration(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError):
            pass
        else:  # the key leaves the budget out: the cached calibration may be of another budget
            return _with_budget(cached, model, params), True
    with limited_threads(threads), use_device(device), use_precision(precision):
        cal = calibrate(model, params, *shape)
    if cal.error is None:
        atomic_write_bytes(path, json.dumps(asdict(cal)).encode())
    return cal, False


# --- projection -------------------------------------------------------------------------------------

def fold_seconds(cal: Calibration, shape: FoldShape) -> tuple[float, float]:
    """(earliest-stop, full-budget) projected seconds of one fold; equal for classic entries."""
    infer = cal.predict_per_epoch_s
    if cal.kind == "classic":
        t = cal.fixed_s + cal.fit_per_epoch_s * sum(shape.train) + infer * shape.n_test
        return t, t
    from .training import pass_batches

    r = cal.recipe
    steps = pass_batches(shape.train, r["batch_size"], r["seq_len"], r.get("pass_steps", "windows"),
                         cap=r.get("steps_per_pass"))
    per_pass = steps * cal.step_s + shape.n_valid * infer
    hi = int(r["max_passes"])
    lo = min(hi, int(r["patience"]) + 1) if shape.n_valid else hi  # no validation: no early stop
    base = cal.fixed_s + shape.n_test * infer
    return base + lo * per_pass, base + hi * per_pass


def list_schedule(durations: list[float], workers: int) -> float:
    """Makespan of jobs handed, in order, to whichever of ``workers`` frees first."""
    free = [0.0] * max(1, int(workers))
    for d in durations:
        heapq.heapreplace(free, free[0] + d)
    return max(free) if durations else 0.0


def n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class Projection:
    """Per-job projected seconds (min, max), the run's wall time, and how they were obtained."""

    jobs: dict[str, tuple[float, float]]      # job label -> (earliest stop, full budget) seconds
    slowdown: float                           # contention factor applied to every job
    workers: int
    per_model: dict[str, dict]
    notes: list[str]
    calibration_s: float
    device: dict

    def wall(self, labels=None) -> tuple[float, float]:
        """Projected wall time (min, max) of the jobs ``labels`` (default all), in order."""
        labels = list(self.jobs) if labels is None else [l for l in labels if l in self.jobs]
        lo = list_schedule([self.jobs[l][0] * self.slowdown for l in labels], self.workers)
        hi = list_schedule([self.jobs[l][1] * self.slowdown for l in labels], self.workers)
        return lo, hi

    def job_seconds(self, labels=None) -> tuple[float, float]:
        labels = list(self.jobs) if labels is None else [l for l in labels if l in self.jobs]
        return (sum(self.jobs[l][0] for l in labels) * self.slowdown,
                sum(self.jobs[l][1] for l in labels) * self.slowdown)


def project(jobs: list, workers: int, data=None, cache_dir=None, refresh: bool = False,
            log=None) -> Projection:
    """Calibrate every (model, parameters) of ``jobs`` and project each job and the run's wall time.

    ``data``: the opened protocol data (measured fold sizes and load time) or None (estimated).
    ``log``: called with progress lines (e.g. ``print`` to stderr).
    """
    from .device import device_info, device_type, resolve_device
    from .protocols import load_protocol

    if not jobs:
        return Projection({}, 1.0, workers, {}, [], 0.0, {})
    protocol = load_protocol(jobs[0].protocol)
    shapes, size_note = fold_shapes(protocol, data)
    by_fold = {s.fold: s for s in shapes}
    n_channels = len(protocol["prep"]["channels"])
    sfreq = float(protocol["prep"]["sfreq"])
    shape = (n_channels, int(round(30 * sfreq)), sfreq)
    device = jobs[0].device if jobs[0].device not in ("auto", "cuda") else resolve_device(jobs[0].device)
    device = "cuda:0" if device == "cuda" else device
    notes = [f"fold sizes {size_note}"]
    load_per_epoch = _load_seconds_per_epoch(data)
    if load_per_epoch is None:
        notes.append("loading each fold's recordings is not included (data not prepared here)")
    from .registry import discover

    entries = discover()
    for model in dict.fromkeys(job.model for job in jobs):
        # a training stage the step model above does not count (e.g. DeepSleepNet's pre-training)
        left_out = getattr(entries[model].cls, "cost_left_out", "") if model in entries else ""
        if left_out:
            notes.append(f"{model}: {left_out}")
    cals, cal_s, cached = {}, 0.0, 0
    for job in jobs:
        key = (job.model, json.dumps(job.params, sort_keys=True, default=str))
        if key in cals:
            continue
        if log:
            log(f"calibrating {job.model} on {device} ({job.precision}) ...")
        cal, hit = calibrate_cached(job.model, job.params, shape, device, job.threads, cache_dir, refresh,
                                    precision=job.precision)
        cals[key], cal_s, cached = cal, cal_s + cal.seconds * (not hit), cached + hit
    if cached:
        notes.append(f"{cached} calibration(s) reused from the cache (same entry, parameters, "
                     "device, threads, torch and entry code)")
    per_job, per_model = {}, {}
    for job in jobs:
        cal = cals[(job.model, json.dumps(job.params, sort_keys=True, default=str))]
        fs = by_fold[job.fold]
        if cal.error:
            per_model.setdefault(job.model, {"error": cal.error, "jobs": 0})["jobs"] += 1
            continue
        lo, hi = fold_seconds(cal, fs)
        if load_per_epoch:
            extra = load_per_epoch * (sum(fs.train) + fs.n_valid + fs.n_test)
            lo, hi = lo + extra, hi + extra
        per_job[job.label] = (lo, hi)
        m = per_model.setdefault(job.model, {"jobs": 0, "lo": 0.0, "hi": 0.0, "cal": asdict(cal),
                                             "fold_lo": [], "fold_hi": []})
        m["jobs"] += 1
        m["lo"] += lo
        m["hi"] += hi
        m["fold_lo"].append(lo)
        m["fold_hi"].append(hi)
    threads = jobs[0].threads or 1
    busy = min(workers, len(jobs)) * threads
    slowdown = max(1.0, busy / n_cores())
    if slowdown > 1:
        notes.append(f"{busy} job threads on {n_cores()} cores: every job counted {slowdown:.2f}x slower")
    if device_type(device) == "cuda" and workers > 1:
        notes.append("jobs sharing a GPU are assumed not to slow each other: a lower bound once the "
                     "GPU is saturated")
    if any(m.get("error") for m in per_model.values()):
        notes.append("entries whose calibration failed are left out of the totals")
    return Projection(per_job, slowdown, workers, per_model, notes, cal_s, device_info(device))


def _with_budget(cal: Calibration, model: str, params: dict) -> Calibration:
    """``cal`` with the passes and patience of ``model`` at these parameters (a cached calibration
    may come from the same entry at another budget)."""
    if cal.kind != "deep" or cal.error:
        return cal
    from .registry import make_entry

    recipe = make_entry(model, 0, params).recipe()
    return replace(cal, recipe={**cal.recipe, "max_passes": int(recipe.max_passes),
                                "patience": int(recipe.patience)})


def _load_seconds_per_epoch(data) -> float | None:
    """Seconds to load one epoch of a recording from the cache (timed on one recording)."""
    if data is None:
        return None
    for recs in data.units.values():
        for r in recs:
            if hasattr(r, "y"):  # already in memory (night blocks): nothing to load
                return 0.0
            t0 = time.perf_counter()
            n = len(data.dataset.load(r).y)
            return (time.perf_counter() - t0) / max(n, 1)
    return None


def _hms(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _range(lo: float, hi: float) -> str:
    """``"20-40 s"``, ``"50 s-2 min"``, or one figure when the two are within 5 %."""
    a, b = _hms(lo), _hms(hi)
    if math.isclose(lo, hi, rel_tol=0.05) or a == b:
        return b
    na, ua = a.split(" ")
    nb, ub = b.split(" ")
    return f"{na}-{b}" if ua == ub else f"{a}-{b}"


def format_cost(jobs: list, proj: Projection, skipped: int = 0) -> str:
    """The table ``--cost`` prints: per entry its jobs, calibration and projected fold time, then
    the run's job time and wall time, and what the projection leaves out."""
    from tabulate import tabulate

    rows = []
    for model, m in proj.per_model.items():
        if m.get("error"):
            rows.append([model, m["jobs"], "calibration failed: " + m["error"][:60], "", "", "", ""])
            continue
        cal = m["cal"]
        if cal["kind"] == "deep":
            how = f"{cal['step_s'] * 1e3:.0f} ms/step"
            recipe = (f"{cal['recipe']['max_passes']} passes x <= "
                      f"{cal['recipe']['steps_per_pass'] or 'all'} steps of {cal['recipe']['batch_size']}"
                      f"x{cal['recipe']['seq_len']}")
        else:
            how = f"{cal['fit_per_epoch_s'] * 1e3:.2f} ms/train epoch"
            recipe = ""
        rows.append([model, m["jobs"], recipe, how, f"{cal['predict_per_epoch_s'] * 1e3:.2f}",
                     _range(min(m["fold_lo"]), max(m["fold_hi"])), _range(m["lo"], m["hi"])])
    first = jobs[0]
    lo, hi = proj.wall()
    jlo, jhi = proj.job_seconds()
    d = proj.device
    head = (f"{first.protocol}: {len(jobs)} job(s) to run"
            + (f" ({skipped} more already recorded, skipped)" if skipped else "")
            + f"; device {d.get('type')} ({d.get('name')}), {proj.workers} worker(s) x "
              f"{first.threads} thread(s), {getattr(first, 'precision', 'fp32')}; "
              f"calibration {proj.calibration_s:.0f} s")
    table = tabulate(rows, headers=["entry", "jobs", "budget", "train", "predict ms/epoch",
                                    "one fold", "all its jobs"])
    lines = [head, table,
             f"projected job time {_range(jlo, jhi)}; wall time {_range(lo, hi)} with "
             f"{proj.workers} worker(s) (first: every deep entry stops at its earliest early stop; "
             "second: every one runs its full max_passes)"]
    lines += [f"  note: {n}" for n in proj.notes]
    lines.append("  not included: fetching or generating data, preparing it into the cache, pre-training "
                 "FINs that are neither shipped nor cached")
    return "\n".join(lines)


def compare(proj: Projection, results: list, wall_s: float) -> str:
    """One line for a run's summary: projected against actual, over the jobs that ran."""
    ran = [r.job.label for r in results if r.status == "done"]
    if not ran:
        return "projected vs actual: no job ran"
    lo, hi = proj.wall(ran)
    jlo, jhi = proj.job_seconds(ran)
    actual_jobs = sum(r.seconds for r in results if r.status == "done")
    return (f"projected vs actual ({len(ran)} job(s) run): wall {_range(lo, hi)} vs {_hms(wall_s)}; "
            f"job time {_range(jlo, jhi)} vs {_hms(actual_jobs)}")


def pending(jobs: list, data=None) -> tuple[list, int]:
    """The jobs without a finished record, and how many have one. With the data opened this is
    exact (the runner's config hash); without it, a job counts as recorded when its record exists."""
    from .device import device_type, resolve_device
    from .jobs import job_identity
    from .protocols import load_protocol
    from .store import finished, record_paths

    todo = []
    protocol = load_protocol(jobs[0].protocol) if jobs else None
    for job in jobs:
        if data is None:
            done = record_paths(job.results_dir, job.protocol, job.model, job.seed, job.fold)[0].is_file()
        else:
            try:
                kind = device_type(resolve_device(job.device))
            except ValueError:  # e.g. cuda asked on a client without a GPU (a dask run)
                kind = device_type(job.device)
            chash = job_identity(job, protocol, data, kind).config_hash
            done = finished(job.results_dir, job.protocol, job.model, job.seed, job.fold, chash)
        if not done:
            todo.append(job)
    return todo, len(jobs) - len(todo)


def cost_text(jobs: list, workers: int, data_dir=None, cache_dir=None, refresh: bool = False,
              log=None) -> str:
    """What ``sleepbench run --cost`` prints: nothing is run, generated or fetched."""
    from .protocols import load_protocol

    if not jobs:
        return "no job"
    data = data_if_ready(load_protocol(jobs[0].protocol), data_dir, cache_dir)
    todo, skipped = pending(jobs, data)
    if not todo:
        return f"{jobs[0].protocol}: all {len(jobs)} job(s) already recorded; nothing to run"
    return format_cost(todo, project(todo, workers, data, cache_dir, refresh, log), skipped)


def run_projection(jobs: list, workers: int, data, cache_dir=None, log=None) -> Projection | None:
    """The projection a real run prints before it starts (None, with a line to ``log``, when it
    cannot be made: a run never fails for want of a projection)."""
    try:
        todo, skipped = pending(jobs, data)
        if not todo:
            return None
        proj = project(todo, workers, data, cache_dir, log=log)
        if log:
            log(format_cost(todo, proj, skipped))
        return proj
    except Exception as exc:
        if log:
            log(f"no projection ({type(exc).__name__}: {exc})")
        return None
