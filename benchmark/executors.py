"""Executors run fold jobs. The interface is one method, so a cluster engine plugs in later.

``map(fn, jobs, **kwargs)`` yields ``fn(job, **kwargs)`` results in completion order. ``fn`` must
never raise for a job's own failure (the runner returns failed results instead); an executor that
loses a job (a worker dies) must still yield a failed result for it, never drop it.
"""

from __future__ import annotations

import concurrent.futures as cf
from contextlib import AbstractContextManager
from typing import Callable, Iterable, Iterator

from sleepbench.errors import UserError

from .jobs import JobResult

_EXECUTORS: dict[str, type] = {}


def executor(name: str):
    def deco(cls):
        _EXECUTORS[name] = cls
        return cls

    return deco


class Executor(AbstractContextManager):
    def map(self, fn: Callable, jobs: Iterable, **kwargs) -> Iterator:  # pragma: no cover
        raise NotImplementedError

    def __exit__(self, *exc):
        return False


@executor("local")
class LocalExecutor(Executor):
    """In-process for one worker (simplest to debug), a process pool for several.

    Each job carries its device (:func:`job_devices`); several workers on one GPU share it, each
    process with its own CUDA context (a few hundred MB of GPU memory each).
    """

    def __init__(self, workers: int = 1):
        self.workers = workers

    def map(self, fn, jobs, **kwargs):
        jobs = list(jobs)
        if self.workers <= 1:
            for job in jobs:
                yield fn(job, **kwargs)
            return
        import multiprocessing as mp

        with cf.ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(fn, job, **kwargs): job for job in jobs}
            for fut in cf.as_completed(futures):
                try:
                    yield fut.result()
                except Exception as exc:  # worker died (e.g. killed for memory)
                    yield _lost(futures[fut], exc)


def _lost(job, exc):

    return JobResult(job, "failed", error=f"{job.label}: worker lost: {type(exc).__name__}: {exc}")


@executor("dask")
class DaskExecutor(Executor):
    """Fold jobs as tasks of a Dask distributed cluster (optional extra: ``pip install
    sleepbench[cluster]``).

    Why Dask rather than Ray: pure Python and small (no gRPC / object store to install on every
    node), a real scheduler that already runs on SLURM / PBS (``dask-jobqueue``), Kubernetes
    (``dask-kubernetes``) and clouds, with per-task resources for GPUs (``resources={"GPU": 1}``,
    workers started with ``--resources GPU=1``) and per-task retries. Fold jobs are coarse (seconds
    to hours), so Ray's low-latency task model buys nothing here.

    ``address`` (``HOST:PORT``) connects to a running scheduler; without it a ``LocalCluster`` of
    ``workers`` single-threaded processes is started on loopback and closed at the end. Workers
    run :func:`sleepbench.benchmark.runner.run_job`, so each writes its record exactly as a local run does:
    the results folder (and data / cache folders) must be the same path on every worker (a
    shared file system, as on any cluster). A job whose worker dies is retried ``retries`` times,
    then reported as failed; never dropped.
    """

    def __init__(self, workers: int = 1, address: str | None = None, retries: int = 2,
                 resources: dict | None = None, timeout: float = 30.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # an optional extra, not a core dependency
            raise RuntimeError("the dask executor needs the 'cluster' extra: "
                               "pip install 'sleepbench[cluster]' (dask[distributed])") from exc
        self.retries, self.resources = int(retries), resources
        self.cluster = None
        if address:
            self.client = Client(address if "://" in address else f"tcp://{address}", timeout=timeout)
        else:
            import dask

            # Dask's default MALLOC_TRIM_THRESHOLD_ turns off glibc's adaptive mmap threshold: every
            # large array is then mmapped and page-faulted afresh, which made fold jobs 2x slower.
            with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
                # GPU jobs declare {"GPU": 1}: each local worker offers one, or they would never run
                self.cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                            processes=True, host="127.0.0.1", dashboard_address=None,
                                            resources=dict(resources) if resources else None)
            self.client = Client(self.cluster)

    def map(self, fn, jobs, **kwargs):
        from distributed import as_completed

        futures = {}
        for job in jobs:
            fut = self.client.submit(fn, job, **kwargs, key=f"sleepbench-{job.label}-{id(job)}",
                                     pure=False, retries=self.retries, resources=self.resources)
            futures[fut] = job
        for fut in as_completed(list(futures)):
            try:
                yield fut.result()
            except Exception as exc:  # the worker died more than `retries` times
                yield _lost(futures[fut], exc)

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False


def job_devices(executor_name: str, spec: str, n_jobs: int, n_gpus: int | None = None,
                address: str | None = None) -> list[str]:
    """The device each job asks for, in submission order (see :mod:`sleepbench.benchmark.device`).

    * local executor (and a local Dask cluster, no ``address``): the spec resolved on this machine;
      ``auto`` / ``cuda`` spread the jobs
      round-robin over the visible GPUs (``cuda:0``, ``cuda:1``, ...), so ``--workers N`` on one GPU
      runs N jobs side by side on it, and on G GPUs about N / G per GPU;
    * dask with an ``address``: the spec as given, resolved by the worker that runs the job (its own GPUs: a worker
      started with ``--resources GPU=1`` and ``CUDA_VISIBLE_DEVICES`` set sees its GPU as
      ``cuda:0``); nothing is resolved on the client, which may have no GPU at all.

    ``n_gpus`` fakes the GPU count (tests).
    """
    from .device import assign_devices, parse_device

    if executor_name == "dask" and address:
        return [parse_device(spec)] * n_jobs
    return assign_devices(n_jobs, spec, n_gpus)


def gpu_resources(executor_name: str, spec: str) -> dict | None:
    """Dask resources a job declares: ``{"GPU": 1}`` when it asks for CUDA, so the scheduler sends it
    only to workers started with ``--resources GPU=n`` and runs at most n at once on each; ``auto``
    and ``cpu`` declare none (an ``auto`` job uses its worker's GPU if it has one)."""
    from .device import parse_device

    return {"GPU": 1} if executor_name == "dask" and parse_device(spec).startswith("cuda") else None


def make_executor(name: str, **options) -> Executor:
    if name not in _EXECUTORS:
        raise UserError(f"unknown executor {name!r}; available: {', '.join(sorted(_EXECUTORS))}")
    return _EXECUTORS[name](**options)
