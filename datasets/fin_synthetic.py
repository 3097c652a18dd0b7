"""Synthetic 30-s signals with broad coverage, for pre-training the Feature Imitating Networks.

A FIN must compute its feature on *any* EEG epoch, so the training signals are not sleep-like on
purpose: they span what a recording can contain, and the targets are computed exactly by the
reference implementations (:mod:`models.features`) on the very same samples.

Each signal is a random mix of (every component optional, drawn independently):

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


def synthetic_signal(rng: np.random.Generator, n_samples: int = 3000, sfreq: float = 100.0) -> np.ndarray:
    """One synthetic epoch (float64, µV) drawn with ``rng``; see the module docstring."""
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
