"""The runner: for every (model, seed, fold) fit on training subjects, predict test subjects, record.

A job is small and self-describing (:class:`Job`), so any executor can run it anywhere the results
folder and the data are visible: it opens the protocol's data from the cache, loads only its fold's
recordings, and writes one record atomically. A rerun skips jobs whose record carries the same
config hash (``force`` redoes them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.cache import file_lock

from .executors import make_executor
from .metrics import epoch_metrics, grouped_metrics
from .protocol_data import open_protocol_data
from .protocols import load_protocol
from .registry import get_entry, make_entry
from .store import SCHEMA, environment, finished, now, record_paths, write_record

log = logging.getLogger(__name__)
#: Bump when the harness changes what a record means, so old records are redone.
HARNESS_VERSION = 1


@dataclass(frozen=True)
class Job:
    protocol: str
    model: str
    seed: int
    fold: int
    params: dict = field(default_factory=dict)
    results_dir: str = "results"
    data_dir: str | None = None
    cache_dir: str | None = None
    threads: int | None = 1  # torch / BLAS / OpenMP threads of this job (None: libraries' defaults)

    @property
    def label(self) -> str:
        return f"{self.protocol}/{self.model}/seed-{self.seed}/fold-{self.fold}"


class NoUsableData(Exception):
    """A fold whose test or training recordings are all missing or unusable."""


@dataclass
class JobResult:
    job: Job
    status: str  # "done", "skipped" (record already there), "no-data" (fold unusable) or "failed"
    path: str | None = None
    error: str | None = None
    seconds: float = 0.0
    metrics: dict | None = None


def config_hash(job: Job, protocol: dict, checksums: dict, prep: dict) -> str:
    blob = json.dumps({"harness": HARNESS_VERSION, "protocol": protocol["hash"], "fold": job.fold,
                       "model": job.model, "params": job.params, "seed": job.seed,
                       "data": checksums, "prep": prep}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@contextmanager
def _limited_threads(n: int | None):
    """Every thread pool of the job (torch, BLAS, OpenMP) at ``n`` threads.

    A fixed count, independent of how many jobs run side by side, because reductions split over a
    different number of threads round differently: a record must not depend on ``--workers``.
    """
    if not n:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        torch.set_num_threads(before)


def run_job(job: Job, force: bool = False) -> JobResult:
    """Run one (model, seed, fold); never raises: failures come back as ``status="failed"``."""
    t0 = time.perf_counter()
    try:
        with _limited_threads(job.threads):
            return _run_job(job, force, t0)
    except NoUsableData as exc:  # bad inputs, already reported by name when the data was prepared
        return JobResult(job, "no-data", error=f"{job.label}: {exc}", seconds=time.perf_counter() - t0)
    except Exception as exc:  # one failed job never sinks the run
        log.debug(traceback.format_exc())
        return JobResult(job, "failed", error=f"{job.label}: {type(exc).__name__}: {exc}",
                         seconds=time.perf_counter() - t0)


def _run_job(job: Job, force: bool, t0: float) -> JobResult:
    protocol = load_protocol(job.protocol)
    data = open_protocol_data(protocol, job.data_dir, job.cache_dir, progress=False)
    fold = protocol["folds"][job.fold]
    roles = {r: [u for u in fold[r] if data.units.get(u)] for r in ("train", "valid", "test")}
    if not roles["test"] or not roles["train"]:
        raise NoUsableData(f"no usable {'test' if not roles['test'] else 'training'} "
                         f"recordings (missing units {data.missing_units()})")
    checksums = data.checksums(roles["train"] + roles["valid"] + roles["test"])
    chash = config_hash(job, protocol, checksums, protocol["prep"])
    lock = record_paths(job.results_dir, job.protocol, job.model, job.seed, job.fold)[0]
    # a second run on the same results folder waits here for this job, then finds its record
    with file_lock(lock.with_suffix(".lock")):
        if not force and finished(job.results_dir, job.protocol, job.model, job.seed, job.fold,
                                  chash):
            return JobResult(job, "skipped", seconds=time.perf_counter() - t0)
        return _fit_and_record(job, protocol, data, roles, checksums, chash, t0)


def _fit_and_record(job, protocol, data, roles, checksums, chash, t0) -> JobResult:
    train, valid, test = (data.epoch_set(roles[r]) for r in ("train", "valid", "test"))
    entry = make_entry(job.model, job.seed, job.params)
    t_fit = time.perf_counter()
    entry.fit(train, valid)
    fit_s = time.perf_counter() - t_fit
    t_pred = time.perf_counter()
    proba = np.asarray(entry.predict_proba(test), dtype=np.float32)
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
        "model": {"name": job.model, "params": _jsonable(entry.get_params()),
                  "n_params": entry.n_params(), "n_trainable_params": entry.n_trainable_params(),
                  "description": info.description},
        "entry_report": _jsonable(entry.report(test)),
        "seed": job.seed, "fold": job.fold, "subjects": roles,
        "metrics": metrics, "n_test_epochs": int(len(test)),
        "timing": {"fit_s": round(fit_s, 3), "predict_s": round(predict_s, 3)},
        "environment": {**environment(), "threads": job.threads}, "created": now(),
    }
    arrays = {"y_true": test.y, "y_pred": y_pred, "proba": proba, "subject": test.subject,
              "night": test.night, "epoch": test.epoch, "recording": recording.astype(str)}
    path = write_record(job.results_dir, record, arrays)
    return JobResult(job, "done", str(path), seconds=time.perf_counter() - t0,
                     metrics={k: metrics["pooled"][k] for k in ("accuracy", "kappa", "macro_f1")})


def _jsonable(params: dict) -> dict:
    return json.loads(json.dumps(params, default=str))


def plan(protocol: str, models: dict[str, dict], seeds: list[int], results_dir, data_dir=None,
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
