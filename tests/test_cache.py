"""Prepared recordings are cached by source checksum and config, and read back identically."""

from __future__ import annotations

import numpy as np
import pytest

import sleepbench.datasets.sleep_edf as sleep_edf
from sleepbench.datasets.sleep_edf import SleepEDF


def test_second_prepare_reads_the_cache(small_surrogate, tmp_path, monkeypatch):
    first = {r.name: r for r in SleepEDF(small_surrogate, cache_dir=tmp_path)}
    assert len(first) == 6

    def no_reading(*a, **k):
        raise AssertionError("read_recording called although the cache holds the recording")

    monkeypatch.setattr(sleep_edf, "read_recording", no_reading)
    second = {r.name: r for r in SleepEDF(small_surrogate, cache_dir=tmp_path)}
    assert second.keys() == first.keys()
    for name, rec in first.items():
        assert np.array_equal(rec.x, second[name].x) and rec.x.dtype == np.float32
        assert np.array_equal(rec.y, second[name].y)
        assert np.array_equal(rec.onsets, second[name].onsets)


def test_config_change_gives_a_new_cache_entry(small_surrogate, tmp_path):
    a = SleepEDF(small_surrogate, cache_dir=tmp_path, subjects=[0])
    b = SleepEDF(small_surrogate, cache_dir=tmp_path, subjects=[0], wake_margin_min=0)
    a.prepare(progress=False)
    b.prepare(progress=False)
    assert len(list((tmp_path / "prepared").glob("*.npz"))) == 4
    ra, rb = a.load("SC4001E0"), b.load("SC4001E0")
    assert len(rb.y) >= len(ra.y)


def test_parallel_prepare_equals_serial(small_surrogate, tmp_path):
    serial = {r.name: r for r in SleepEDF(small_surrogate, cache_dir=tmp_path / "a")}
    parallel = {r.name: r for r in SleepEDF(small_surrogate, cache_dir=tmp_path / "b", n_jobs=2)}
    for name in serial:
        assert np.array_equal(serial[name].x, parallel[name].x)


def test_a_bad_recording_does_not_sink_the_others(small_surrogate, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_surrogate, data)
    victim = data / "sleep-cassette" / "SC4011E0-PSG.edf"
    victim.write_bytes(b"this is not an EDF file")
    ds = SleepEDF(data, cache_dir=tmp_path / "cache", verify=False)
    failed = ds.prepare(progress=False)
    assert failed == ["SC4011E0"] and "SC4011E0-PSG.edf" in ds.failed["SC4011E0"]
    assert len(list(ds)) == 5
    with pytest.raises(sleep_edf.RecordingError, match="SC4011E0-PSG.edf"):
        ds.load("SC4011E0")
