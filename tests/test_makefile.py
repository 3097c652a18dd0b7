"""Every `make` command the README documents, run for real (Docker through tests/support/fake_docker.py).

Each target runs its own recipe against the installed package; only the entries are cut down
(``MODELS=majority``) and the engine is imitated, so a broken recipe (a wrong path, a flag the CLI
no longer takes, a data-dir a suite cannot use) fails here in seconds. `.ci/run` additionally
builds the real image and runs a suite inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REAL_HYP, REAL_PSG, REPO

FAKE_DOCKER = REPO / "tests" / "support" / "fake_docker.py"
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
              pytest.mark.slow, pytest.mark.subprocess]


def _make(*args, env_extra=None, cwd=REPO, timeout=600) -> subprocess.CompletedProcess:
    """``make`` on the repository's Makefile with the running interpreter's venv as BIN.

    ``-o install``: the venv the tests run in is the one the recipes use (CI's `make test` has
    just installed it), so the targets do not reinstall it mid-test.
    """
    env = {**os.environ, **(env_extra or {})}
    cmd = ["make", "--no-print-directory", "-o", "install", f"BIN={BIN}", *args]
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture()
def docker_env(tmp_path, quick_cache):
    """A fake docker, its invocation log, and folders for the container's three volumes."""
    wrapper = tmp_path / "docker"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKE_DOCKER} \"$@\"\n")
    wrapper.chmod(0o755)
    log = tmp_path / "docker.log"
    return {"docker": str(wrapper), "log": log, "results": tmp_path / "results",
            "data": tmp_path / "data", "cache": quick_cache,
            "env": {"FAKE_DOCKER_LOG": str(log)}}


def _docker_calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def test_make_help_lists_every_documented_target():
    out = _make("help").stdout
    for target in ("quick", "test", "image", "benchmark", "benchmark-local", "real-night", "tables",
                   "bench", "gpu-check", "test-fast", "lint"):
        assert f"make {target} " in out
    for variable in ("MODELS=", "BENCH_TESTS=", "BENCH_BASELINE=", "TORCH_INDEX="):
        assert variable in out


def test_make_image_builds_with_the_dockerfile(docker_env):
    _make("image", f"DOCKER={docker_env['docker']}", env_extra=docker_env["env"])
    (build,) = _docker_calls(docker_env["log"])
    assert build[0] == "build" and "-t" in build and build[-1] == "."
    assert build[build.index("-t") + 1] == "sleepbench:cpu"
    assert any(a.startswith("TORCH_VARIANT=cpu") for a in build)


def test_make_benchmark_quick_in_docker_on_a_fresh_data_dir(docker_env):
    """The README's `make benchmark SUITE=quick`: no Sleep-EDF folder, the quick table comes out."""
    out = _make("benchmark", "SUITE=quick", "MODELS=majority", f"DOCKER={docker_env['docker']}",
                f"RESULTS={docker_env['results']}", f"DATA_DIR={docker_env['data']}",
                f"CACHE_DIR={docker_env['cache']}", env_extra=docker_env["env"])
    calls = _docker_calls(docker_env["log"])
    assert [c[0] for c in calls] == ["build", "run", "run"]  # no fetch for a surrogate suite
    assert "/data" in calls[1] and "--models" in calls[1]
    table = docker_env["results"] / "tables" / "quick.md"
    assert table.is_file()
    assert "majority" in table.read_text()
    assert "majority" in out.stdout  # the table is printed by the container's `tables`
    assert len(list((docker_env["results"] / "runs" / "quick" / "majority").rglob("fold-*.json"))) == 3


def test_make_benchmark_full_fetches_into_an_empty_data_dir(docker_env):
    """Dry run: the full suite on an empty DATA_DIR fetches Sleep-EDF-20 first (no network here)."""
    out = _make("-n", "benchmark", f"DOCKER={docker_env['docker']}",
                f"DATA_DIR={docker_env['data']}").stdout
    assert "data fetch --data-dir /data --subjects 0-19" in out
    assert "run --suite full" in out


def test_make_benchmark_published_is_a_sleep_edf_20_suite(docker_env):
    """Dry run: `make benchmark SUITE=published` fetches Sleep-EDF-20 into an empty DATA_DIR, as full does."""
    out = _make("-n", "benchmark", "SUITE=published", f"DOCKER={docker_env['docker']}",
                f"DATA_DIR={docker_env['data']}").stdout
    assert "data fetch --data-dir /data --subjects 0-19" in out
    assert "run --suite published" in out and "report --results /results --suite published" in out


def test_make_benchmark_local_quick(tmp_path, quick_cache):
    results = tmp_path / "results"
    _make("benchmark-local", "SUITE=quick", "MODELS=majority", f"RESULTS={results}",
          f"DATA_DIR={tmp_path / 'no-such-folder'}",
          env_extra={"SLEEPBENCH_CACHE": str(quick_cache)})
    assert (results / "tables" / "quick.md").is_file()


