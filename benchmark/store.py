"""Run records on disk: ``runs/<protocol>/<model>/seed-<s>/fold-<k>.{json,npz}``, written atomically.

The ``.npz`` (per-epoch predictions) is written before the ``.json``; a record counts as finished
only when its JSON exists, parses and carries the expected config hash, so a job killed mid-write
is simply redone on the next run.
"""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from sleepbench.datasets.cache import atomic_write_bytes

SCHEMA = 2  # 2: one sleepbench package (code files named sleepbench.*), typed flags need precision and cpu_kernel_set
PACKAGES = ("sleepbench", "torch", "numpy", "scipy", "mne", "scikit-learn", "pandas", "lightgbm", "yasa")


def record_paths(results_dir: Path, protocol: str, model: str, seed: int, fold: int) -> tuple[Path, Path]:
    base = Path(results_dir) / "runs" / protocol / model / f"seed-{seed}" / f"fold-{fold}"
    return base.with_suffix(".json"), base.with_suffix(".npz")


def finished(results_dir: Path, protocol: str, model: str, seed: int, fold: int,
             config_hash: str) -> bool:
    """True when a complete record with this config hash exists."""
    js, npz = record_paths(results_dir, protocol, model, seed, fold)
    try:
        return json.loads(js.read_text()).get("config_hash") == config_hash and npz.is_file()
    except (FileNotFoundError, json.JSONDecodeError):
        return False


def read_record(js: Path) -> dict | None:
    """The record JSON at ``js`` with its ``.npz`` beside it, or None when either is missing or broken."""
    try:
        record = json.loads(Path(js).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return record if Path(js).with_suffix(".npz").is_file() else None


def write_record(results_dir: Path, record: dict, arrays: dict[str, np.ndarray]) -> Path:
    js, npz = record_paths(results_dir, record["protocol"]["name"], record["model"]["name"],
                           record["seed"], record["fold"])
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(npz, buf.getvalue())
    atomic_write_bytes(js, (json.dumps(record, indent=1) + "\n").encode())
    return js


def cpu_kernel_set() -> str:
    """The CPU kernel set torch dispatches to here: ATen's capability (``AVX512``, ``AVX2``,
    ``DEFAULT``, ...; ``torch.backends.cpu.get_cpu_capability()``), with ``+ONEDNN_MAX_CPU_ISA=<isa>``
    when oneDNN's instruction set is capped by that variable.

    A seed fixes every byte of training only within one kernel set (and one torch build and thread
    count): other kernels sum in another order, and rounding differences grow through the optimiser
    steps. ``ATEN_CPU_CAPABILITY=default`` (and ``ONEDNN_MAX_CPU_ISA``) select another set on the
    same machine, which is how the tests stand in for another CPU.
    """
    import torch

    kernels = str(torch.backends.cpu.get_cpu_capability())
    onednn = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return f"{kernels}+ONEDNN_MAX_CPU_ISA={onednn.upper()}" if onednn else kernels


@lru_cache(maxsize=1)
def environment() -> dict:
    """Python, package versions, platform, CPU kernel set and git commit, stored in every record."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return {"python": platform.python_version(), "packages": versions,
            "platform": platform.platform(), "cpu_kernel_set": cpu_kernel_set(),
            "git_commit": git_commit()}


def git_commit() -> str | None:
    """The checkout's commit (``-dirty`` with local changes), else ``$SLEEPBENCH_COMMIT`` (set in
    the Docker image, which has no ``.git``), else None."""
    baked = os.environ.get("SLEEPBENCH_COMMIT") or None
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return baked
    if out.returncode != 0:
        return baked
    return out.stdout.strip() + ("-dirty" if dirty else "")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")

