"""A worked classic entry: relative EEG band powers and a multinomial logistic regression.

Load it as a plugin (nothing in the repository imports it)::

    SLEEPBENCH_PLUGINS=examples/bandpower_logreg.py sleepbench run --protocol quick --models example-bandpower-logreg

A classic entry implements ``fit(train, valid)`` and ``predict_proba(data)``; everything it
learns is stored in attributes ending in ``_`` and exists only after ``fit``.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import welch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sleepbench import N_CLASSES, Entry, register
from sleepbench.benchmark.reporting.bibliography import BIBTEX

#: AASM-style EEG bands (Hz): delta, theta, alpha, sigma (spindles), beta.
BANDS = ((0.5, 4.0), (4.0, 8.0), (8.0, 12.0), (12.0, 16.0), (16.0, 30.0))


def band_features(x: np.ndarray, sfreq: float, bands=BANDS) -> np.ndarray:
    """Per channel: log10 relative band powers and log10 total power (0.5-30 Hz).

    ``x``: [n_epochs, n_channels, n_samples] in µV (raw). Welch periodogram with 4-s Hann windows
    (``scipy.signal.welch``); relative powers make the features independent of the amplifier's
    gain, the total power keeps the amplitude that separates N3 from N2.
    Returns [n_epochs, n_channels * (len(bands) + 1)].
    """
    freqs, psd = welch(x, fs=sfreq, nperseg=int(4 * sfreq), axis=-1)
    inband = (freqs >= bands[0][0]) & (freqs < bands[-1][1])
    total = psd[..., inband].sum(-1)
    rel = np.stack([psd[..., (freqs >= lo) & (freqs < hi)].sum(-1) for lo, hi in bands], -1)
    rel = rel / np.maximum(total[..., None], 1e-12)
    feats = np.concatenate([np.log10(rel + 1e-12), np.log10(total[..., None] + 1e-12)], -1)
    return feats.reshape(len(x), -1)


@register("example-bandpower-logreg")
class BandpowerLogReg(Entry):
    """Relative band powers + logistic regression (worked example of a classic entry).

    Parameters
    ----------
    C : float
        Inverse L2 regularisation strength of ``sklearn.linear_model.LogisticRegression``.
    class_weight : str or None
        ``"balanced"`` weighs classes by inverse frequency (N1 is rare), None does not.
    seed : int
        ``random_state`` of the solver (it is deterministic anyway; kept for the interface).
    """

    #: how tables, figures and the paper export name this entry, and what they cite for it
    #: (key -> BibTeX; ``sleepbench cite`` prints it, the LaTeX tables \cite it)
    display_name = "Band power + logistic regression"
    cite = {"pedregosa2011sklearn": BIBTEX["pedregosa2011sklearn"]}

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced", seed: int = 0):
        self.C = C
        self.class_weight = class_weight
        self.seed = seed

    def fit(self, train, valid=None):
        """Fit on ``train`` (an EpochSet: ``.x`` µV [n, channels, samples], ``.y`` 0..4, ``.sfreq``).

        ``valid`` is not used: there is nothing to early-stop or select here.
        """
        self.sfreq_ = float(train.sfreq)
        self.channels_ = tuple(train.channels)
        self.model_ = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=1000,
                               random_state=self.seed))
        self.model_.fit(band_features(train.x, self.sfreq_), train.y)
        return self

    def predict_proba(self, data) -> np.ndarray:
        """[n_epochs, 5] probabilities; a stage absent from training gets probability 0."""
        if tuple(data.channels) != self.channels_ or float(data.sfreq) != self.sfreq_:
            raise ValueError(f"{self.name}: fitted on {self.channels_} at {self.sfreq_} Hz, "
                             f"asked to predict {tuple(data.channels)} at {data.sfreq} Hz")
        p = self.model_.predict_proba(band_features(data.x, self.sfreq_))
        out = np.zeros((len(data), N_CLASSES))
        out[:, self.model_.classes_] = p
        return out

    def n_params(self) -> int | None:
        """Learned numbers: the logistic regression's weights and intercepts (scaler excluded)."""
        lr = getattr(self, "model_", None)
        if lr is None:
            return None
        clf = lr[-1]
        return int(clf.coef_.size + clf.intercept_.size)
