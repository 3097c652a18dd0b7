"""Hypnogram start offsets: labels follow the hypnogram's own start, on an offset copy of the real one.

Sleep-EDF hypnograms may start a few seconds after (or before) their PSG; annotation onsets count
from the hypnogram's start, so they must be shifted by (hypnogram start - PSG start) onto the PSG's
clock. Checked against the unshifted real night: every label must land on the epoch it scored.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest

from sleepbench.datasets.sleep_edf import PrepConfig, RecordingError, read_recording

from .conftest import REAL_HYP, REAL_PSG

CONFIG = PrepConfig(channels=("EEG Fpz-Cz",), sfreq=100.0)


@pytest.fixture(scope="module")
def original():
    if not REAL_PSG.is_file() or not REAL_HYP.is_file():
        pytest.skip(f"real night SC4001E0 not found ({REAL_PSG}, {REAL_HYP}): the offset test needs "
                    "its hypnogram (set SLEEPBENCH_REAL_DATA or put ../shared/data/sleep-edf beside "
                    "the checkout)")
    return read_recording(REAL_PSG, REAL_HYP, CONFIG)


def offset_copy(tmp_path: Path, seconds: int) -> Path:
    """The real hypnogram, annotations untouched, with a header start ``seconds`` later."""
    import edfio

    ref = edfio.read_edf(REAL_HYP)
    start = datetime.datetime.combine(ref.startdate, ref.starttime) + datetime.timedelta(seconds=seconds)
    path = tmp_path / f"SC4001EC-offset{seconds:+d}-Hypnogram.edf"
    assert start.date() == ref.startdate  # the night starts in the afternoon: no date change
    edfio.Edf([], patient=ref.patient, recording=ref.recording, starttime=start.time(),
              annotations=list(ref.annotations)).write(path)
    return path


@pytest.mark.parametrize("shift", [15, 30, -15])
def test_labels_follow_the_hypnogram_start(original, tmp_path, shift):
    x0, y0, t0, _ = original
    x1, y1, t1, _ = read_recording(REAL_PSG, offset_copy(tmp_path, shift), CONFIG)
    # the grid follows the hypnogram's own epochs, on the PSG's clock
    assert np.allclose((t1 - shift) % 30, 0)
    label_at = dict(zip(np.rint(t0).astype(int), y0))
    matched = [(label_at[int(round(t - shift))], y) for t, y in zip(t1, y1) if int(round(t - shift)) in label_at]
    assert len(matched) >= 0.95 * len(y1)
    assert all(a == b for a, b in matched)  # each label is the stage scored for that epoch
    # and the signal under each label is the PSG at the shifted onset
    index0 = {int(round(t)): i for i, t in enumerate(t0)}
    half = 1500  # 15 s at 100 Hz
    checked = 0
    for i, t in enumerate(t1[:200]):
        if shift % 30 == 0:
            j = index0.get(int(round(t)))
            if j is not None:
                assert np.array_equal(x1[i], x0[j])
                checked += 1
        else:
            a, b = index0.get(int(round(t)) - 15), index0.get(int(round(t)) + 15)
            if a is not None and b is not None:
                assert np.array_equal(x1[i][:, :half], x0[a][:, half:])
                assert np.array_equal(x1[i][:, half:], x0[b][:, :half])
                checked += 1
    assert checked > 100


def test_offsets_beyond_a_minute_are_still_refused(original, tmp_path):
    with pytest.raises(RecordingError, match="another recording"):
        read_recording(REAL_PSG, offset_copy(tmp_path, 90), CONFIG)
