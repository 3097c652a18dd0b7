"""Spectral features of each epoch and its neighbours, classified by gradient-boosted trees."""

from __future__ import annotations

import copy
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import log_loss
from sklearn.utils.class_weight import compute_sample_weight

from sleepbench.benchmark.epochs import N_CLASSES, EpochSet
from sleepbench.benchmark.registry import Entry, register

from ._spectral_features import add_context, epoch_features, feature_names, recording_zscore

#: quantisation levels per feature (HistGradientBoosting's own maximum is 255 bins + missing)
N_BINS = 255


def quantile_edges(feats: np.ndarray, n_bins: int = N_BINS) -> list[np.ndarray]:
    """Per-column bin edges at the training set's (unweighted) quantiles."""
    q = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = np.quantile(feats.astype(np.float64), q, axis=0, method="averaged_inverted_cdf") if len(feats) else None
    return [np.unique(edges[:, j]) if edges is not None else np.empty(0) for j in range(feats.shape[1])]


def quantise(edges: list[np.ndarray], feats: np.ndarray) -> np.ndarray:
    """Replace each value by its bin index (float32; NaN stays NaN).

    Why: ``HistGradientBoostingClassifier`` bins features itself, but with sample weights
    (``class_weight='balanced'``) scikit-learn 1.9 computes 254 weighted percentiles per feature
    in Python, which takes minutes on this feature matrix; pre-quantised columns have at most 255
    distinct values, so its binning keeps them as they are, and the trees' splits are unchanged.
    """
    out = np.empty(feats.shape, np.float32)
    for j, e in enumerate(edges):
        col = feats[:, j]
        out[:, j] = np.searchsorted(e, col, side="left")
        out[np.isnan(col), j] = np.nan
    return out


