"""Epoch-level sleep-staging metrics, computed by scikit-learn on the five AASM classes.

Every function scores against the fixed label set 0..4 (W, N1, N2, N3, REM), so a class that is
absent from a night still counts in the macro average (with F1 = 0 when it is neither present nor
predicted, scikit-learn's ``zero_division=0``) and confusion matrices are always 5 x 5. Macro-F1 is
the unweighted mean of the five per-class F1 scores, as in the sleep-staging literature (e.g.
Supratak et al. 2017, DeepSleepNet; Phan et al. 2019, SeqSleepNet).

Per-group scores (one subject, one night) are the exception: their macro-F1 is the mean F1 over
the classes *present* in that group's truth or predictions (:func:`present_macro_f1`). A subject
with no N1 or no REM at all would otherwise be charged F1 = 0 for a class nobody could score, so
a perfect model would score 0.8 on that subject. A class that is in the truth but never predicted
(or predicted but absent) still counts, with F1 = 0. Pooled scores keep the five-class average.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from sleepbench.datasets.sleep_edf import STAGES

#: The label set every metric is computed over (0..4 = W, N1, N2, N3, REM).
LABELS = list(range(len(STAGES)))


def cohen_kappa(y_true, y_pred) -> float:
    """Cohen's kappa (Cohen 1960) over the five classes, via ``sklearn.metrics.cohen_kappa_score``.

    Returns
    -------
    float
        Kappa. When it is undefined (expected agreement 1, e.g. truth and prediction are the same
        single class) the result is ``0.0`` rather than NaN: no agreement *beyond chance* can be
        shown from such data, and a NaN would poison averages and is not valid JSON.
    """
    with warnings.catch_warnings():
        # scikit-learn warns (>=1.7) or divides by zero (older) in the undefined case.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        k = cohen_kappa_score(y_true, y_pred, labels=LABELS)
    return float(k) if np.isfinite(k) else 0.0


def epoch_metrics(y_true, y_pred) -> dict:
    """Accuracy, Cohen's kappa, macro-F1, per-class F1 and the confusion matrix of one set of epochs.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
        True and predicted stages, 0..4.

    Returns
    -------
    dict
        ``{"accuracy", "kappa", "macro_f1", "f1": {stage: F1}, "confusion": 5x5 list of int
        (rows = true, columns = predicted), "n"}``, plain Python types (JSON-ready). Kappa follows
        :func:`cohen_kappa` (0.0 when undefined); F1 of a class neither present nor predicted is 0.

    Raises
    ------
    ValueError
        If there are no epochs (every metric would be undefined).
    """
    y_true = np.asarray(y_true).astype(np.int64, copy=False)
    y_pred = np.asarray(y_pred).astype(np.int64, copy=False)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal-length 1-D arrays")
    if len(y_true) == 0:
        raise ValueError("no epochs to score")
    per_class = f1_score(y_true, y_pred, labels=LABELS, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "kappa": cohen_kappa(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "f1": {s: float(v) for s, v in zip(STAGES, per_class)},
        "confusion": confusion_matrix(y_true, y_pred, labels=LABELS).astype(int).tolist(),
        "n": int(len(y_true)),
    }


def grouped_metrics(y_true, y_pred, groups) -> dict[str, dict]:
    """:func:`epoch_metrics` for each value of ``groups`` (a subject id, a recording name...).

    Returns
    -------
    dict
        ``{str(group): epoch_metrics(...)}``, groups in sorted order, except that each group's
        ``macro_f1`` is :func:`present_macro_f1` (over the classes present in the group's truth or
        predictions; ``"classes"`` lists them); per-class F1 stays over the five classes.
    """
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not len(y_true) == len(y_pred) == len(groups):
        raise ValueError("y_true, y_pred and groups must have the same length")
    out = {}
    for g in np.unique(groups):
        t, p = y_true[groups == g], y_pred[groups == g]
        m = epoch_metrics(t, p)
        m["macro_f1"] = present_macro_f1(t, p)
        m["classes"] = [STAGES[c] for c in present_classes(t, p)]
        out[str(g)] = m
    return out


def macro_f1(y_true, y_pred) -> float:
    """Macro-F1 over the five classes (``sklearn.metrics.f1_score``, ``zero_division=0``)."""
    return float(f1_score(y_true, y_pred, labels=LABELS, average="macro", zero_division=0))


def present_classes(y_true, y_pred) -> list[int]:
    """The classes (0..4) that occur in ``y_true`` or ``y_pred``."""
    return [int(c) for c in np.union1d(np.unique(y_true), np.unique(y_pred))]


def present_macro_f1(y_true, y_pred) -> float:
    """Macro-F1 over the classes present in ``y_true`` or ``y_pred`` (the per-subject score).

    ``sklearn.metrics.f1_score(labels=present, average="macro", zero_division=0)``: a class absent
    from both truth and prediction is left out rather than scored 0 (see the module docstring).
    """
    labels = present_classes(y_true, y_pred)
    if not labels:
        raise ValueError("no epochs to score")
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def grouped_scores(y_true, y_pred, groups) -> dict[str, dict[str, float]]:
    """Macro-F1 (:func:`present_macro_f1`) and kappa per group: the per-subject part of
    :func:`grouped_metrics`, at 2/5 the cost.

    Tables need only these two per subject; scikit-learn's input validation dominates the cost of
    small groups, so skipping the other three metrics matters with 78 subjects x models x seeds.
    """
    y_true, y_pred, groups = np.asarray(y_true), np.asarray(y_pred), np.asarray(groups)
    if not len(y_true) == len(y_pred) == len(groups):
        raise ValueError("y_true, y_pred and groups must have the same length")
    out = {}
    for g in np.unique(groups):
        t, p = y_true[groups == g], y_pred[groups == g]
        out[str(g)] = {"macro_f1": present_macro_f1(t, p), "kappa": cohen_kappa(t, p)}
    return out


def mean_sd(values: Iterable[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1) of ``values``; the sd is None for fewer than 2.

    Used for spreads over seeds and over subjects; ddof=1 because seeds and subjects are samples.
    """
    v = np.asarray(list(values), dtype=float)
    if len(v) == 0:
        return float("nan"), None
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else None)


def row_normalised(confusion) -> np.ndarray:
    """Confusion matrix with each row divided by its total (recall per true class); empty rows stay 0."""
    c = np.asarray(confusion, dtype=float)
    totals = c.sum(axis=1, keepdims=True)
    return np.divide(c, totals, out=np.zeros_like(c), where=totals > 0)
