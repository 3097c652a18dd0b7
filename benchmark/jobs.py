"""A job (one model, seed and fold of a protocol), its result, and what identifies its record.

Shared by the runner (which runs jobs), the executors (which carry them to workers) and the cost
projection (which finds the jobs still to run), so that "is this job done?" has one answer.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from .identity import config_hash, run_identity
from .registry import Entry, make_entry

#: the roles of a fold's units, in the order their checksums are listed
ROLES = ("train", "valid", "test")


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
    device: str = "cpu"  # benchmark.device spec: cpu, cuda:N, or auto / cuda (resolved by the worker)
    precision: str = "fp32"  # fp32 or bf16 (benchmark.device.use_precision): part of a record's identity

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


@dataclass(frozen=True)
class JobIdentity:
    """What a job's record is made from, before anything is fitted."""

    entry: Entry                     # the entry as the job constructs it (not fitted)
    roles: dict[str, list[str]]      # usable units per role (train, valid, test)
    checksums: dict                  # of the usable units' recordings
    identity: dict                   # :func:`~sleepbench.benchmark.identity.run_identity`
    config_hash: str                 # the key its finished record is found by


def usable_roles(job: Job, protocol: dict, data) -> dict[str, list[str]]:
    """The units of ``job``'s fold that ``data`` has, per role (train, valid, test)."""
    fold = protocol["folds"][job.fold]
    return {r: [u for u in fold[r] if data.units.get(u)] for r in ROLES}


def job_identity(job: Job, protocol: dict, data, device: str, roles=None) -> JobIdentity:
    """The identity of ``job``'s record on ``data`` (an opened
    :class:`~sleepbench.benchmark.protocol_data.ProtocolData`) for device type ``device``
    (``"cpu"`` or ``"cuda"``): the one definition the runner and the cost projection share.
    ``roles``: :func:`usable_roles`, when the caller already has them."""
    roles = usable_roles(job, protocol, data) if roles is None else roles
    checksums = data.checksums([u for r in ROLES for u in roles[r]])
    entry = make_entry(job.model, job.seed, job.params)
    identity = run_identity(entry, protocol, checksums)
    return JobIdentity(entry, roles, checksums, identity,
                       config_hash(job, protocol, identity, device, job.precision))


@contextmanager
def limited_threads(n: int | None):
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
