"""Running a check under another CPU kernel set, in a child process.

A seed fixes every byte of training only within one CPU kernel set (and torch build and thread
count): other kernels sum in another order and the rounding differences grow through the optimiser
steps. CI runs on one machine, so a test that compared bytes with a file written on another machine
would pass there and fail on a user's CPU. The checks whose outcome depends on the kernel set
therefore run twice in ``make test``:

* ``own``: this process's kernel set, whatever this machine (and the environment) selects;
* ``default``: torch's portable kernels, ``ATEN_CPU_CAPABILITY=default``, with oneDNN capped at
  SSE4.1 (``ONEDNN_MAX_CPU_ISA=SSE41``): a stand-in for another CPU on the same machine.

A test that only holds on the machine that wrote a file then fails in CI, not on a user's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

KERNEL_SETS = {"own": {}, "default": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"}}


def kernel_set_env(kernel_set: str) -> dict[str, str]:
    """The environment of a child process that runs under ``kernel_set``."""
    return {**os.environ, **KERNEL_SETS[kernel_set]}


def call_side_by_side(kernel_sets, target: str, *args, timeout: float = 900) -> dict:
    """``module:function(*args)`` under each of ``kernel_sets`` at once, one child process each
    (``own`` too), so that a check of two kernel sets takes the wall time of one on two cores.
    Returns {kernel set: result}."""
    module, func = target.split(":")
    code = (f"import json, sys; from {module} import {func} as f; "
            f"print(json.dumps(f(*json.loads(sys.argv[1]))))")
    procs = {k: subprocess.Popen([sys.executable, "-c", code, json.dumps(args)], cwd=REPO, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=kernel_set_env(k))
             for k in kernel_sets}
    out = {}
    try:
        for k, p in procs.items():
            stdout, stderr = p.communicate(timeout=timeout)
            assert p.returncode == 0, f"{target} under the {k} kernel set failed:\n{stderr[-3000:]}"
            out[k] = json.loads(stdout.strip().splitlines()[-1])
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    return out


def call(kernel_set: str, target: str, *args, timeout: float = 900):
    """``module:function(*args)`` under ``kernel_set``: in this process for ``own``, else in a child
    process with that set's environment. Arguments and the result travel as JSON."""
    if kernel_set == "own":
        import importlib

        module, func = target.split(":")
        return json.loads(json.dumps(getattr(importlib.import_module(module), func)(*args)))
    return call_side_by_side([kernel_set], target, *args, timeout=timeout)[kernel_set]
