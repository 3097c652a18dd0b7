"""sleepbench.benchmark.metrics: the recorded numbers are scikit-learn's, over the fixed five-class label set."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from sleepbench.benchmark.metrics import epoch_metrics, grouped_metrics, grouped_scores, mean_sd, row_normalised
from sleepbench.datasets.sleep_edf import STAGES


@pytest.fixture
def saved_predictions(tmp_path):
    """A fake record's npz: two subjects x two nights, predictions right ~70% of the time."""
    rng = np.random.default_rng(0)
    n = 400
    y_true = rng.choice(5, size=n, p=[0.2, 0.08, 0.42, 0.13, 0.17])
    y_pred = np.where(rng.random(n) < 0.7, y_true, rng.integers(0, 5, n))
    proba = np.eye(5, dtype=np.float32)[y_pred]
    subject = np.repeat([3, 7], n // 2)
    night = np.tile(np.repeat([1, 2], n // 4), 2)
    recording = np.array([f"SC4{s:02d}{k}E0" for s, k in zip(subject, night)])
    path = tmp_path / "fold-0.npz"
    np.savez_compressed(path, y_true=y_true, y_pred=y_pred, proba=proba, subject=subject, night=night,
                        epoch=np.arange(n) % (n // 4), recording=recording)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_epoch_metrics_equal_sklearn_on_saved_predictions(saved_predictions):
    z = saved_predictions
    m = epoch_metrics(z["y_true"], z["y_pred"])
    assert m["accuracy"] == pytest.approx(accuracy_score(z["y_true"], z["y_pred"]))
    assert m["kappa"] == pytest.approx(cohen_kappa_score(z["y_true"], z["y_pred"]))
    assert m["macro_f1"] == pytest.approx(
        f1_score(z["y_true"], z["y_pred"], average="macro", labels=range(5), zero_division=0))
    per_class = f1_score(z["y_true"], z["y_pred"], average=None, labels=range(5), zero_division=0)
    assert [m["f1"][s] for s in STAGES] == pytest.approx(per_class)
    assert m["confusion"] == confusion_matrix(z["y_true"], z["y_pred"], labels=range(5)).tolist()
    assert m["n"] == len(z["y_true"]) == sum(map(sum, m["confusion"]))
    assert 0.5 < m["accuracy"] < 0.9  # the fixture is neither trivial nor hopeless
    json.dumps(m)  # plain Python types, ready for the record


def test_grouped_metrics_per_subject_and_per_night(saved_predictions):
    z = saved_predictions
    by_subject = grouped_metrics(z["y_true"], z["y_pred"], z["subject"])
    assert list(by_subject) == ["3", "7"]
    for s, m in by_subject.items():
        sel = z["subject"] == int(s)
        assert m["n"] == sel.sum()
        assert m["macro_f1"] == pytest.approx(
            f1_score(z["y_true"][sel], z["y_pred"][sel], average="macro", labels=range(5), zero_division=0))
        assert m["kappa"] == pytest.approx(cohen_kappa_score(z["y_true"][sel], z["y_pred"][sel]))
    by_night = grouped_metrics(z["y_true"], z["y_pred"], z["recording"])
    assert sorted(by_night) == sorted(set(z["recording"].tolist())) and len(by_night) == 4
    assert sum(m["n"] for m in by_night.values()) == len(z["y_true"])


def test_macro_f1_counts_all_five_classes_even_when_absent():
    # Only W and N2 occur: the three absent classes score F1 = 0 and still count in the mean.
    y_true = np.array([0, 0, 2, 2, 2, 2])
    y_pred = np.array([0, 2, 2, 2, 2, 0])
    m = epoch_metrics(y_true, y_pred)
    assert len(m["confusion"]) == 5 and all(len(r) == 5 for r in m["confusion"])
    assert m["f1"]["N1"] == m["f1"]["N3"] == m["f1"]["REM"] == 0.0
    assert m["macro_f1"] == pytest.approx((m["f1"]["W"] + m["f1"]["N2"]) / 5)


def test_undefined_kappa_is_zero_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = epoch_metrics([2, 2, 2], [2, 2, 2])  # expected agreement 1: kappa is 0/0
        other = epoch_metrics([2, 2, 2], [0, 0, 0])
    assert same["kappa"] == 0.0 and isinstance(same["kappa"], float) and same["accuracy"] == 1.0
    assert other["kappa"] == 0.0 and other["accuracy"] == 0.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no epochs"):
        epoch_metrics([], [])
    with pytest.raises(ValueError):
        epoch_metrics([0, 1], [0])


def test_helpers():
    assert mean_sd([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert mean_sd([4.0]) == (4.0, None)
    r = row_normalised([[2, 2, 0, 0, 0], [0] * 5, [0, 0, 3, 0, 1], [0] * 5, [0] * 5])
    assert r[0].tolist()[:2] == [0.5, 0.5] and r[1].sum() == 0 and r[2, 2] == 0.75


def test_grouped_scores_agree_with_grouped_metrics(saved_predictions):
    z = saved_predictions
    full = grouped_metrics(z["y_true"], z["y_pred"], z["subject"])
    light = grouped_scores(z["y_true"], z["y_pred"], z["subject"])
    assert light == {g: {"macro_f1": m["macro_f1"], "kappa": m["kappa"]} for g, m in full.items()}


def test_per_subject_macro_f1_is_over_the_classes_present():
    from sleepbench.benchmark.metrics import present_macro_f1

    # subject 1 has no N1 and no N3; a perfect model must score 1.0 on it, not 0.6
    y_true = np.array([0, 2, 2, 4, 4, 0, 1, 2, 3, 4])
    subject = np.array([1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    perfect = grouped_metrics(y_true, y_true, subject)
    assert perfect["1"]["macro_f1"] == 1.0 and perfect["1"]["classes"] == ["W", "N2", "REM"]
    assert grouped_scores(y_true, y_true, subject)["1"]["macro_f1"] == 1.0
    assert epoch_metrics(y_true[:5], y_true[:5])["macro_f1"] == pytest.approx(3 / 5)  # pooled: 5 classes
    # a class in the truth but never predicted (or predicted but absent) still counts, with F1 = 0
    y_pred = np.array([0, 2, 2, 2, 2])
    expected = f1_score(y_true[:5], y_pred, labels=[0, 2, 4], average="macro", zero_division=0)
    assert present_macro_f1(y_true[:5], y_pred) == pytest.approx(expected)
    assert grouped_metrics(y_true[:5], y_pred, subject[:5])["1"]["macro_f1"] == pytest.approx(expected)
    wrong = np.array([1, 2, 2, 4, 4])  # predicts N1, absent from the truth: N1 joins the average at 0
    assert present_macro_f1(y_true[:5], wrong) == pytest.approx(
        f1_score(y_true[:5], wrong, labels=[0, 1, 2, 4], average="macro", zero_division=0))
    # the pooled score is unchanged
    assert epoch_metrics(y_true, y_true)["macro_f1"] == 1.0
