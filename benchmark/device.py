"""Where a job's tensors live: parsing ``--device``, spreading jobs over GPUs, the job's device.

The device is a property of the *run*, not of an entry: entries stay scikit-learn-clean (no
``device`` parameter, so a record's parameters and an entry's identity do not depend on where it
ran). The runner resolves the job's device and makes it current with :func:`use_device` around
``fit`` / ``predict_proba``; :class:`sleepbench.benchmark.training.DeepEntry` reads :func:`current_device` at
fit time and moves its module there; prediction follows the module. Classic entries (scikit-learn,
LightGBM, YASA) ignore it and run on the CPU.

Accepted specs (``sleepbench run --device``):

* ``auto``: ``cuda`` when torch sees a GPU, else ``cpu``;
* ``cpu``;
* ``cuda``: every visible GPU; a local run spreads its jobs round-robin over them
  (:func:`assign_devices`); on a Dask cluster each job takes the GPU its worker was given;
* ``cuda:N``: GPU ``N`` only.

Determinism: on CPU nothing changes (a seed fixes everything). On CUDA the job runs with
``torch.use_deterministic_algorithms(True, warn_only=True)`` (set by
:func:`sleepbench.benchmark.training.seed_everything`), ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS needs it
for reproducible matrix products, set before the first CUDA call), cuDNN autotuning off and TF32
off (full float32 products, so CUDA predictions stay close to CPU ones).
"""

from __future__ import annotations

import contextvars
import os
import platform
import re
from contextlib import contextmanager
from functools import lru_cache

from sleepbench.errors import UserError

_SPEC = re.compile(r"^(auto|cpu|cuda)(?::(\d+))?$")
_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("sleepbench_device", default="cpu")
_PRECISION: contextvars.ContextVar[str] = contextvars.ContextVar("sleepbench_precision", default="fp32")
#: ``--precision`` values: full float32 (the default, for tables that are cited), or bfloat16
#: autocast (matrix products and convolutions in bf16, reductions and the loss in float32)
PRECISIONS = ("fp32", "bf16")


def parse_device(spec: str) -> str:
    """Validate and normalise a device spec: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Raises ``ValueError`` (one line, naming the spec) for anything else.
    """
    text = str(spec).strip().lower()
    m = _SPEC.match(text)
    if not m or (m.group(2) is not None and m.group(1) != "cuda"):
        raise UserError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:N (N a GPU index)")
    return text


def cuda_count() -> int:
    """GPUs torch can use here (0 when torch was built without CUDA or no driver is present)."""
    import torch

    try:
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0
    except Exception:  # a broken driver install: treat as no GPU rather than fail the run
        return 0


def resolve_device(spec: str, n_gpus: int | None = None) -> str:
    """``auto`` -> ``cuda`` or ``cpu``; checks that a ``cuda`` spec has a GPU behind it.

    ``n_gpus`` defaults to :func:`cuda_count` (tests pass it to fake a machine).
    """
    spec = parse_device(spec)
    n = cuda_count() if n_gpus is None else int(n_gpus)
    if spec == "auto":
        return "cuda" if n > 0 else "cpu"
    if spec.startswith("cuda"):
        if n == 0:
            raise UserError(f"--device {spec}: no CUDA GPU is visible to torch here "
                             "(CPU-only torch build, no driver, or CUDA_VISIBLE_DEVICES empty); "
                             "use --device cpu or auto")
        if ":" in spec and int(spec.split(":")[1]) >= n:
            raise UserError(f"--device {spec}: only {n} GPU(s) visible (cuda:0..cuda:{n - 1})")
    return spec


def assign_devices(n_jobs: int, spec: str, n_gpus: int | None = None) -> list[str]:
    """The device of each of ``n_jobs`` jobs of a local run, in submission order.

    ``cuda`` with G GPUs: job i goes to ``cuda:{i % G}`` (round-robin, so ``--workers N`` puts
    about N / G concurrent jobs on each GPU); ``cuda:N``: every job on GPU N; ``cpu``: all on CPU.
    """
    resolved = resolve_device(spec, n_gpus)
    n = cuda_count() if n_gpus is None else int(n_gpus)
    if resolved == "cuda":
        return [f"cuda:{i % n}" for i in range(n_jobs)]
    return [resolved] * n_jobs


def device_type(spec: str) -> str:
    """``cpu`` or ``cuda`` (for specs already resolved)."""
    return "cuda" if str(spec).startswith("cuda") else "cpu"


def current_device():
    """The ``torch.device`` that the running job's deep entries use (``cpu`` outside a job)."""
    import torch

    return torch.device(_CURRENT.get())


@contextmanager
def use_device(spec: str):
    """Make ``spec`` (resolved, e.g. ``cuda:1``) the current device for the block.

    On CUDA: sets ``CUBLAS_WORKSPACE_CONFIG`` (before the first cuBLAS call; torch's deterministic
    mode asks for it), turns cuDNN autotuning and TF32 off, and selects the GPU.
    """
    resolved = parse_device(spec)
    if resolved != "cpu":  # auto, cuda, cuda:N: checked against this machine's GPUs
        resolved = resolve_device(resolved)
    if resolved == "cuda":
        resolved = "cuda:0"
    if device_type(resolved) == "cuda":
        configure_cuda()
        import torch

        torch.cuda.set_device(torch.device(resolved))
    token = _CURRENT.set(resolved)
    try:
        yield resolved
    finally:
        _CURRENT.reset(token)


def parse_precision(spec: str) -> str:
    """``fp32`` or ``bf16``; ``ValueError`` naming the value otherwise."""
    text = str(spec).strip().lower()
    if text not in PRECISIONS:
        raise UserError(f"--precision {spec!r}: expected one of {', '.join(PRECISIONS)}")
    return text


def current_precision() -> str:
    """The running job's precision (``fp32`` outside a job)."""
    return _PRECISION.get()


@contextmanager
def use_precision(spec: str):
    """Make ``spec`` (``fp32`` or ``bf16``) the precision of the deep entries trained in the block."""
    token = _PRECISION.set(parse_precision(spec))
    try:
        yield _PRECISION.get()
    finally:
        _PRECISION.reset(token)


def autocast(device):
    """The autocast context of the current precision on ``device`` (a ``torch.device``): bfloat16
    autocast under ``bf16`` (CUDA, and the CPU, where torch's autocast supports bf16 too), nothing
    under ``fp32``. Wrap forward passes and losses in it; cast logits to float32 before a softmax
    whose probabilities are stored."""
    import contextlib

    import torch

    if _PRECISION.get() == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def configure_cuda() -> None:
    """Reproducibility settings for CUDA (see the module docstring); idempotent."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch

    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    # TF32 rounds float32 products to a 10-bit mantissa on Ampere and later: off, so a GPU run
    # differs from a CPU run only by summation order, not by precision
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def device_info(spec: str) -> dict:
    """What a record stores: ``{"type": "cpu" | "cuda", "name": ...}`` (CPU model or GPU name)."""
    if device_type(spec) == "cuda":
        import torch

        dev = torch.device("cuda:0" if spec == "cuda" else spec)
        return {"type": "cuda", "name": torch.cuda.get_device_name(dev)}
    return {"type": "cpu", "name": cpu_name()}


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def to_device(t, device, pin: bool = True):
    """Move a host tensor to ``device``: a no-op on CPU (so CPU runs are unchanged); on CUDA through
    pinned (page-locked) memory with a non-blocking copy, so the transfer overlaps the GPU's work."""
    if device.type == "cpu":
        return t
    if pin and t.device.type == "cpu":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)