@register("bandpower-gbm")
class BandpowerGBM(Entry):
    """Welch band powers + spectral/Hjorth/amplitude features (±2 epochs context) -> HistGradientBoosting.

    Features (see :mod:`sleepbench.baselines._spectral_features`): per channel, relative log band powers
    (δ, θ, α, σ, β, slow δ), total log power, log band ratios, spectral edge frequency 95 %,
    spectral entropy, Hjorth mobility/complexity, log std, kurtosis, skewness and zero-crossing
    rate (20 per channel). With ``recording_norm`` (default) the same features z-scored within
    their recording (median/IQR) are appended: this removes between-night amplitude/impedance
    offsets and uses only the unlabeled signals of the recording being scored (as YASA does).
    Features are quantised into 255 levels at the training quantiles (the trees bin them anyway;
    see :func:`quantise` for why it is done here). Then the features of the ``context`` epochs
    before and after each epoch are appended, looked up by epoch time within the recording (NaN =
    missing at recording edges and at gaps of dropped epochs, handled natively by the trees):
    200 columns for one channel with the defaults.

    Classifier: scikit-learn ``HistGradientBoostingClassifier`` (seeded). Training runs in chunks of
    ``eval_every`` iterations (``warm_start``); after each chunk the validation log-loss (weighted
    like the training loss) is computed and the best model is kept; training stops after
    ``patience`` chunks without improvement or at ``max_iter``. Without a validation set it runs
    exactly ``max_iter`` iterations. scikit-learn's own early stopping is not used, because it
    would hold out random epochs of the training subjects rather than the validation subjects.

    Threads: the trees use ``n_threads`` OpenMP threads (default 1; None = all cores). On a
    2-core machine shared with other work (parallel benchmark workers, torch), OpenMP's
    spin-waiting made 2 threads 4-35x slower than 1 whenever the other core was busy, and at most
    ~1.5x faster when it was idle.
    """

    def __init__(self, context: int = 2, recording_norm: bool = True, max_iter: int = 300,
                 learning_rate: float = 0.1, max_leaf_nodes: int = 31, min_samples_leaf: int = 40,
                 l2_regularization: float = 1.0, class_weight: str | None = "balanced",
                 eval_every: int = 20, patience: int = 3, n_threads: int | None = 1, seed: int = 0):
        self.context = context
        self.recording_norm = recording_norm
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.eval_every = eval_every
        self.patience = patience
        self.n_threads = n_threads
        self.seed = seed

    # -- features ---------------------------------------------------------------------------------
    def base_features(self, data: EpochSet) -> np.ndarray:
        """Per-epoch features [n_epochs, n_base] (no context, not quantised)."""
        f = epoch_features(data.x, data.sfreq)
        if self.recording_norm:
            f = np.concatenate([f, recording_zscore(f, data.offsets)], axis=1)
        return f

    def features(self, data: EpochSet) -> np.ndarray:
        """Model input [n_epochs, n_features]: quantised base features plus their context copies."""
        return add_context(quantise(self.bin_edges_, self.base_features(data)), data.offsets,
                           data.epoch, self.context)

    def feature_names(self, channels) -> list[str]:
        base = feature_names(channels)
        if self.recording_norm:
            base = base + [f"{n}:z" for n in base]
        names = list(base)
        for k in [k for k in range(-self.context, self.context + 1) if k != 0]:
            names += [f"{n}@{k:+d}" for n in base]
        return names

    # -- fit / predict ----------------------------------------------------------------------------
    def _weights(self, y: np.ndarray) -> np.ndarray | None:
        if self.class_weight is None:
            return None
        if self.class_weight != "balanced":
            raise ValueError(f"class_weight must be 'balanced' or None, not {self.class_weight!r}")
        return compute_sample_weight("balanced", y)

    def _threads(self):
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.n_threads, user_api="openmp")

    def fit(self, train: EpochSet, valid: EpochSet):
        with self._threads():
            return self._fit(train, valid)

    def _fit(self, train: EpochSet, valid: EpochSet):
        if len(train) == 0:
            raise ValueError("bandpower-gbm: empty training set")
        t0 = time.perf_counter()
        base = self.base_features(train)
        self.bin_edges_ = quantile_edges(base, N_BINS)
        xtr, ytr = add_context(quantise(self.bin_edges_, base), train.offsets, train.epoch,
                               self.context), train.y
        wtr = self._weights(ytr)
        has_valid = valid is not None and len(valid) > 0
        if has_valid:
            xva, yva = self.features(valid), valid.y
            wva = self._weights(yva)
        self.classes_ = np.unique(ytr)
        clf = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=self.max_iter if not has_valid else self.eval_every,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, early_stopping=False,
            random_state=self.seed, warm_start=has_valid)
        self.history_ = []
        if not has_valid:
            clf.fit(xtr, ytr, sample_weight=wtr)
            self.model_ = clf
        else:
            best, best_loss, stale = None, np.inf, 0
            n_iter = self.eval_every
            while True:
                clf.set_params(max_iter=min(n_iter, self.max_iter))
                clf.fit(xtr, ytr, sample_weight=wtr)
                p = self._expand(clf.predict_proba(xva), clf.classes_)
                loss = log_loss(yva, p, labels=range(N_CLASSES), sample_weight=wva)
                self.history_.append({"n_iter": int(clf.n_iter_), "val_log_loss": float(loss)})
                if loss < best_loss - 1e-6:
                    best, best_loss, stale = copy.deepcopy(clf), loss, 0
                else:
                    stale += 1
                if stale >= self.patience or n_iter >= self.max_iter:
                    break
                n_iter += self.eval_every
            self.model_ = best
        self.n_iter_ = int(self.model_.n_iter_)
        self.n_features_ = int(xtr.shape[1])
        self.fit_seconds_ = time.perf_counter() - t0
        return self

    @staticmethod
    def _expand(p: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Probabilities over the classes seen in training -> all 5 classes (absent ones get 0)."""
        out = np.zeros((len(p), N_CLASSES), dtype=np.float64)
        out[:, np.asarray(classes, dtype=int)] = p
        return out

    def predict_proba(self, data: EpochSet) -> np.ndarray:
        if len(data) == 0:
            return np.zeros((0, N_CLASSES))
        with self._threads():
            p = self._expand(self.model_.predict_proba(self.features(data)), self.model_.classes_)
        return p / p.sum(axis=1, keepdims=True)

    def n_params(self) -> int | None:
        """Number of tree nodes (split thresholds and leaf values) of the kept model."""
        model = getattr(self, "model_", None)
        if model is None:
            return None
        try:  # scikit-learn keeps the trees in a private attribute
            return int(sum(len(pred.nodes) for stage in model._predictors for pred in stage))
        except AttributeError:
            return None
