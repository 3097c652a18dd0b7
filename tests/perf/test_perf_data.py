"""Data-layer speed and memory (``make bench``): cold prepare vs cache load of the real night,
against a plain read of its bytes; surrogate generation; peak memory of preparing a
sleep-cassette-sized set (153 nights). Figures, not assertions: pytest-benchmark records them in
results/bench.json and ``python -m tests.perf.summary`` checks them against the targets."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from sleepbench.datasets.inventory import read_surrogate_manifest, write_surrogate_manifest
from sleepbench.datasets.sleep_edf import SleepEDF
from sleepbench.datasets.surrogate import SurrogateSpec, generate

from ..conftest import REAL_PSG


def _cold(real_dir):
    cache = tempfile.mkdtemp()
    try:
        ds = SleepEDF(real_dir, subjects=[0], cache_dir=cache)
        return ds.load("SC4001E0")
    finally:
        shutil.rmtree(cache)


def test_prepare_real_night_cold(benchmark, real_dir):
    """EDF -> labelled, trimmed epochs -> cache, including SHA-1 verification."""
    rec = benchmark.pedantic(_cold, args=(real_dir,), rounds=3, iterations=1)
    assert rec.x.shape == (841, 1, 3000)


def test_prepare_real_night_verified(benchmark, real_dir, tmp_path):
    """As cold, with the SHA-1s already known (after ``data fetch`` or any earlier run): reading,
    labelling and writing the cache only."""
    SleepEDF(real_dir, subjects=[0], cache_dir=tmp_path).prepare(progress=False)

    def clear():
        shutil.rmtree(tmp_path / "prepared", ignore_errors=True)

    rec = benchmark.pedantic(lambda: SleepEDF(real_dir, subjects=[0], cache_dir=tmp_path).load("SC4001E0"),
                             setup=clear, rounds=5, iterations=1)
    assert rec.x.shape == (841, 1, 3000)


def test_prepare_real_night_cached(benchmark, real_dir, tmp_path):
    SleepEDF(real_dir, subjects=[0], cache_dir=tmp_path).prepare(progress=False)
    rec = benchmark(lambda: SleepEDF(real_dir, subjects=[0], cache_dir=tmp_path).load("SC4001E0"))
    assert rec.x.shape == (841, 1, 3000)


def test_plain_read_of_the_psg_bytes(benchmark, real_dir):
    """Reference for the EDF -> epochs throughput ratio: reading the same file's bytes."""
    n = benchmark(lambda: len(REAL_PSG.read_bytes()))
    assert n == REAL_PSG.stat().st_size


@pytest.mark.parametrize("hours", [10.0])
def test_surrogate_one_night(benchmark, tmp_path, hours):
    """One 10-h surrogate night (7 signals, EDF + EDF+), the unit of `data surrogate`."""
    spec = SurrogateSpec(subjects=1, nights=1, hours=hours, seed=0)
    manifest = benchmark.pedantic(generate, args=(tmp_path, spec), kwargs={"progress": False},
                                  rounds=2, iterations=1)
    assert len(manifest["records"]) == 1


PREPARE_RSS = """
import re, sys, time
# VmHWM, not ru_maxrss: the latter is inherited from the parent (pytest) across exec
def peak_kb(): return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
from sleepbench.datasets.sleep_edf import SleepEDF
t = time.perf_counter()
ds = SleepEDF(sys.argv[1], cache_dir=sys.argv[2], n_jobs=1)
failed = ds.prepare(progress=False)
assert not failed, failed
print(len(ds.records), time.perf_counter() - t, peak_kb())
"""


@pytest.mark.parametrize("nights", [12, 153])
def test_prepare_memory_is_independent_of_the_number_of_nights(benchmark, tmp_path_factory, nights):
    """Peak RSS of preparing a surrogate set of ``nights`` 10-h nights (153: the sleep-cassette
    study's size) in one process: recordings are streamed to the cache one at a time."""
    import subprocess
    import sys

    from ..conftest import REPO

    data = tmp_path_factory.mktemp(f"nights-{nights}")
    generate(data, SurrogateSpec(subjects=(nights + 1) // 2, nights=2, hours=10.0, seed=1),
             n_jobs=2, progress=False)
    if nights % 2:  # 153 nights: the last subject's second night is left out
        manifest = read_surrogate_manifest(data)
        manifest["records"] = manifest["records"][:nights]
        write_surrogate_manifest(data, manifest)
    cache = tmp_path_factory.mktemp(f"cache-{nights}")

    def prepare():
        out = subprocess.run([sys.executable, "-c", PREPARE_RSS, str(data), str(cache)], cwd=REPO,
                             capture_output=True, text=True, check=True)
        return out.stdout.split()

    n, seconds, rss_kb = benchmark.pedantic(prepare, rounds=1, iterations=1)
    assert int(n) == nights
    benchmark.extra_info.update(nights=nights, peak_rss_mb=int(rss_kb) / 1024,
                                seconds=float(seconds), nights_per_s=nights / float(seconds))
