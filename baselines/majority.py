"""The floor every entry must beat: always the most frequent training stage."""

from __future__ import annotations

import numpy as np

from sleepbench.benchmark.epochs import N_CLASSES
from sleepbench.benchmark.registry import Entry, register


@register("majority")
class Majority(Entry):
    """Predicts the most frequent training stage (probabilities = training stage frequencies).

    ``predict_proba`` returns the training class frequencies for every epoch (the best constant
    predictor in log-loss), so its argmax is the majority class (ties: the lowest stage index, the
    same rule as ``np.argmax``). Accuracy, kappa (= 0) and macro-F1 are those of predicting the
    majority class everywhere. The validation set is not used.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train, valid=None):
        if len(train) == 0:
            raise ValueError("majority: empty training set")
        counts = np.bincount(np.asarray(train.y, dtype=np.int64), minlength=N_CLASSES)[:N_CLASSES]
        self.prior_ = counts / counts.sum()
        self.majority_ = int(np.argmax(counts))
        return self

    def predict_proba(self, data) -> np.ndarray:
        return np.tile(self.prior_, (len(data), 1))

    def n_params(self) -> int | None:
        return N_CLASSES
