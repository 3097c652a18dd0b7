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


def call(kernel_set: str, target: str, *args, timeout: float = 900):
    """``module:function(*args)`` under ``kernel_set``: in this process for ``own``, else in a child
    process with that set's environment. Arguments and the result travel as JSON."""
    module, func = target.split(":")
    if kernel_set == "own":
        import importlib

        return json.loads(json.dumps(getattr(importlib.import_module(module), func)(*args)))
    code = (f"import json, sys; from {module} import {func} as f; "
            f"print(json.dumps(f(*json.loads(sys.argv[1]))))")
    p = subprocess.run([sys.executable, "-c", code, json.dumps(args)], cwd=REPO, capture_output=True,
                       text=True, timeout=timeout, env=kernel_set_env(kernel_set))
    assert p.returncode == 0, f"{target} under the {kernel_set} kernel set failed:\n{p.stderr[-3000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])
