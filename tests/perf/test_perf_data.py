"""Data-layer speed (``make bench``): cold prepare vs cache load of the real night, surrogate
generation. Figures, not assertions: pytest-benchmark records them in results/bench.json."""

from __future__ import annotations

import shutil
import tempfile

import pytest

from datasets.sleep_edf import SleepEDF
from datasets.surrogate import SurrogateSpec, generate

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
