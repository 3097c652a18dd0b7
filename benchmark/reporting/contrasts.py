"""Paired comparisons between models on per-unit (subject or block) macro-F1.

Statistics come from :func:`benchmark.stats.paired_comparison`. Two kinds of comparison:

* every model against the table's *reference* (the ΔMF1 columns of the main table), uncorrected;
* the *declared contrasts* of a suite (``contrasts:`` in its YAML, (model, reference) pairs): one
  block, whose Wilcoxon (and exact, when shown) p-values are Holm-adjusted over the block
  (Holm 1979, ``statsmodels.stats.multitest.multipletests(method="holm")``), since the block is
  the family of questions the suite asks.

A comparison involving a row that is incomplete or flagged (missing folds or seeds, lost data,
training without validation) is not computed: its cells say why instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from .. import stats as _stats

#: Bootstrap resamples of the CI of a difference.
N_RESAMPLES = 10_000
#: The numeric comparison columns a table row may carry.
CMP_COLUMNS = ("n_pairs", "delta_macro_f1", "ci_low", "ci_high", "p_wilcoxon", "p_exact", "d_z",
               "rank_biserial")
#: Columns of the declared-contrasts block (``ProtocolTable.contrasts``).
CONTRAST_COLUMNS = ("model", "reference", *CMP_COLUMNS, "p_holm", "p_exact_holm", "note")


def compare(model_scores: dict, reference_scores: dict) -> dict:
    """The comparison columns of ``model`` minus ``reference`` on their common units."""
    c = _stats.paired_comparison(model_scores, reference_scores, n_resamples=N_RESAMPLES, seed=0)
    return dict(n_pairs=c.n, delta_macro_f1=c.mean_diff, ci_low=c.ci_low, ci_high=c.ci_high,
                p_wilcoxon=c.p_wilcoxon, p_exact=c.p_exact, d_z=c.d_z, rank_biserial=c.rank_biserial)


def holm(p_values) -> list[float | None]:
    """Holm-adjusted p-values of the defined entries of ``p_values`` (None / NaN stay None)."""
    p = [None if v is None or pd.isna(v) else float(v) for v in p_values]
    idx = [i for i, v in enumerate(p) if v is not None]
    out: list[float | None] = [None] * len(p)
    if idx:
        adjusted = multipletests([p[i] for i in idx], method="holm")[1]
        for i, a in zip(idx, adjusted):
            out[i] = float(a)
    return out


def declared_contrasts(pairs, subject_scores: dict, why_not: dict) -> pd.DataFrame:
    """The declared-contrasts block.

    Parameters
    ----------
    pairs : list of (model, reference)
    subject_scores : dict
        model -> {unit: seed-averaged macro-F1}, for the models with records.
    why_not : dict
        model -> reason it is not comparable (incomplete or flagged); absent when comparable.

    Returns
    -------
    DataFrame
        :data:`CONTRAST_COLUMNS`, one row per pair in the declared order; ``note`` says why a
        pair was not computed. Holm adjusts over the computed pairs.
    """
    rows = []
    for model, ref in pairs:
        row = {"model": model, "reference": ref, "note": None}
        missing = [m for m in (model, ref) if m not in subject_scores]
        flagged = [f"{m}: {why_not[m]}" for m in (model, ref) if m in why_not]
        if missing:
            row["note"] = f"no records of {', '.join(missing)}"
        elif flagged:
            row["note"] = "not compared (" + "; ".join(flagged) + ")"
        else:
            row.update(compare(subject_scores[model], subject_scores[ref]))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in CONTRAST_COLUMNS if c not in ("p_holm", "p_exact_holm")])
    for col in CMP_COLUMNS:
        frame[col] = pd.to_numeric(frame[col].astype(object).where(frame[col].notna(), np.nan))
    frame.insert(frame.columns.get_loc("note"), "p_holm", holm(frame["p_wilcoxon"]))
    exact = frame["p_exact"]
    computed = frame["note"].isna()
    # exact p-values are adjusted only when every computed contrast has one (n < 20 everywhere)
    frame.insert(frame.columns.get_loc("note"), "p_exact_holm",
                 holm(exact) if computed.any() and exact[computed].notna().all() else [None] * len(frame))
    for col in ("p_holm", "p_exact_holm"):
        frame[col] = pd.to_numeric(frame[col].astype(object).where(frame[col].notna(), np.nan))
    return frame
