"""Paired comparisons between models on per-unit (subject or block) macro-F1.

Statistics come from :func:`benchmark.stats.paired_comparison`; this module decides which pairs
are compared and collects the results into table columns.
"""

from __future__ import annotations

from .. import stats as _stats

#: Bootstrap resamples of the CI of a difference.
N_RESAMPLES = 10_000
#: The numeric comparison columns a table row may carry.
CMP_COLUMNS = ("n_pairs", "delta_macro_f1", "ci_low", "ci_high", "p_wilcoxon", "p_exact", "d_z",
               "rank_biserial")


def compare(model_scores: dict, reference_scores: dict) -> dict:
    """The comparison columns of ``model`` minus ``reference`` on their common units."""
    c = _stats.paired_comparison(model_scores, reference_scores, n_resamples=N_RESAMPLES, seed=0)
    return dict(n_pairs=c.n, delta_macro_f1=c.mean_diff, ci_low=c.ci_low, ci_high=c.ci_high,
                p_wilcoxon=c.p_wilcoxon, p_exact=c.p_exact, d_z=c.d_z, rank_biserial=c.rank_biserial)