def test_make_quick(tmp_path, quick_cache):
    results = tmp_path / "results"
    out = _make("quick", "MODELS=majority", f"RESULTS={results}",
                env_extra={"SLEEPBENCH_CACHE": str(quick_cache)})
    assert (results / "tables" / "quick.md").is_file()
    assert "majority" in out.stdout


@pytest.mark.skipif(not (REAL_PSG.is_file() and REAL_HYP.is_file()),
                    reason="real night SC4001E0 not found (../shared/data/sleep-edf)")
def test_make_real_night(tmp_path):
    results = tmp_path / "results"
    _make("real-night", "MODELS=majority", f"RESULTS={results}",
          f"REAL_DIR={REAL_PSG.parent.parent}", env_extra={"SLEEPBENCH_CACHE": str(tmp_path / "c")})
    assert (results / "tables" / "real-night.md").is_file()


def test_make_test_runs_the_test_command():
    """`make test` with a selection: the recipe is pytest in the venv, as the README says."""
    out = _make("test", "PYTEST_ARGS=tests/test_protocols.py -x").stdout
    assert " passed" in out


def test_make_bench_writes_the_json_and_the_summary_with_a_baseline(tmp_path):
    """The README's `make bench` (one benchmark selected, so it takes seconds): bench.json in
    RESULTS, and the summary with the FIN-ViViT targets; with BENCH_BASELINE the train-step ratio."""
    results = tmp_path / "results"
    selected = " ".join(f"tests/perf/test_perf_models.py::{t}[fin-vivit]"
                        for t in ("test_inference_throughput", "test_train_step_throughput"))
    out = _make("bench", f"RESULTS={results}", f"BENCH_TESTS={selected}").stdout
    bench = json.loads((results / "bench.json").read_text())
    assert {b["name"] for b in bench["benchmarks"]} == {"test_inference_throughput[fin-vivit]",
                                                        "test_train_step_throughput[fin-vivit]"}
    assert all(b["extra_info"]["threads"] == 1 for b in bench["benchmarks"])
    assert "fin-vivit inference, epochs/s (1 thread(s))" in out and "(no --baseline)" in out
    out = _make("bench", f"RESULTS={results}", f"BENCH_TESTS={selected}",
                f"BENCH_BASELINE={results / 'bench.json'}").stdout
    line = next(l for l in out.splitlines() if "fin-vivit train step" in l)
    assert "1.00x" in line, line                                     # itself as the baseline


def test_make_gpu_check_runs_its_steps_at_tiny_sizes_without_a_gpu(tmp_path, quick_cache):
    """What a GPU machine runs, smoke-tested here on the CPU (the sizes are the CPU's: vivit only,
    3 steps, K = 1, 2): every step reports, the summary and the JSON are written."""
    out = _make("gpu-check", f"RESULTS={tmp_path}", "DEVICE=cpu",
                env_extra={"SLEEPBENCH_CACHE": str(quick_cache)}).stdout
    report = json.loads((tmp_path / "gpu-check" / "gpu-check.json").read_text())
    assert report["device"]["type"] == "cpu" and report["precisions"] == ["fp32", "bf16"]
    assert report["cuda_tests"]["returncode"] == 0 and report["cuda_tests"]["failed"] == 0
    for p in ("fp32", "bf16"):
        assert report["calibration"][p]["vivit"]["step_ms"] > 0
        assert report["fold"][p][0]["steps"] == 3
        scan = report["workers"][p]["vivit"]
        assert all(scan[k]["steps_per_s"] > 0 and not scan[k]["errors"] for k in ("1", "2"))
        lo, hi = report["projection"][p]["1"]
        assert 0 < lo <= hi
        assert report["more_projections"]["quick"][p]["1"] == [lo, hi]  # published's place on a GPU
    md = (tmp_path / "gpu-check" / "gpu-check.md").read_text()
    assert "tiny sizes, a check of the command, not a measurement" in md and "best --workers" in md
    assert "5a. Projected wall time of suite quick" in md and "5b. Projected wall time of suite quick" in md
    assert "5/5 projection done" in out


def test_make_image_passes_another_torch_index(docker_env):
    """`make image TORCH_VARIANT=cu130 TORCH_INDEX=https://pypi.org/simple` (README, GPU): the
    index reaches the build as the Dockerfile's TORCH_INDEX argument."""
    _make("image", "TORCH_VARIANT=cu130", "TORCH_INDEX=https://pypi.org/simple",
          f"DOCKER={docker_env['docker']}", env_extra=docker_env["env"])
    (build,) = _docker_calls(docker_env["log"])
    assert build[build.index("-t") + 1] == "sleepbench:cu130"
    assert "TORCH_INDEX=https://pypi.org/simple" in build and "TORCH_VARIANT=cu130" in build
