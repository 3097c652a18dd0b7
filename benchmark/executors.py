"""Executors run fold jobs. The interface is one method, so a cluster engine plugs in later.

``map(fn, jobs, **kwargs)`` yields ``fn(job, **kwargs)`` results in completion order. ``fn`` must
never raise for a job's own failure (the runner returns failed results instead); an executor that
loses a job (a worker dies) must still yield a failed result for it, never drop it.
"""

from __future__ import annotations

import concurrent.futures as cf
from contextlib import AbstractContextManager
from typing import Callable, Iterable, Iterator

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
    """In-process for one worker (simplest to debug), a process pool for several."""

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
                    from .runner import JobResult

                    job = futures[fut]
                    yield JobResult(job, "failed", error=f"{job.label}: worker lost: {exc}")


def make_executor(name: str, **options) -> Executor:
    if name not in _EXECUTORS:
        raise ValueError(f"unknown executor {name!r}; available: {', '.join(sorted(_EXECUTORS))}")
    return _EXECUTORS[name](**options)
