"""Synthetic 30-s signals with broad coverage, for pre-training the Feature Imitating Networks.

A FIN must compute its feature on *any* EEG epoch, so the training signals are not sleep-like on
purpose: they span what a recording can contain, and the targets are computed exactly by the
reference implementations (:mod:`sleepbench.models.features`) on the very same samples.

Two families, drawn per signal:

**EEG-like spectra** (probability :data:`P_EEG`): the parametrisation of neural power spectra of
Donoghue et al. (2020, *Nat Neurosci* 23:1655, "FOOOF"): an aperiodic component
``P(f) = 1 / (k + f^chi)`` with a knee (``k = f_knee^chi``) plus Gaussian peaks, with parameter
ranges from the sleep and resting EEG literature rather than from any recording used to check the
FINs:

* aperiodic exponent ``chi`` uniform in [0.8, 4.0]: about 1-2 in wake and REM, up to 3-4 in deep
  NREM sleep (Lendner et al. 2020, *eLife* 9:e55092; Miskovic et al. 2019, *Psychophysiology*
  56:e13420); knee frequency log-uniform in [0.1, 8] Hz in half the signals (Donoghue et al.;
  Gao et al. 2017, *NeuroImage* 158:70), none in the others;
* low-frequency drifts below 0.5 Hz (eye movements, sweating; frontal Fpz-Cz) in 60 % of the
  signals, 0.1-10x the aperiodic power there;
* peaks (height 0.1-1.5 decades above the aperiodic power, FOOOF's range): alpha at 10 +- 1 Hz
  (Klimesch 1999, *Brain Res Rev* 29:169; bandwidth 0.5-2.5 Hz), theta 4-8 Hz, beta 15-30 Hz;
* time-localised events: sleep spindles (11-16 Hz, 0.5-2 s: AASM manual v2.6; De Gennaro &
  Ferrara 2003, *Sleep Med Rev* 7:423), slow waves / K-complexes (0.5-2 Hz, 75-250 µV peak to peak
  in N3: AASM), alpha bursts;
* a white measurement floor 1.5-4 decades below the signal, and some epochs that change spectrum
  half-way (stage transitions);
* RMS log-uniform in 5-150 µV (scalp EEG).

**Broad signals** (the rest), which span what a recording can contain beyond EEG, so that a FIN
also computes its feature on artefacts:

* 1/f^beta background, beta uniform in [0, 3] (white to brown), shaped in the frequency domain;
* 0-3 oscillations at a frequency drawn uniformly in 0.3-35 Hz, each either continuous or in
  Gaussian-windowed bursts of 0.5-4 s (spindle- or alpha-like), amplitude relative to the
  background log-uniform in [0.1, 10];
* large slow waves (0.5-2 Hz) in some signals, sleep-spindle-like sigma bursts in others;
* 1-20 spikes or sharp transients (biphasic, 20-200 ms) of up to 20x the background RMS;
* flat stretches (amplifier saturation, disconnection: 0.5-15 s held at a constant), clipping at a
  random fraction of the peak amplitude, and a few entirely flat or entirely clipped epochs;
* a random DC offset; the overall scale is log-uniform so that the RMS covers 0.5-300 µV (the
  range of real scalp EEG, from disconnected to movement artefact).

Both families get the same artefacts at a lower rate in the EEG-like one (spikes, clipping, flat
stretches), since real epochs contain them too.

Deterministic: signal ``i`` of seed ``s`` is always the same (one ``numpy`` generator per signal,
seeded by ``(s, i)``), whatever the batch it is drawn in.
"""

from __future__ import annotations

import numpy as np


