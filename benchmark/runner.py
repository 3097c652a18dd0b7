"""The runner: for every (model, seed, fold) fit on training subjects, predict test subjects, record.

A job is small and self-describing (:class:`Job`), so any executor can run it anywhere the results
folder and the data are visible: it opens the protocol's data from the cache, loads only its fold's
recordings, and writes one record atomically.

A rerun skips jobs whose record carries the same config hash (:mod:`sleepbench.benchmark.identity`: resolved
parameters, code, preprocessing, data, device type); a record whose code, data or preprocessing
changed is redone (a default changed in the code is a code change). A record made by the same
code with *other resolved parameters* (or on another device type) is never replaced silently:
:func:`run` refuses with :class:`ConfigConflict`, naming the differing parameters, unless ``force``
(which redoes the job).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from pathlib import Path

import numpy as np

from sleepbench.datasets.cache import file_lock
from sleepbench.errors import UserError

from .device import current_device, device_info, use_device, use_precision
from .executors import make_executor
from .identity import code_identity, jsonable, params_diff
from .jobs import Job, JobResult, NoUsableData, job_identity, limited_threads, usable_roles
from .metrics import epoch_metrics, grouped_metrics
from .protocol_data import open_protocol_data
from .protocols import load_protocol
from .registry import get_entry, make_entry
from .store import SCHEMA, environment, finished, now, read_record, record_paths, write_record

log = logging.getLogger(__name__)


class ConfigConflict(UserError):
    """Records exist for these jobs with other resolved parameters; ``force`` replaces them."""


def conflict(job: Job, entry=None, device_type: str | None = None) -> str | None:
    """Why ``job`` must not silently replace the record at its path, or None when it may.

    It may when there is no record; when the record was made by other code (its code hash
    differs, or it predates code hashes: the record is stale, and a changed default is part of the
    code); or when it was made with the same resolved parameters (``get_params()`` of the entry as
    constructed) on the same device type (``device_type``, when known), so that only the
    preprocessing or data changed. It may not when the same code ran with other settings: that is
    another experiment, e.g. ``run --protocol P --models m`` (the entry's defaults) over a suite's
    records.
    """
    js, _ = record_paths(job.results_dir, job.protocol, job.model, job.seed, job.fold)
    record = read_record(js)
    if record is None:
        return None
    entry = entry if entry is not None else make_entry(job.model, job.seed, job.params)
    old_code = (record.get("identity") or {}).get("code_hash")
    if old_code != code_identity(entry)["hash"]:
        return None
    diff = params_diff(record.get("model", {}).get("params", {}), jsonable(entry.get_params()))
    old_device = (record.get("environment", {}).get("device") or {}).get("type", "cpu")
    if device_type is not None and device_type != old_device:
        diff.append(f"device: {old_device} (record) -> {device_type} (now)")
    old_precision = record.get("precision", "fp32")
    if old_precision != job.precision:
        diff.append(f"precision: {old_precision} (record) -> {job.precision} (now)")
    if not diff:
        return None
    return f"{js} was made with other settings: {'; '.join(diff)}"


def check_conflicts(jobs: list[Job]) -> None:
    """Raise :class:`ConfigConflict` listing every job whose record has other resolved parameters."""
    def device_type(spec: str) -> str | None:  # "auto" is resolved only inside the job
        spec = str(spec or "cpu")
        return "cpu" if spec == "cpu" else "cuda" if spec.startswith("cuda") else None

    found = [c for c in (conflict(j, device_type=device_type(getattr(j, "device", "cpu"))) for j in jobs)
             if c]
    if found:
        shown = "\n  ".join(found[:10]) + (f"\n  ... and {len(found) - 10} more" if len(found) > 10 else "")
        raise ConfigConflict(
            f"{len(found)} record(s) exist with other resolved parameters; nothing was run:\n  {shown}\n"
            "Rerun with --force to replace them, use another --results folder, or run the entry at the "
            "suite's settings (--suite S --models m).")


def run_job(job: Job, force: bool = False) -> JobResult:
    """Run one (model, seed, fold); never raises: failures come back as ``status="failed"``."""
    t0 = time.perf_counter()
    try:
        with limited_threads(job.threads), use_device(job.device), use_precision(job.precision):
            return _run_job(job, force, t0)
    except NoUsableData as exc:  # bad inputs, already reported by name when the data was prepared
        return JobResult(job, "no-data", error=f"{job.label}: {exc}", seconds=time.perf_counter() - t0)
    except Exception as exc:  # one failed job never sinks the run
        log.debug(traceback.format_exc())
        where = _write_failure_log(job, traceback.format_exc())
        return JobResult(job, "failed", error=f"{job.label}: {type(exc).__name__}: {exc}{where}",
                         seconds=time.perf_counter() - t0)


def failure_log_path(job: Job) -> Path:
    """``<results>/logs/<protocol>/<model>/seed-<s>/fold-<k>.log``: the full traceback of a failed job."""
    return (Path(job.results_dir) / "logs" / job.protocol / job.model / f"seed-{job.seed}"
            / f"fold-{job.fold}.log")


def _write_failure_log(job: Job, text: str) -> str:
    """Write the traceback beside the results; returns " (traceback: PATH)" or "" if unwritable."""
    path = failure_log_path(job)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{job.label} failed at {now()}\nparams: {json.dumps(job.params, default=str)}"
                        f"\n\n{text}")
    except OSError:
        return ""
    return f" (full traceback: {path})"


def _run_job(job: Job, force: bool, t0: float) -> JobResult:
    protocol = load_protocol(job.protocol)
    data = open_protocol_data(protocol, job.data_dir, job.cache_dir, progress=False)
    # a GPU gives other (close, not equal) numbers than the CPU: a CUDA record is not a finished CPU
    # job and vice versa, so a table row never mixes devices
    roles = usable_roles(job, protocol, data)
    if not roles["test"] or not roles["train"]:  # before hashing code and data for nothing
        raise NoUsableData(f"no usable {'test' if not roles['test'] else 'training'} "
                           f"recordings (missing units {data.missing_units()})")
    ident = job_identity(job, protocol, data, current_device().type, roles)
    checksums, entry, identity, chash = ident.checksums, ident.entry, ident.identity, ident.config_hash
    lock = record_paths(job.results_dir, job.protocol, job.model, job.seed, job.fold)[0]
    # a second run on the same results folder waits here for this job, then finds its record
    with file_lock(lock.with_suffix(".lock")):
        if not force and finished(job.results_dir, job.protocol, job.model, job.seed, job.fold,
                                  chash):
            return JobResult(job, "skipped", seconds=time.perf_counter() - t0)
        why = None if force else conflict(job, entry, current_device().type)
        if why:  # another run with other settings wrote it after this run's up-front check
            raise ConfigConflict(f"{why}; not replaced (rerun with --force)")
        return _fit_and_record(job, entry, protocol, data, roles, checksums, identity, chash, t0)


def _fit_and_record(job, entry, protocol, data, roles, checksums, identity, chash, t0) -> JobResult:
    train, valid, test = (data.epoch_set(roles[r]) for r in ("train", "valid", "test"))
    t_fit = time.perf_counter()
    entry.fit(train, valid)
    fit_s = time.perf_counter() - t_fit
    t_pred = time.perf_counter()
    proba, context = data.predict_proba(entry, test)  # whole night for needs_whole_night entries
    proba = np.asarray(proba, dtype=np.float32)
    predict_s = time.perf_counter() - t_pred
    if proba.shape != (len(test), 5):
        raise ValueError(f"{job.model}: predict_proba returned shape {proba.shape}, "
                         f"expected {(len(test), 5)}")
    y_pred = proba.argmax(1)
    recording = np.concatenate([np.full(len(r.y), r.name) for r in test.recordings])
    metrics = {"pooled": epoch_metrics(test.y, y_pred),
               "per_subject": grouped_metrics(test.y, y_pred, test.subject),
               "per_night": grouped_metrics(test.y, y_pred, recording)}
    info = get_entry(job.model)
    record = {
        "schema": SCHEMA, "config_hash": chash,
        "protocol": {k: protocol[k] for k in ("name", "version", "hash", "title", "kind")},
        "dataset": {"source": data.source, **protocol["prep"], "epoch_sec": 30.0,
                    "checksums": checksums},
        "identity": identity,
        "model": {"name": job.model, "params": identity["params"], "code_hash": identity["code_hash"],
                  "n_params": entry.n_params(), "n_trainable_params": entry.n_trainable_params(),
                  "description": info.description},
        "entry_report": jsonable(entry.report(test)),
        "prediction_context": context,
        "seed": job.seed, "fold": job.fold, "precision": job.precision, "subjects": roles,
        "metrics": metrics, "n_test_epochs": int(len(test)),
        "timing": {"fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3)},
        "environment": {**environment(), "threads": job.threads,
                        "device": device_info(str(current_device()))}, "created": now(),
    }
    arrays = {"y_true": test.y, "y_pred": y_pred, "proba": proba, "subject": test.subject,
              "night": test.night, "epoch": test.epoch, "recording": recording.astype(str)}
    path = write_record(job.results_dir, record, arrays)
    return JobResult(job, "done", str(path), seconds=time.perf_counter() - t0,
                     metrics={k: metrics["pooled"][k] for k in ("accuracy", "kappa", "macro_f1")})


def list_jobs(protocol: str, models: dict[str, dict], seeds: list[int], results_dir, data_dir=None,
         cache_dir=None, threads: int | None = 1) -> list[Job]:
    """Every (model, seed, fold) job of a run, models outermost so tables fill model by model."""
    p = load_protocol(protocol)
    for m in models:
        get_entry(m)  # unknown names fail before any work starts
    def absolute(path):  # a job may run on another machine or in another working directory
        return None if path is None else str(Path(path).resolve())

    return [Job(protocol, m, s, f["fold"], dict(params), absolute(results_dir), absolute(data_dir),
                absolute(cache_dir), threads)
            for m, params in models.items() for s in seeds for f in p["folds"]]


def prepare_data(jobs: list[Job], workers: int = 1, progress: bool = True):
    """Prepare (or generate) the data of ``jobs`` once, up front, rather than in every worker at
    once; returns the :class:`~benchmark.protocol_data.ProtocolData` (its ``problems()`` name
    every recording left out and why)."""
    first = jobs[0]
    return open_protocol_data(load_protocol(first.protocol), first.data_dir, first.cache_dir,
                              n_jobs=max(1, workers), progress=progress)


def run(jobs: list[Job], executor: str = "local", workers: int = 1, force: bool = False,
        progress: bool = True, prepared: bool = False, **executor_options) -> list[JobResult]:
    """Run ``jobs`` through an executor, with a progress bar; returns every job's result.

    ``prepared=True``: the caller already ran :func:`prepare_data`.
    """
    from tqdm.auto import tqdm

    if not jobs:
        return []
    if not force:
        check_conflicts(jobs)  # before any data is prepared or any record replaced
    if not prepared:
        prepare_data(jobs, workers, progress)
    first = jobs[0]
    results = []
    with make_executor(executor, workers=workers, **executor_options) as ex:
        bar = tqdm(total=len(jobs), unit="job", desc=first.protocol, disable=not progress)
        for result in ex.map(run_job, jobs, force=force):
            results.append(result)
            bar.set_postfix_str(f"{result.job.model} f{result.job.fold}: {result.status}")
            bar.update()
            if result.status in ("failed", "no-data"):
                log.error(result.error)
        bar.close()
    return results


def summarize(results: list[JobResult], data_problems: list[str] = ()) -> str:
    """A short readable summary of a run: job counts, then every failure and left-out recording."""
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "no-data", "failed")}
    lines = [f"{len(results)} job(s): {counts['done']} done, {counts['skipped']} already done "
             f"(skipped), {counts['no-data']} without usable data, {counts['failed']} failed; "
             f"{sum(r.seconds for r in results):.0f} s of work"]
    lines += [f"  {r.status}: {r.error}" for r in results if r.status in ("no-data", "failed")]
    if data_problems:
        lines.append(f"{len(data_problems)} recording(s) left out:")
        lines += [f"  {p}" for p in data_problems]
    return "\n".join(lines)


def exit_status(results: list[JobResult]) -> int:
    """0 when every job that had data produced a record; 1 when a job failed or nothing ran."""
    usable = [r for r in results if r.status in ("done", "skipped")]
    return 0 if usable and not any(r.status == "failed" for r in results) else 1
