"""Reference implementations of the two features the FINs imitate (exact, numpy / scipy).

These are the ground truth for pre-training the Feature Imitating Networks (:mod:`models.fin`), for
measuring how well they imitate on real EEG (``sleepbench fin report``), and the exact features of
the ``vivit-oracle`` entry. Both are invariant to the gain and offset of the signal (a FIN sees a
per-epoch standardised signal; the ViViT trunk is the part of the model that sees amplitude).

Reference: Saba SM, Mohammadi M, Rajabi Z et al. (2021) Feature Imitating Networks.
arXiv:2110.04831 (the FIN idea: small networks pre-trained to compute a closed-form feature).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch

#: Relative band powers: (name, low Hz, high Hz); bands are [low, high), the total is 0.5-30 Hz.
BANDS = (("delta", 0.5, 4.0), ("theta", 4.0, 8.0), ("alpha", 8.0, 12.0), ("sigma", 12.0, 16.0),
         ("beta", 16.0, 30.0))
TOTAL_BAND = (0.5, 30.0)
ENTROPY_BINS = 32
WELCH_SECONDS = 4.0
#: Floor of the relative power (a flat or band-free epoch gives log10(1e-6) = -6, not -inf).
REL_POWER_FLOOR = 1e-6


def shannon_entropy(x: np.ndarray, n_bins: int = ENTROPY_BINS) -> np.ndarray:
    """Shannon entropy (bits) of each epoch's amplitude distribution.

    Estimator: the samples of one epoch are put in ``n_bins`` equal-width bins spanning that epoch's
    own range ``[min, max]`` (``numpy.histogram`` semantics: the last bin is closed); with ``p_k``
    the fraction of samples in bin ``k``, ``H = -sum_k p_k log2 p_k`` (empty bins contribute 0). So
    ``0 <= H <= log2(n_bins)`` (5 bits for 32 bins), a constant epoch has ``H = 0``, and ``H`` does
    not change when the signal is scaled or shifted. A Gaussian epoch of 3000 samples gives about
    4.1 bits; spikes or clipping concentrate the mass in few bins and lower it.

    Parameters
    ----------
    x : np.ndarray
        [n_epochs, n_samples] (or [n_samples]) signal, any unit.
    n_bins : int
        Number of histogram bins.

    Returns
    -------
    np.ndarray
        [n_epochs] float64 entropies in bits (a scalar array for 1-D input).
    """
    x = np.asarray(x, dtype=np.float64)
    one = x.ndim == 1
    x = np.atleast_2d(x)
    lo, hi = x.min(1, keepdims=True), x.max(1, keepdims=True)
    span = hi - lo
    flat = span[:, 0] <= 0
    # bin index as numpy.histogram computes it, vectorised over epochs
    idx = np.floor((x - lo) / np.where(span > 0, span, 1.0) * n_bins).astype(np.int64)
    idx = np.clip(idx, 0, n_bins - 1)
    counts = np.zeros((len(x), n_bins))
    np.add.at(counts, (np.repeat(np.arange(len(x)), x.shape[1]), idx.ravel()), 1.0)
    p = counts / x.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log2(p), 0.0).sum(1)
    h[flat] = 0.0
    return h[0] if one else h


def relative_log_band_powers(x: np.ndarray, sfreq: float = 100.0) -> np.ndarray:
    """log10 of the relative power in δ, θ, α, σ, β (:data:`BANDS`) of each epoch.

    Power spectral density by Welch's method (``scipy.signal.welch``: 4-s Hann segments, 50 %
    overlap, mean of periodograms, linear detrend off, constant detrend on); band power = sum of
    the PSD bins with ``low <= f < high`` times the bin width; relative to the sum over
    0.5 <= f < 30 Hz; floored at :data:`REL_POWER_FLOOR` before ``log10``. The band edges follow
    the AASM / YASA convention (``yasa.bandpower``) with σ the spindle band.

    Parameters
    ----------
    x : np.ndarray
        [n_epochs, n_samples] (or [n_samples]) signal, µV.
    sfreq : float
        Sampling rate (Hz).

    Returns
    -------
    np.ndarray
        [n_epochs, 5] float64 log10 relative band powers ([5] for 1-D input).
    """
    x = np.asarray(x, dtype=np.float64)
    one = x.ndim == 1
    x = np.atleast_2d(x)
    nperseg = min(int(round(WELCH_SECONDS * sfreq)), x.shape[1])
    freqs, psd = welch(x, fs=sfreq, nperseg=nperseg, axis=-1)
    total_mask = (freqs >= TOTAL_BAND[0]) & (freqs < TOTAL_BAND[1])
    total = psd[:, total_mask].sum(1)
    bands = np.stack([psd[:, (freqs >= lo) & (freqs < hi)].sum(1) for _, lo, hi in BANDS], axis=1)
    rel = np.divide(bands, total[:, None], out=np.zeros_like(bands), where=total[:, None] > 0)
    out = np.log10(np.maximum(rel, REL_POWER_FLOOR))
    return out[0] if one else out


#: name -> (function, output names) of the imitated features.
FEATURES = {
    "entropy": (shannon_entropy, ("entropy",)),
    "bandpower": (relative_log_band_powers, tuple(name for name, _, _ in BANDS)),
}


def compute_feature(kind: str, x: np.ndarray) -> np.ndarray:
    """The exact feature ``kind`` of epochs ``x`` [n, n_samples] at 100 Hz, as [n, n_outputs]."""
    if kind not in FEATURES:
        raise ValueError(f"unknown feature {kind!r}: choose from {tuple(FEATURES)}")
    out = FEATURES[kind][0](np.atleast_2d(x))
    return np.asarray(out, dtype=np.float64).reshape(len(np.atleast_2d(x)), -1)