def _pink(rng: np.random.Generator, n: int, beta: float, sfreq: float) -> np.ndarray:
    """Unit-RMS noise with PSD ~ 1/f^beta (flat below 0.1 Hz)."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    spec *= np.maximum(f, 0.1) ** (-beta / 2.0)
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def _burst_envelope(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    env = np.zeros_like(t)
    for _ in range(int(rng.integers(1, 6))):
        centre, width = rng.uniform(0, t[-1]), rng.uniform(0.5, 4.0) / 4.0
        env += np.exp(-0.5 * ((t - centre) / width) ** 2)
    return np.minimum(env, 1.0)


#: Fraction of EEG-like signals (the rest are broad signals).
P_EEG = 0.6


def _shaped_noise(rng: np.random.Generator, n: int, amp: np.ndarray) -> np.ndarray:
    """Gaussian noise whose amplitude spectrum is ``amp`` (on ``np.fft.rfftfreq(n)``), unit RMS."""
    spec = (rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)) * amp
    spec[0] = 0.0
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def _eeg_psd(rng: np.random.Generator, f: np.ndarray) -> np.ndarray:
    """A random EEG-like power spectrum on ``f`` (aperiodic with optional knee, drift, peaks)."""
    chi = rng.uniform(0.8, 4.0)
    fk = np.maximum(f, 0.05)
    knee = np.exp(rng.uniform(np.log(0.1), np.log(8.0))) ** chi if rng.random() < 0.5 else 0.0
    log_p = -np.log10(knee + fk ** chi)
    if rng.random() < 0.6:  # sub-0.5-Hz drifts (eye movements, sweat), relative to the 0.5-Hz level
        level = log_p[np.searchsorted(f, 0.5)] + rng.uniform(-1.0, 1.0)
        log_p = np.logaddexp(log_p * np.log(10), (level - 2.0 * np.log10(np.maximum(fk, 0.1) / 0.5)
                                                  - (fk > 0.6) * 6.0) * np.log(10)) / np.log(10)
    peaks = []
    if rng.random() < 0.5:
        peaks.append((np.clip(rng.normal(10.0, 1.0), 7.5, 13.0), rng.uniform(0.5, 2.5)))
    if rng.random() < 0.35:
        peaks.append((rng.uniform(4.0, 8.0), rng.uniform(0.5, 2.0)))
    if rng.random() < 0.35:
        peaks.append((rng.uniform(11.0, 16.0), rng.uniform(0.5, 1.5)))
    if rng.random() < 0.3:
        peaks.append((rng.uniform(15.0, 30.0), rng.uniform(1.0, 4.0)))
    base = log_p.copy()
    for centre, width in peaks:  # FOOOF: a Gaussian in log10 power above the aperiodic fit
        height = rng.uniform(0.1, 1.5)
        log_p = np.maximum(log_p, base + height * np.exp(-0.5 * ((f - centre) / (width / 2)) ** 2))
    return 10.0 ** (log_p - log_p.max())


def _eeg_signal(rng: np.random.Generator, n_samples: int, sfreq: float) -> np.ndarray:
    """An EEG-like epoch (float64, µV); see the module docstring."""
    t = np.arange(n_samples) / sfreq
    f = np.fft.rfftfreq(n_samples, 1.0 / sfreq)
    x = _shaped_noise(rng, n_samples, np.sqrt(_eeg_psd(rng, f)))
    if rng.random() < 0.2:  # a stage transition: another spectrum from a random point on
        y = _shaped_noise(rng, n_samples, np.sqrt(_eeg_psd(rng, f)))
        c, w = rng.uniform(0.1, 0.9) * t[-1], rng.uniform(0.5, 5.0)
        mix = 1.0 / (1.0 + np.exp(-(t - c) / w))
        x = (1 - mix) * x + mix * y * np.exp(rng.uniform(-1.0, 1.0))
    rms = x.std()
    if rng.random() < 0.3:  # spindles: 11-16 Hz, 0.5-2 s
        for _ in range(int(rng.integers(1, 5))):
            c, d = rng.uniform(0, t[-1]), rng.uniform(0.5, 2.0)
            env = np.exp(-0.5 * ((t - c) / (d / 4)) ** 2)
            x += rms * rng.uniform(0.3, 3.0) * env * np.sin(2 * np.pi * rng.uniform(11, 16) * t
                                                              + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.3:  # slow waves / K-complexes: 0.5-2 Hz, large
        for _ in range(int(rng.integers(1, 12))):
            fr = rng.uniform(0.5, 2.0)
            c = rng.uniform(0, t[-1])
            env = np.exp(-0.5 * ((t - c) * fr / 0.6) ** 2)
            x += rms * rng.uniform(1.0, 6.0) * env * np.sin(2 * np.pi * fr * (t - c) + rng.uniform(-1, 1))
    if rng.random() < 0.15:  # alpha bursts (eyes closed / arousal)
        x += rms * rng.uniform(0.3, 3.0) * _burst_envelope(rng, t) * np.sin(
            2 * np.pi * np.clip(rng.normal(10.0, 1.0), 7.5, 13.0) * t)
    x += rng.standard_normal(n_samples) * x.std() * 10 ** rng.uniform(-2.0, -0.75)  # amplifier floor
    if rng.random() < 0.1:  # a few spikes / movement transients
        for _ in range(int(rng.integers(1, 6))):
            c, w = int(rng.integers(n_samples)), rng.uniform(0.02, 0.2) * sfreq
            k = np.arange(n_samples) - c
            x += x.std() * rng.uniform(-10, 10) * (k / w) * np.exp(-0.5 * (k / w) ** 2)
    x *= np.exp(rng.uniform(np.log(5.0), np.log(150.0))) / (x.std() + 1e-12)
    x += rng.uniform(-20, 20)
    if rng.random() < 0.05:  # clipping at a fraction of the peak
        lim = np.abs(x - np.median(x)).max() * rng.uniform(0.3, 0.9)
        x = np.clip(x, np.median(x) - lim, np.median(x) + lim)
    return x


def synthetic_signal(rng: np.random.Generator, n_samples: int = 3000, sfreq: float = 100.0) -> np.ndarray:
    """One synthetic epoch (float64, µV) drawn with ``rng``: EEG-like with probability
    :data:`P_EEG`, else broad; see the module docstring."""
    if rng.random() < P_EEG:
        return _eeg_signal(rng, n_samples, sfreq)
    return _broad_signal(rng, n_samples, sfreq)


def _broad_signal(rng: np.random.Generator, n_samples: int, sfreq: float) -> np.ndarray:
    """A broad-family epoch (float64, µV); see the module docstring."""
    t = np.arange(n_samples) / sfreq
    x = _pink(rng, n_samples, rng.uniform(0.0, 3.0), sfreq)
    if rng.random() < 0.3:  # a second background with another slope (mixed spectra)
        x += rng.uniform(0.1, 1.0) * _pink(rng, n_samples, rng.uniform(0.0, 3.0), sfreq)
    for _ in range(int(rng.integers(0, 4))):
        f = rng.uniform(0.3, 35.0)
        wave = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        if rng.random() < 0.5:
            wave *= _burst_envelope(rng, t)
        x += np.exp(rng.uniform(np.log(0.1), np.log(10.0))) * wave
    if rng.random() < 0.2:  # slow waves, N3-like
        f = rng.uniform(0.5, 2.0)
        x += rng.uniform(1.0, 6.0) * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) * (
            _burst_envelope(rng, t) if rng.random() < 0.5 else 1.0)
    if rng.random() < 0.2:  # spindles
        x += rng.uniform(0.5, 3.0) * np.sin(2 * np.pi * rng.uniform(11, 16) * t) * _burst_envelope(rng, t)
    if rng.random() < 0.3:  # spikes / sharp transients
        for _ in range(int(rng.integers(1, 21))):
            c, w = int(rng.integers(n_samples)), rng.uniform(0.02, 0.2) * sfreq
            k = np.arange(n_samples) - c
            x += rng.uniform(-20, 20) * (k / w) * np.exp(-0.5 * (k / w) ** 2)
    x *= np.exp(rng.uniform(np.log(0.5), np.log(300.0))) / (x.std() + 1e-12)
    x += rng.uniform(-50, 50)
    u = rng.random()
    if u < 0.02:  # entirely flat
        return np.full(n_samples, rng.uniform(-50, 50))
    if u < 0.15:  # clipped at a fraction of the peak
        lim = np.abs(x - np.median(x)).max() * rng.uniform(0.2, 0.9)
        x = np.clip(x, np.median(x) - lim, np.median(x) + lim)
    if rng.random() < 0.15:  # flat stretches
        for _ in range(int(rng.integers(1, 4))):
            a = int(rng.integers(n_samples))
            x[a:a + int(rng.uniform(0.5, 15.0) * sfreq)] = x[a]
    if rng.random() < 0.3:  # measurement noise
        x += rng.standard_normal(n_samples) * x.std() * rng.uniform(0.01, 0.3)
    return x


def synthetic_signals(n: int, seed: int = 0, start: int = 0, n_samples: int = 3000,
                      sfreq: float = 100.0) -> np.ndarray:
    """Signals ``start .. start + n - 1`` of ``seed``: float32 [n, n_samples] µV."""
    out = np.empty((n, n_samples), dtype=np.float32)
    for j in range(n):
        out[j] = synthetic_signal(np.random.default_rng([seed, start + j]), n_samples, sfreq)
    return out
