"""Toy entries for harness tests, loaded as a plugin file (``SLEEPBENCH_PLUGINS``); the
``tests`` package does not import this module, so the entries exist only where a test asks."""

import time

import numpy as np

from sleepbench.benchmark.registry import Entry, register


@register("toy-prior")
class ToyPrior(Entry):
    """Training class prior times seeded noise (a harness test entry)."""

    def __init__(self, seed=0, sleep_s=0.0):
        self.seed = seed
        self.sleep_s = sleep_s

    def fit(self, train, valid):
        time.sleep(self.sleep_s)
        self.prior_ = np.bincount(train.y, minlength=5) + 1.0
        return self

    def predict_proba(self, data):
        p = self.prior_ * np.random.default_rng(self.seed).random((len(data), 5))
        return p / p.sum(1, keepdims=True)


@register("toy-broken")
class ToyBroken(Entry):
    """Fails on the fold whose test set holds subject 0."""

    def fit(self, train, valid):
        return self

    def predict_proba(self, data):
        if 0 in set(data.subject.tolist()):
            raise RuntimeError("toy failure")
        return np.full((len(data), 5), 0.2)
