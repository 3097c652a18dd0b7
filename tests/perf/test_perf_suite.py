"""Wall time of the quick suite (``make bench``): every entry of benchmark/suites/quick.yaml on the
quick protocol, two workers, as `make quick` runs it. The surrogate data and pre-trained FINs come
from the user cache when present (as on any second run); the target is <= 15 min on 2 cores."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import REPO


def test_quick_suite_wall_time(benchmark, tmp_path):
    cmd = [sys.executable, "-m", "sleepbench", "run", "--suite", "quick", "--workers", "2",
           "--results", str(tmp_path)]
    out = benchmark.pedantic(lambda: subprocess.run(cmd, cwd=REPO, capture_output=True, text=True),
                             rounds=1, iterations=1)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    benchmark.extra_info["summary"] = out.stdout.strip().splitlines()[0]
    benchmark.extra_info["records"] = len(list(tmp_path.glob("runs/quick/*/seed-*/fold-*.json")))
