"""The reader on the real night SC4001E0 (skipped when ../shared/data/sleep-edf is absent)."""

from __future__ import annotations

import shutil

import mne
import numpy as np
import pytest

from sleepbench.datasets.inventory import sleep_cassette_records, take_inventory
from sleepbench.datasets.sleep_edf import STAGE_OF_ANNOTATION, STAGES, SleepEDF, read_recording

from .conftest import REAL_HYP, REAL_PSG


@pytest.fixture(scope="module")
def night(real_dir):
    x, y, onsets, n_bad = read_recording(REAL_PSG, REAL_HYP)
    assert n_bad == 0  # no flat or non-finite epoch in the real night
    return x, y, onsets


@pytest.fixture(scope="module")
def untrimmed(real_dir):
    from sleepbench.datasets.sleep_edf import PrepConfig

    return read_recording(REAL_PSG, REAL_HYP, PrepConfig(wake_margin_min=0))[:3]


def stage_at(annot, t):
    """Straightforward reference: the annotation whose interval holds time t."""
    for onset, dur, desc in zip(annot.onset, annot.duration, annot.description):
        if onset <= t < onset + dur:
            return STAGE_OF_ANNOTATION.get(desc, -1)
    return -1


def test_epoch_and_class_counts_after_trimming(night):
    x, y, onsets = night
    # Published count for SC4001E0 with 30-min wake margins (DeepSleepNet preprocessing): 841.
    assert x.shape == (841, 1, 3000) and x.dtype == np.float32
    counts = dict(zip(STAGES, np.bincount(y, minlength=5).tolist()))
    assert counts == {"W": 188, "N1": 58, "N2": 250, "N3": 220, "REM": 125}


def test_every_label_is_the_stage_at_epoch_onset(night, untrimmed):
    annot = mne.read_annotations(REAL_HYP)
    for _, y, onsets in (night, untrimmed):
        expected = np.array([stage_at(annot, t) for t in onsets])
        assert np.array_equal(y, expected)
        assert (y >= 0).all()  # "?" and movement are never a label


def test_scoring_tail_past_signal_is_cut(untrimmed):
    annot = mne.read_annotations(REAL_HYP)
    scored_until = float(np.max(annot.onset + annot.duration))
    signal_sec = 2650 * 30.0  # 2650 data records of 30 s
    assert scored_until == 86400.0 and scored_until > signal_sec
    _, y, onsets = untrimmed
    assert onsets[-1] + 30 <= signal_sec
    # every in-signal epoch scored W..REM is kept: 2650 minus the '?' epochs inside the signal
    n_unknown_inside = sum(stage_at(annot, t) < 0 for t in np.arange(2650) * 30.0)
    assert len(y) == 2650 - n_unknown_inside


def test_wake_trimming_keeps_30_minutes(night, untrimmed):
    _, y_all, t_all = untrimmed
    _, y, t = night
    sleep = t_all[(y_all >= 1)]
    assert t[0] == sleep[0] - 1800 and t[-1] == sleep[-1] + 1800


def test_signal_is_the_edf_samples_in_microvolts(night):
    x, _, onsets = night
    raw = mne.io.read_raw_edf(REAL_PSG, include=["EEG Fpz-Cz"], preload=True, verbose="error")
    data = raw.get_data(units="uV")[0]
    for k in (0, 400, 840):
        s = int(onsets[k] * 100)
        np.testing.assert_allclose(x[k, 0], data[s:s + 3000].astype(np.float32))
    assert 20 < np.std(x) < 100  # µV, not volts


@pytest.mark.slow
def test_channels_and_resampling(real_dir, tmp_path):
    from sleepbench.datasets.sleep_edf import PrepConfig

    x, y, *_ = read_recording(REAL_PSG, REAL_HYP,
                             PrepConfig(channels=("EEG Pz-Oz", "EOG horizontal"), sfreq=50.0))
    assert x.shape == (841, 2, 1500)


def test_sixty_second_edf_records_read_the_same(real_dir, tmp_path):
    """SC4362F0 stores 60-s data records; rewrite the real night that way and compare."""
    import edfio

    src = edfio.read_edf(REAL_PSG)
    eeg = next(s for s in src.signals if s.label == "EEG Fpz-Cz")
    out = edfio.Edf([edfio.EdfSignal(eeg.data, 100, label="EEG Fpz-Cz", physical_dimension="uV",
                                     physical_range=(eeg.physical_min, eeg.physical_max),
                                     digital_range=(eeg.digital_min, eeg.digital_max))],
                    starttime=src.starttime, data_record_duration=60)
    out.write(tmp_path / "SC4362F0-PSG.edf")
    x60, y60, t60, _ = read_recording(tmp_path / "SC4362F0-PSG.edf", REAL_HYP)
    x30, y30, t30, _ = read_recording(REAL_PSG, REAL_HYP)
    assert np.array_equal(y60, y30) and np.array_equal(t60, t30)
    np.testing.assert_allclose(x60, x30, atol=1e-3)


def test_sha1_passes_on_real_files_and_fails_on_one_modified_byte(real_dir, tmp_path):
    rec = next(r for r in sleep_cassette_records() if r.name == "SC4001E0")
    inv = take_inventory(real_dir, [rec])
    assert "SC4001E0" in inv.complete and not inv.corrupt
    shutil.copy(REAL_PSG, tmp_path / REAL_PSG.name)
    shutil.copy(REAL_HYP, tmp_path / REAL_HYP.name)
    with open(tmp_path / REAL_PSG.name, "r+b") as f:
        f.seek(10_000_000)
        b = f.read(1)
        f.seek(10_000_000)
        f.write(bytes([b[0] ^ 0x01]))
    inv = take_inventory(tmp_path, [rec])
    assert not inv.complete
    [(bad, fname, problem)] = inv.corrupt
    assert bad.name == "SC4001E0" and fname.endswith("SC4001E0-PSG.edf") and "SHA-1" in problem
    ds = SleepEDF(tmp_path, cache_dir=tmp_path / "cache")
    assert ds.records == []


def test_dataset_on_shared_folder_skips_hypnogram_only_nights(real_dir, tmp_path):
    ds = SleepEDF(real_dir, subjects=range(20), cache_dir=tmp_path)
    assert [r.name for r in ds.records] == ["SC4001E0"]
    incomplete = {r.name for r, _ in ds.inventory.incomplete}
    assert len(incomplete) == 38 and "SC4002E0" in incomplete
    [rec] = list(ds)
    assert (rec.subject, rec.night, rec.x.shape) == (0, 1, (841, 1, 3000))
    assert ds.source == "sleep-edf-cassette"
