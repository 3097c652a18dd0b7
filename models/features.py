"""Reference implementations of the two features the FINs imitate (exact, numpy / scipy).

These are the ground truth for pre-training the Feature Imitating Networks (:mod:`sleepbench.models.fin`), for
measuring how well they imitate on real EEG (``sleepbench fin report``), and the exact features of
the ``vivit-oracle`` entry. Both are invariant to the gain and offset of the signal (a FIN sees a
per-epoch standardised signal; the ViViT trunk is the part of the model that sees amplitude).

Reference: Saba-Sadiya S, Alhanai T, Ghassemi MM (2022) Feature Imitating Networks. ICASSP,
pp. 4128-4132 (the FIN idea: small networks pre-trained to compute a closed-form feature).
"""

from __future__ import annotations

import numpy as np
import torch
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


def shannon_entropy_torch(x: torch.Tensor, n_bins: int = ENTROPY_BINS) -> torch.Tensor:
    """:func:`shannon_entropy` in torch, on ``x``'s device (float64): [n, n_samples] -> [n].

    The same estimator and arithmetic (bin index ``floor((x - min) / range * n_bins)``, last bin
    closed, empty bins contribute 0); equal to the numpy version up to the order of the final sum
    (tested to 1e-12). What ``vivit-oracle`` computes on the job's device, with no host round trip.
    """
    x = x.double()
    lo, hi = torch.aminmax(x, dim=1, keepdim=True)
    span = hi - lo
    idx = torch.floor((x - lo) / torch.where(span > 0, span, torch.ones_like(span)) * n_bins)
    idx = idx.long().clamp_(0, n_bins - 1)
    counts = torch.zeros(len(x), n_bins, dtype=torch.float64, device=x.device)
    counts.scatter_add_(1, idx, torch.ones(1, dtype=torch.float64, device=x.device).expand_as(idx))
    p = counts / x.shape[1]
    h = -torch.where(p > 0, p * torch.log2(p.clamp_min(1e-300)), torch.zeros_like(p)).sum(1)
    return torch.where(span[:, 0] > 0, h, torch.zeros_like(h))


def relative_log_band_powers_torch(x: torch.Tensor, sfreq: float = 100.0) -> torch.Tensor:
    """:func:`relative_log_band_powers` in torch, on ``x``'s device (float64): [n, n_samples] ->
    [n, 5].

    Welch as ``scipy.signal.welch`` computes it (periodic Hann segments of 4 s, 50 % overlap, each
    segment's mean removed, periodograms averaged); the density scaling and the one-sided doubling
    cancel in the ratio for bins inside 0.5-30 Hz. Equal to the scipy version to ~1e-9 (tested).
    """
    x = x.double()
    nperseg = min(int(round(WELCH_SECONDS * sfreq)), x.shape[1])
    seg = x.unfold(1, nperseg, nperseg // 2)                         # [n, segments, nperseg]
    seg = seg - seg.mean(-1, keepdim=True)
    window = torch.hann_window(nperseg, periodic=True, dtype=torch.float64, device=x.device)
    psd = torch.fft.rfft(seg * window).abs().square().mean(1)        # [n, freqs]
    freqs = torch.fft.rfftfreq(nperseg, 1.0 / sfreq, dtype=torch.float64, device=x.device)

    def band(lo, hi):
        return psd[:, (freqs >= lo) & (freqs < hi)].sum(1)

    total = band(*TOTAL_BAND)[:, None]
    bands = torch.stack([band(lo, hi) for _, lo, hi in BANDS], dim=1)
    rel = torch.where(total > 0, bands / torch.where(total > 0, total, torch.ones_like(total)),
                      torch.zeros_like(bands))
    return torch.log10(rel.clamp_min(REL_POWER_FLOOR))


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
