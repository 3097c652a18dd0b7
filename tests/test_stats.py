"""sleepbench.benchmark.stats: paired model-vs-reference comparison over subjects."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from sleepbench.benchmark.stats import average_over_seeds, exact_sign_flip_p, paired_comparison, rank_biserial


def test_exact_p_all_positive_differences_is_two_in_two_to_the_n():
    # n = 5, every difference positive: only "all +" and "all -" are as extreme -> p = 2/32.
    c = paired_comparison([0.8, 0.7, 0.9, 0.75, 0.85], [0.6, 0.6, 0.6, 0.6, 0.6])
    assert c.n == 5
    assert c.p_exact == pytest.approx(2 / 32)
    assert c.rank_biserial == 1.0
    assert c.mean_diff == pytest.approx(0.2)


def test_exact_p_matches_brute_force_and_scipy_permutation_test():
    rng = np.random.default_rng(3)
    for n in (3, 6, 9):
        x, y = rng.normal(size=n).round(2), rng.normal(size=n).round(2)
        d = x - y
        flips = [abs(sum(s * v for s, v in zip(signs, d))) for signs in itertools.product((1, -1), repeat=n)]
        brute = np.mean(np.array(flips) >= abs(d.sum()) - 1e-12)
        scipy_p = stats.permutation_test((x, y), lambda a, b, axis: np.mean(a - b, axis=axis),
                                         permutation_type="samples", vectorized=True,
                                         n_resamples=np.inf).pvalue
        assert exact_sign_flip_p(x, y) == pytest.approx(brute) == pytest.approx(scipy_p)


def test_exact_p_only_below_twenty_subjects():
    rng = np.random.default_rng(0)
    assert paired_comparison(rng.normal(size=19), rng.normal(size=19)).p_exact is not None
    assert paired_comparison(rng.normal(size=20), rng.normal(size=20)).p_exact is None


def test_wilcoxon_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.6, 0.8, 12)
    y = x - rng.normal(0.02, 0.03, 12)
    c = paired_comparison(x, y)
    assert c.p_wilcoxon == pytest.approx(stats.wilcoxon(x, y).pvalue)
    d = x - y
    assert c.d_z == pytest.approx(d.mean() / d.std(ddof=1))


def test_mappings_are_paired_on_common_subjects():
    model = {"1": 0.70, "2": 0.65, "3": 0.80, "9": 0.10}
    ref = {"1": 0.60, "2": 0.60, "3": 0.70, "5": 0.99}
    c = paired_comparison(model, ref)
    assert c.n == 3 and c.subjects == ("1", "2", "3")
    assert c.mean_diff == pytest.approx(np.mean([0.10, 0.05, 0.10]))


def test_bootstrap_ci_contains_mean_and_is_seeded():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0.6, 0.8, 10), rng.uniform(0.6, 0.8, 10)
    a, b = paired_comparison(x, y, seed=5), paired_comparison(x, y, seed=5)
    assert a.ci_low < a.mean_diff < a.ci_high
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    other = paired_comparison(x, y, seed=6)
    assert (other.ci_low, other.ci_high) != (a.ci_low, a.ci_high)
    # the percentile interval lies within the range of the observed differences
    assert min(x - y) <= a.ci_low and a.ci_high <= max(x - y)


def _subject_scores(rng, n_subjects, n_epochs):
    """Per-subject score difference = subject effect + mean of per-epoch noise."""
    effect = rng.normal(0.02, 0.05, n_subjects)
    noise = rng.normal(0, 0.2, (n_subjects, n_epochs)).mean(axis=1)
    return effect + noise, np.zeros(n_subjects)


def test_ci_width_depends_on_subjects_not_epochs():
    rng = np.random.default_rng(4)
    width = lambda c: c.ci_high - c.ci_low
    few_epochs = np.mean([width(paired_comparison(*_subject_scores(rng, 16, 50))) for _ in range(20)])
    many_epochs = np.mean([width(paired_comparison(*_subject_scores(rng, 16, 5000))) for _ in range(20)])
    many_subjects = np.mean([width(paired_comparison(*_subject_scores(rng, 64, 50))) for _ in range(20)])
    # 100x the epochs barely moves the interval; 4x the subjects halves it (1 / sqrt(n)).
    assert 0.8 < many_epochs / few_epochs < 1.25
    assert 0.4 < many_subjects / few_epochs < 0.6


def test_degenerate_cases():
    one = paired_comparison([0.7], [0.6])
    assert one.n == 1 and one.mean_diff == pytest.approx(0.1)
    assert one.p_wilcoxon is one.p_exact is one.ci_low is one.d_z is None
    none = paired_comparison([], [])
    assert none.n == 0 and none.mean_diff is None
    zero = paired_comparison([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert (zero.p_wilcoxon, zero.p_exact, zero.ci_low, zero.ci_high, zero.rank_biserial) == (1.0, 1.0, 0, 0, 0)
    assert zero.d_z is None
    constant = paired_comparison([0.7, 0.8, 0.9], [0.6, 0.7, 0.8])
    assert constant.ci_low == pytest.approx(0.1) == pytest.approx(constant.ci_high)
    assert constant.d_z is None  # sd 0: d_z undefined
    with pytest.raises(ValueError):
        paired_comparison([0.1, 0.2], [0.1])


def test_rank_biserial_by_hand():
    assert rank_biserial([1, -2, 3, 4]) == pytest.approx((1 + 3 + 4 - 2) / 10)
    assert rank_biserial([1, 2, -3]) == pytest.approx(0.0)
    assert rank_biserial([0, -1, -2]) == -1.0


def test_average_over_seeds_gives_one_value_per_subject():
    avg = average_over_seeds([{"1": 0.6, "2": 0.8}, {"1": 0.7, "2": 0.6}, {"1": 0.8}])
    assert avg == pytest.approx({"1": 0.7, "2": 0.7})
