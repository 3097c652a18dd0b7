"""Tests of the rule-based surrogate PSG signals (datasets.surrogate_signals) and datasets.spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d, minimum_filter1d
from scipy.signal import butter, sosfiltfilt, welch

from sleepbench.datasets import surrogate_signals as ss
from sleepbench.datasets.spectra import plot_stage_spectra, spectral_distance, stage_mean_spectra

W, N1, N2, N3, REM, UNK, MOVE = (ss.STAGE_CODES[k] for k in ("W", "N1", "N2", "N3", "REM", "?", "MOVE"))
E = int(ss.EPOCH_SEC * ss.EEG_RATE)
E1 = int(ss.EPOCH_SEC * ss.SLOW_RATE)
SLEEP_EDF = Path(__file__).resolve().parents[1].parent / "shared/data/sleep-edf"

# a night-like sequence with long runs of every stage (and a few unscored / movement epochs)
RUNS = [(W, 20), (N1, 8), (N2, 30), (N3, 30), (N2, 10), (REM, 25), (N1, 4), (N2, 20), (N3, 20),
        (MOVE, 2), (W, 10), (REM, 15), (UNK, 3), (W, 5)]
STAGES = np.concatenate([np.full(n, s) for s, n in RUNS]).astype(np.int64)


@pytest.fixture(scope="module")
def night():
    signals, plan = ss.synthesize_night_with_meta(STAGES, ss.SubjectProfile.reference(),
                                                  np.random.default_rng(0))
    return signals, plan


def epochs(x, rate=ss.EEG_RATE):
    return x.reshape(len(STAGES), int(ss.EPOCH_SEC * rate))


def pure(plan, stage):
    """Epochs of ``stage`` that carry no part of a neighbouring stage."""
    return (STAGES == stage) & (plan.secondary < 0)


def band_power(x, lo, hi, rate=ss.EEG_RATE):
    f, p = welch(x, fs=rate, nperseg=256, axis=-1)
    return p[:, (f >= lo) & (f <= hi)].sum(1)


def slow_wave_fraction(x):
    """Per-epoch fraction of samples within > 75 µV peak-to-peak slow (< 2.5 Hz) activity.

    Low-pass then peak-to-peak over a sliding 1-s window (AASM slow-wave amplitude criterion).
    """
    low = sosfiltfilt(butter(4, 2.5, fs=ss.EEG_RATE, output="sos"), x)
    pp = maximum_filter1d(low, 100) - minimum_filter1d(low, 100)
    return (pp > 75.0).reshape(-1, E).mean(1)


def test_channels_lengths_dtype(night):
    signals, _ = night
    assert set(signals) == set(ss.PHYSICAL_RANGES) == set(ss.FAST_CHANNELS + ss.SLOW_CHANNELS)
    for ch in ss.FAST_CHANNELS:
        assert signals[ch].shape == (len(STAGES) * E,)
    for ch in ss.SLOW_CHANNELS:
        assert signals[ch].shape == (len(STAGES) * E1,)
    assert all(x.dtype == np.float64 for x in signals.values())


def test_values_inside_physical_ranges(night):
    signals, _ = night
    for ch, (lo, hi) in ss.PHYSICAL_RANGES.items():
        x = signals[ch]
        assert np.isfinite(x).all(), ch
        assert x.min() >= lo and x.max() <= hi, ch
    temp = signals["Temp rectal"]
    assert 36.0 < temp.mean() < 37.5 and temp.std() < 0.5


def test_deterministic_and_seed_dependent():
    stages = STAGES[:60]
    prof = ss.SubjectProfile.draw(np.random.default_rng(7))
    a = ss.synthesize_night(stages, prof, np.random.default_rng(3))
    b = ss.synthesize_night(stages, prof, np.random.default_rng(3))
    c = ss.synthesize_night(stages, prof, np.random.default_rng(4))
    for ch in a:
        np.testing.assert_array_equal(a[ch], b[ch])
    for ch in ss.FAST_CHANNELS + ("Resp oro-nasal", "EMG submental", "Temp rectal"):
        assert not np.array_equal(a[ch], c[ch]), ch


def test_profile_draw_ranges_and_determinism():
    profiles = [ss.SubjectProfile.draw(np.random.default_rng(s)) for s in range(50)]
    assert ss.SubjectProfile.draw(np.random.default_rng(1)) == profiles[1]
    for p in profiles:
        assert 0.75 <= p.gain <= 1.3
        assert 8.5 <= p.alpha_peak_hz <= 11.5
        assert 11.5 <= p.spindle_hz <= 15.0
        assert p.noise_uv > 0
    assert len({p.gain for p in profiles}) == 50


def test_wake_has_more_relative_posterior_alpha(night):
    signals, plan = night
    x = epochs(signals["EEG Pz-Oz"])
    rel = band_power(x, 8.0, 12.0) / band_power(x, 0.5, 30.0)
    assert rel[pure(plan, W)].mean() > 1.5 * rel[pure(plan, N2)].mean()
    assert rel[pure(plan, W)].mean() > 1.5 * rel[pure(plan, N3)].mean()


def test_n2_has_more_sigma_than_n1(night):
    signals, plan = night
    # spindles are fronto-central: clear on Fpz-Cz; on Pz-Oz (as in SC4001E0, ratio ~1.5) N1's
    # steeper background and drowsy alpha leave a smaller margin
    for ch, factor in (("EEG Fpz-Cz", 1.5), ("EEG Pz-Oz", 1.1)):
        sigma = band_power(epochs(signals[ch]), 11.0, 16.0)
        assert np.median(sigma[pure(plan, N2)]) > factor * np.median(sigma[pure(plan, N1)]), ch


def test_n3_slow_waves(night):
    signals, plan = night
    x = signals["EEG Fpz-Cz"]
    frac = slow_wave_fraction(x)
    n3 = pure(plan, N3)
    assert (frac[n3] >= 0.2).mean() >= 0.9  # AASM: >= 20 % of the epoch
    assert frac[n3].mean() > 3 * frac[pure(plan, REM)].mean() + 0.1
    delta = band_power(epochs(x), 0.5, 2.0)
    assert np.median(delta[n3]) > 5 * np.median(delta[pure(plan, REM)])


def test_n3_slow_waves_survive_a_low_gain_subject():
    prof = ss.SubjectProfile(gain=0.75, alpha_peak_hz=10.0, spindle_hz=13.0, noise_uv=1.0)
    stages = np.full(40, N3)
    x = ss.synthesize_night(stages, prof, np.random.default_rng(5))["EEG Fpz-Cz"]
    frac = sosfiltfilt(butter(4, 2.5, fs=ss.EEG_RATE, output="sos"), x)
    pp = maximum_filter1d(frac, 100) - minimum_filter1d(frac, 100)
    assert ((pp > 75.0).reshape(-1, E).mean(1) >= 0.2).mean() >= 0.8


def test_rem_eog_has_more_fast_deflections_than_n2(night):
    signals, plan = night
    eog = sosfiltfilt(butter(4, 8.0, fs=ss.EEG_RATE, output="sos"), epochs(signals["EOG horizontal"]))
    fast = np.abs(np.diff(eog, axis=1)) * ss.EEG_RATE > 1000.0  # µV/s
    onsets = (fast[:, 1:] & ~fast[:, :-1]).sum(1)
    assert onsets[pure(plan, REM)].mean() > 1.0
    assert onsets[pure(plan, REM)].mean() > 5 * onsets[pure(plan, N2)].mean()


def test_emg_lowest_in_rem(night):
    signals, plan = night
    emg = epochs(signals["EMG submental"], ss.SLOW_RATE).mean(1)
    assert emg[pure(plan, REM)].mean() < 0.5 * emg[pure(plan, W)].mean()
    assert emg[pure(plan, REM)].mean() < emg[pure(plan, N2)].mean()
    assert emg[STAGES == MOVE].mean() > emg[pure(plan, N2)].mean()


def test_movement_epochs_are_large(night):
    signals, plan = night
    sd = epochs(signals["EEG Pz-Oz"]).std(1)
    assert sd[STAGES == MOVE].min() > 3 * np.median(sd[pure(plan, W)])


def test_transitional_epochs_exist_and_carry_the_neighbour():
    stages = np.tile(np.r_[np.full(4, N3), np.full(4, REM)], 30)
    signals, plan = ss.synthesize_night_with_meta(stages, ss.SubjectProfile.reference(),
                                                  np.random.default_rng(2))
    tr = np.nonzero(plan.secondary >= 0)[0]
    assert 10 <= len(tr) <= 59  # ~40 % of 59 stage changes
    for e in tr:  # the foreign stage is the neighbour's, on the boundary side
        other = e + 1 if plan.at_end[e] else e - 1
        assert plan.secondary[e] == stages[other]
        assert ss.TRANSITION_FRACTION[0] <= plan.fraction[e] <= ss.TRANSITION_FRACTION[1]
    frac = slow_wave_fraction(signals["EEG Fpz-Cz"])
    rem_pure = (stages == REM) & (plan.secondary < 0)
    rem_with_n3 = (stages == REM) & (plan.secondary == N3)
    assert rem_with_n3.sum() >= 3
    assert frac[rem_with_n3].mean() > frac[rem_pure].mean() + 0.05


def test_validation_and_empty_night():
    prof = ss.SubjectProfile.reference()
    with pytest.raises(ValueError):
        ss.synthesize_night(np.array([0, 7]), prof, np.random.default_rng(0))
    with pytest.raises(ValueError):
        ss.synthesize_night(np.array([0.0, 1.0]), prof, np.random.default_rng(0))
    out = ss.synthesize_night(np.zeros(0, dtype=int), prof, np.random.default_rng(0))
    assert set(out) == set(ss.PHYSICAL_RANGES) and all(len(x) == 0 for x in out.values())


def test_spectra_helpers(tmp_path, night):
    signals, _ = night
    x = epochs(signals["EEG Fpz-Cz"])
    freqs, spec = stage_mean_spectra(x, STAGES, ss.EEG_RATE)
    assert freqs[0] >= 0.5 and freqs[-1] <= 30.0
    assert set(spec) == {"W", "N1", "N2", "N3", "REM"}  # '?' and MOVE are not stages here
    assert all(v.shape == freqs.shape for v in spec.values())
    assert spectral_distance(spec, spec) == {k: 0.0 for k in spec}
    shifted = {k: v + 0.5 for k, v in spec.items()}
    assert all(abs(d - 0.5) < 1e-12 for d in spectral_distance(spec, shifted).values())
    png = tmp_path / "spectra.png"
    plot_stage_spectra(freqs, spec, shifted, png, title="test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _real_night():
    psg = SLEEP_EDF / "sleep-cassette" / "SC4001E0-PSG.edf"
    hyp = SLEEP_EDF / "sleep-cassette" / "SC4001EC-Hypnogram.edf"
    if not (psg.exists() and hyp.exists()):
        pytest.skip(f"real night SC4001E0 not found under {SLEEP_EDF} (shared data absent)")
    mne = pytest.importorskip("mne")
    raw = mne.io.read_raw_edf(psg, include=list(ss.FAST_CHANNELS), preload=True, verbose="error")
    codes = {"Sleep stage W": W, "Sleep stage 1": N1, "Sleep stage 2": N2, "Sleep stage 3": N3,
             "Sleep stage 4": N3, "Sleep stage R": REM, "Sleep stage ?": UNK, "Movement time": MOVE}
    n = raw.n_times // E
    y = np.full(n, UNK)
    for onset, dur, desc in zip(*(lambda a: (a.onset, a.duration, a.description))(
            mne.read_annotations(hyp))):
        y[int(round(onset / 30)):min(int(round((onset + dur) / 30)), n)] = codes[desc]
    sleep = np.nonzero((y >= N1) & (y <= REM))[0]
    lo, hi = max(sleep[0] - 60, 0), min(sleep[-1] + 61, n)  # sleep period +- 30 min of wake
    data = raw.get_data(picks=list(ss.FAST_CHANNELS)) * 1e6
    return y[lo:hi], {ch: data[i, lo * E:hi * E].reshape(-1, E) for i, ch in enumerate(ss.FAST_CHANNELS)}


@pytest.mark.slow
def test_spectra_close_to_the_real_night():
    y, real = _real_night()
    sur = ss.synthesize_night(y, ss.SubjectProfile.reference(), np.random.default_rng(0))
    for ch in ss.FAST_CHANNELS:
        _, a = stage_mean_spectra(real[ch], y, ss.EEG_RATE)
        _, b = stage_mean_spectra(sur[ch].reshape(-1, E), y, ss.EEG_RATE)
        dist = spectral_distance(a, b)
        assert set(dist) == {"W", "N1", "N2", "N3", "REM"}
        assert max(dist.values()) < 0.25, (ch, dist)
