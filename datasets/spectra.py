"""Per-stage mean spectra of one channel, their distance, and a comparison figure.

Used to calibrate and check the surrogate signals (:mod:`sleepbench.datasets.surrogate_signals`) against a
real Sleep-EDF night: for each sleep stage, the mean over epochs of the log10 Welch PSD.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import welch

#: Stage names of codes 0..4 (AASM), in plotting order.
STAGES = ("W", "N1", "N2", "N3", "REM")


def stage_mean_spectra(x: np.ndarray, y: np.ndarray, sfreq: float, fmin: float = 0.5,
                       fmax: float = 30.0, nperseg: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Mean log10 Welch PSD per sleep stage.

    Parameters
    ----------
    x : np.ndarray
        [n_epochs, n_samples] one channel, µV.
    y : np.ndarray
        [n_epochs] stage codes; 0..4 (W, N1, N2, N3, REM) are used, others ignored.
    sfreq : float
        Sampling rate (Hz).
    fmin, fmax : float
        Frequency band kept (inclusive).
    nperseg : int
        Welch segment length (Hann window, 50 % overlap).

    Returns
    -------
    freqs : np.ndarray
        Frequencies (Hz) in ``[fmin, fmax]``.
    spectra : dict[str, np.ndarray]
        ``{stage name: mean log10 PSD (µV²/Hz)}`` for the stages present.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError("x must be [n_epochs, n_samples] with one label per epoch")
    freqs, psd = welch(x, fs=sfreq, nperseg=min(nperseg, x.shape[1]), axis=-1)
    keep = (freqs >= fmin) & (freqs <= fmax)
    logp = np.log10(np.maximum(psd[:, keep], 1e-12))  # flat (clipped) epochs must not give -inf
    spectra = {name: logp[y == code].mean(0) for code, name in enumerate(STAGES) if np.any(y == code)}
    return freqs[keep], spectra


def spectral_distance(a: dict, b: dict) -> dict[str, float]:
    """Per-stage mean absolute difference of two spectra dicts (decades), for stages in both."""
    return {k: float(np.mean(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a if k in b}


def plot_stage_spectra(freqs, real: dict, surrogate: dict, path, title: str,
                       real_label: str = "SC4001E0 (real)", surrogate_label: str = "surrogate") -> None:
    """One panel per stage with both mean log-PSD curves; the distance is in each panel's title.

    Writes a PNG at ``path`` (matplotlib Agg backend, no display needed).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in STAGES if s in real or s in surrogate]
    dist = spectral_distance(real, surrogate)
    fig, axes = plt.subplots(1, max(len(stages), 1), figsize=(3.2 * max(len(stages), 1), 3.2),
                             sharey=True, squeeze=False)
    for ax, stage in zip(axes[0], stages):
        if stage in real:
            ax.plot(freqs, real[stage], color="k", lw=1.5, label=real_label)
        if stage in surrogate:
            ax.plot(freqs, surrogate[stage], color="tab:orange", lw=1.2, label=surrogate_label)
        ax.set_title(f"{stage}" + (f"  (|Δ| = {dist[stage]:.2f} dec)" if stage in dist else ""),
                     fontsize=9)
        ax.set_xlabel("Hz")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean log10 PSD (µV²/Hz)")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
