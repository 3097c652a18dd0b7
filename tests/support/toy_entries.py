"""Toy entries for harness tests, loaded as a plugin file (``SLEEPBENCH_PLUGINS``); the
``tests`` package does not import this module, so the entries exist only where a test asks."""

import time

import numpy as np

from sleepbench.benchmark.registry import Entry, Reported, register


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


#: The toy's published figures: numbers no measured row of the tests can have, so a test finds
#: where they went (the "reported by the authors" block only).
TOY_REPORTED = {"accuracy": 0.9731, "macro_f1": 0.9642, "kappa": 0.9553}


@register("toy-published")
class ToyPublished(ToyPrior):
    """ToyPrior with its authors' published figures and their paper (the reported block's tests)."""

    display_name = "Toy Published"
    cite = {"doe2024toy": "@article{doe2024toy, author={Doe, Jane}, title={A toy stager}, "
                          "journal={Journal of Toys}, year={2024}}"}
    reported = (Reported(source="Doe 2024, Table 2", cite="doe2024toy", dataset="Sleep-EDF-20 (SC, Fpz-Cz)",
                         **TOY_REPORTED, folds="20-fold subject-wise CV", wake_trimming="30 min before and after sleep",
                         data_version="Sleep-EDF Expanded 2013, SC subjects 0-19", selection="best validation macro-F1",
                         note="figures of a toy"),
                Reported(source="Doe 2024, Table 3", cite="doe2024toy", dataset="Sleep-EDF-78 (SC, Fpz-Cz)",
                         accuracy=0.9, macro_f1=None, kappa=None, folds="10-fold subject-wise CV",
                         wake_trimming="whole recordings", data_version="Sleep-EDF Expanded 2018",
                         selection="last epoch"))
