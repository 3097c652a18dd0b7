"""Paired comparisons between models on per-unit (subject or block) macro-F1.

Statistics come from :func:`sleepbench.benchmark.stats.paired_comparison`. Two kinds of comparison:

* every model against the table's *reference* (the ΔMF1 columns of the main table), uncorrected;
* the *declared contrasts* of a suite (``contrasts:`` in its YAML, (model, reference) pairs): one
  block, whose Wilcoxon (and exact, when shown) p-values are Holm-adjusted over the whole declared
  family (Holm 1979, ``statsmodels.stats.multitest.multipletests(method="holm")``), since the block
  is the family of questions the suite asks.

A comparison involving a row that is incomplete, flagged or without records (missing folds or
seeds, lost data, training without validation, a model not run or left out by ``--models`` /
``--exclude``) is not computed: its cells say why instead, and it stays in the family with p = 1
in the adjustment. So a missing contrast never makes the others' adjusted p-values smaller, and
the captions give the family's size and what was missing (:func:`family_text`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from ..stats import paired_comparison

#: Bootstrap resamples of the CI of a difference.
N_RESAMPLES = 10_000
#: The numeric comparison columns a table row may carry.
CMP_COLUMNS = ("n_pairs", "delta_macro_f1", "ci_low", "ci_high", "p_wilcoxon", "p_exact", "d_z",
               "rank_biserial")
#: Columns of the declared-contrasts block (``ProtocolTable.contrasts``).
CONTRAST_COLUMNS = ("model", "reference", *CMP_COLUMNS, "p_holm", "p_exact_holm", "note", "shared_code")


def compare(model_scores: dict, reference_scores: dict) -> dict:
    """The comparison columns of ``model`` minus ``reference`` on their common units."""
    c = paired_comparison(model_scores, reference_scores, n_resamples=N_RESAMPLES, seed=0)
    return dict(n_pairs=c.n, delta_macro_f1=c.mean_diff, ci_low=c.ci_low, ci_high=c.ci_high,
                p_wilcoxon=c.p_wilcoxon, p_exact=c.p_exact, d_z=c.d_z, rank_biserial=c.rank_biserial)


def holm(p_values) -> list[float | None]:
    """Holm-adjusted p-values over the whole family ``p_values``: an undefined entry (None / NaN, a
    contrast that could not be computed) counts as p = 1 in the adjustment and stays None."""
    p = [None if v is None or pd.isna(v) else float(v) for v in p_values]
    out: list[float | None] = [None] * len(p)
    if any(v is not None for v in p):
        adjusted = multipletests([1.0 if v is None else v for v in p], method="holm")[1]
        out = [None if v is None else float(a) for v, a in zip(p, adjusted)]
    return out


def family_text(frame: pd.DataFrame | None) -> str:
    """What a caption says of the declared family: ``Holm-adjusted over the 5 declared contrasts``,
    plus ``; 2 not computed (p = 1 in the adjustment): a - b (reason); ...`` when some are missing."""
    if frame is None or not len(frame):
        return "no declared contrasts"
    text = f"Holm-adjusted over the {len(frame)} declared contrast{'s' if len(frame) != 1 else ''}"
    missing = [f"{r['model']} - {r['reference']} ({r['note']})" for _, r in frame.iterrows()
               if isinstance(r["note"], str) and r["note"]]
    if missing:
        text += f"; {len(missing)} not computed (p = 1 in the adjustment): " + "; ".join(missing)
    return text


def shared_code_differences(a: dict | None, b: dict | None) -> list[str]:
    """The files both entries' code hashes cover (``identity.code_files`` of their records:
    harness modules, a shared trunk, shipped weights) whose contents differ between the two: a
    contrast of such rows compares two versions of the shared code, not only the models."""
    if not a or not b:
        return []
    return sorted(k for k in set(a) & set(b) if a[k] != b[k])


def shared_code_flag(row) -> str:
    """The shared-code flag of one contrast row ('' when its rows share their code)."""
    text = row["shared_code"]
    return text if isinstance(text, str) and text else ""


def declared_contrasts(pairs, subject_scores: dict, why_not: dict,
                       code_files: dict | None = None) -> pd.DataFrame:
    """The declared-contrasts block.

    Parameters
    ----------
    pairs : list of (model, reference)
    subject_scores : dict
        model -> {unit: seed-averaged macro-F1}, for the models with records.
    why_not : dict
        model -> reason it is not comparable (incomplete or flagged); absent when comparable.
    code_files : dict, optional
        model -> ``identity.code_files`` of its records; a computed pair whose shared files differ
        gets them in ``shared_code`` (flagged, still computed).

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
            row["note"] = f"no records of {', '.join(missing)} (not run, or left out of the table)"
        elif flagged:
            row["note"] = "not compared (" + "; ".join(flagged) + ")"
        else:
            row.update(compare(subject_scores[model], subject_scores[ref]))
            differ = shared_code_differences((code_files or {}).get(model), (code_files or {}).get(ref))
            row["shared_code"] = ("made by different versions of shared code: " + ", ".join(differ)
                                  if differ else None)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c in CONTRAST_COLUMNS
                                        if c not in ("p_holm", "p_exact_holm", "shared_code")])
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
    frame["shared_code"] = [r.get("shared_code") for r in rows]
    return frame
