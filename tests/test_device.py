"""Device handling without a GPU: parsing ``--device``, ``auto`` with CUDA faked absent, jobs spread
over faked GPUs, Dask GPU resources, the device in the record, and the CPU path left unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sleepbench.benchmark import device as dev
from sleepbench.benchmark.device import (
    assign_devices,
    cpu_name,
    current_device,
    device_info,
    parse_device,
    resolve_device,
    to_device,
    use_device,
)
from sleepbench.benchmark.executors import gpu_resources, job_devices


@pytest.mark.parametrize("spec, norm", [("auto", "auto"), ("cpu", "cpu"), ("CUDA", "cuda"),
                                        ("cuda:1", "cuda:1"), (" cpu ", "cpu")])
def test_parse_accepts(spec, norm):
    assert parse_device(spec) == norm


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cpu:0", "auto:1", "mps", ""])
def test_parse_refuses_with_a_line_naming_the_spec(spec):
    with pytest.raises(ValueError, match="expected auto, cpu, cuda or cuda:N"):
        parse_device(spec)


def test_auto_is_cpu_when_cuda_is_absent(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.cuda_count() == 0
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        resolve_device("cuda")


def test_auto_is_cuda_when_a_gpu_is_there():
    assert resolve_device("auto", n_gpus=1) == "cuda"
    assert resolve_device("cuda:1", n_gpus=2) == "cuda:1"
    with pytest.raises(ValueError, match=r"only 2 GPU\(s\) visible"):
        resolve_device("cuda:2", n_gpus=2)


def test_jobs_spread_round_robin_over_faked_gpus():
    assert assign_devices(5, "cuda", n_gpus=2) == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    assert assign_devices(4, "auto", n_gpus=3) == ["cuda:0", "cuda:1", "cuda:2", "cuda:0"]
    assert assign_devices(3, "cuda:1", n_gpus=2) == ["cuda:1"] * 3    # one GPU named: all there
    assert assign_devices(3, "cuda", n_gpus=1) == ["cuda:0"] * 3      # --workers N on one GPU
    assert assign_devices(2, "auto", n_gpus=0) == ["cpu", "cpu"]
    assert assign_devices(2, "cpu", n_gpus=4) == ["cpu", "cpu"]


def test_dask_jobs_resolve_on_their_worker_and_declare_a_gpu():
    # a remote cluster: the client may have no GPU; the worker resolves the spec
    assert job_devices("dask", "cuda", 3, n_gpus=0, address="host:8786") == ["cuda"] * 3
    assert job_devices("dask", "auto", 2, n_gpus=0, address="host:8786") == ["auto"] * 2
    # a local cluster is this machine: resolved here, like the local executor
    assert job_devices("dask", "auto", 3, n_gpus=2) == ["cuda:0", "cuda:1", "cuda:0"]
    assert job_devices("local", "cuda", 2, n_gpus=2) == ["cuda:0", "cuda:1"]
    assert gpu_resources("dask", "cuda") == {"GPU": 1}
    assert gpu_resources("dask", "cuda:0") == {"GPU": 1}
    assert gpu_resources("dask", "auto") is None and gpu_resources("dask", "cpu") is None
    assert gpu_resources("local", "cuda") is None


def test_cpu_path_is_untouched():
    t = torch.arange(6.0)
    assert to_device(t, torch.device("cpu")) is t  # no copy, no pinning: CPU runs are as before
    assert current_device() == torch.device("cpu")
    with use_device("cpu") as d:
        assert d == "cpu" and current_device() == torch.device("cpu")
    assert device_info("cpu") == {"type": "cpu", "name": cpu_name()} and cpu_name()


def test_a_deep_entry_gives_the_same_bytes_inside_and_outside_a_cpu_device_context():
    from sleepbench.benchmark.registry import make_entry
    from tests.support.synthetic import synthetic_set

    train, valid, test = (synthetic_set(n, 40, seed=s) for n, s in ((2, 1), (1, 2), (1, 3)))
    params = {"max_passes": 1, "steps_per_pass": 2, "batch_size": 4, "d_model": 16}
    a = make_entry("vivit", 3, params).fit(train, valid).predict_proba(test)
    with use_device("cpu"):
        entry = make_entry("vivit", 3, params).fit(train, valid)
        assert next(entry.module_.parameters()).device.type == "cpu"
        b = entry.predict_proba(test)
    assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_the_record_carries_the_device(toy_plugin, quick_cache, tmp_path):
    from dataclasses import replace

    from sleepbench.benchmark.runner import list_jobs, run_job

    job = replace(list_jobs("quick", {"toy-prior": {}}, [0], tmp_path, cache_dir=quick_cache)[0],
                  device="auto")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.cuda, "is_available", lambda: False)  # auto -> cpu on any machine
        result = run_job(job)
    assert result.status == "done", result.error
    record = json.loads(open(result.path).read())
    assert record["environment"]["device"] == {"type": "cpu", "name": cpu_name()}


def test_cli_refuses_a_bad_device(capsys, tmp_path):
    from sleepbench.benchmark.cli import main

    assert main(["run", "--protocol", "quick", "--models", "majority", "--device", "gpu",
                 "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--device 'gpu'" in err[-1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cli_says_when_cuda_is_asked_on_a_machine_without_it(capsys, tmp_path):
    from sleepbench.benchmark.cli import main

    assert main(["run", "--protocol", "quick", "--models", "majority", "--device", "cuda",
                 "--results", str(tmp_path), "--cost"]) == 2
    assert "no CUDA GPU is visible" in capsys.readouterr().err


@pytest.mark.skipif(__import__("shutil").which("make") is None, reason="GNU make is not installed")
def test_make_benchmark_on_gpus_passes_the_device_to_docker_run():
    """`make benchmark TORCH_VARIANT=cu128 GPUS=all` (dry run): the cu128 image is built, run with
    --gpus all, and the suite asked for --device cuda (so a CPU-only image fails loudly)."""
    import subprocess

    from tests.conftest import REPO

    def dry(*args):
        out = subprocess.run(["make", "-n", "--no-print-directory", "-o", "install", "benchmark", *args],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.splitlines() if " run --suite " in line]

    gpu = dry("TORCH_VARIANT=cu128", "GPUS=all")
    assert gpu and all("--gpus all" in line and "sleepbench:cu128" in line
                       and line.endswith("--device cuda") for line in gpu)
    cpu = dry()
    assert cpu and all("--gpus" not in line and line.endswith("--device auto") for line in cpu)
    assert dry("DEVICE=cpu", "GPUS=all")[0].endswith("--device cpu")
