"""Small synthetic recordings for fast model tests: a sticky stage sequence with stage-dependent
spectra made with numpy (not sleep-like beyond that; the surrogate set is the realistic one)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from sleepbench.benchmark.epochs import EpochSet
from sleepbench.datasets.sleep_edf import Recording

SFREQ = 100.0
N_SAMPLES = 3000

#: relative amplitude of (delta 0.5-2, delta 2-4, theta, alpha, sigma, beta) per stage W..REM
_SHAPES = np.array([
    [0.6, 0.5, 0.5, 2.0, 0.5, 1.2],   # W: alpha, beta
    [0.8, 0.8, 1.6, 0.6, 0.4, 0.6],   # N1: theta
    [1.2, 1.0, 1.2, 0.4, 1.5, 0.4],   # N2: spindles (sigma)
    [4.0, 2.0, 0.8, 0.3, 0.3, 0.2],   # N3: large slow waves
    [0.7, 0.7, 1.3, 0.8, 0.3, 0.9],   # REM: theta, some beta
])
_EDGES = [(0.5, 2), (2, 4), (4, 8), (8, 12), (12, 16), (16, 30)]


def synthetic_recording(n_epochs: int, seed: int, n_channels: int = 1, name: str = "SYN") -> Recording:
    """A night of 30-s epochs at 100 Hz with a sticky stage sequence and stage-dependent spectra."""
    rng = np.random.default_rng(seed)
    y = np.empty(n_epochs, np.int8)
    y[0] = 0
    for i in range(1, n_epochs):
        y[i] = y[i - 1] if rng.random() < 0.85 else rng.integers(5)
    freqs = np.fft.rfftfreq(N_SAMPLES, 1 / SFREQ)
    shape = np.zeros((5, len(freqs)))
    for k, (lo, hi) in enumerate(_EDGES):
        shape[:, (freqs >= lo) & (freqs < hi)] = _SHAPES[:, [k]]
    gain = rng.uniform(0.8, 1.25)  # per-recording amplitude
    x = np.empty((n_epochs, n_channels, N_SAMPLES), np.float32)
    for c in range(n_channels):
        spec = np.fft.rfft(rng.standard_normal((n_epochs, N_SAMPLES)), axis=1) * shape[y]
        x[:, c] = (np.fft.irfft(spec, n=N_SAMPLES, axis=1) * 8.0 * gain).astype(np.float32)
    return Recording(name, seed, 1, x, y, 30.0 * np.arange(n_epochs))


def synthetic_set(n_recordings: int = 3, n_epochs: int = 120, seed: int = 0, n_channels: int = 1) -> EpochSet:
    recs = [synthetic_recording(n_epochs, seed * 100 + i, n_channels, f"SYN{i}") for i in range(n_recordings)]
    channels = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal")[:n_channels]
    return EpochSet(recs, SFREQ, channels)


def macro_f1(y, p) -> float:
    return f1_score(y, p, average="macro", labels=range(5), zero_division=0)
