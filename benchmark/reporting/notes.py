"""The text around a table: the header's package line and reference line, and the column notes."""

from __future__ import annotations

import pandas as pd

from ..stats import EXACT_MAX_N
from .contrasts import N_RESAMPLES
from .records import ROW_PACKAGES, Run


def packages_text(runs: list[Run]) -> str:
    """``torch 2.13.0, numpy 2.3.1, ...`` (several versions of one package joined by ``/``)."""
    parts = []
    for pkg in ("python", *ROW_PACKAGES, "scipy", "pandas", "lightgbm", "yasa", "sleepbench"):
        if pkg == "python":
            seen = {r.record["environment"]["python"] for r in runs}
        else:  # a package not installed where a record was made is absent from its versions
            seen = {r.record["environment"]["packages"].get(pkg) for r in runs}
        seen = sorted(v for v in seen if v)
        if seen:
            parts.append(f"{pkg} {' / '.join(seen)}")
    return ", ".join(parts)


def reference_text(ref: str | None, asked: str | None) -> str:
    if ref is not None:
        return (f"{ref}: others are compared with it on per-subject macro-F1 (seed-averaged), "
                "paired over the test subjects both have")
    if asked is not None:
        return f"{asked!r} has no records in this protocol: comparisons omitted"
    return "none (no vivit or majority records): comparisons omitted"


def column_notes(unit: str, ref: str | None, frame: pd.DataFrame, contrasts: pd.DataFrame | None = None) -> list[str]:
    notes = [
        "Acc, MF1 (macro-F1 over W, N1, N2, N3, REM), kappa (Cohen) and per-class F1: pooled over all "
        "test epochs of all folds of a seed, then mean (± sd) over seeds; per-class F1 in %.",
        f"MF1/{unit}, kappa/{unit}: each test {unit}'s score averaged over seeds, then mean ± sd over "
        f"{unit}s; a {unit}'s macro-F1 averages the classes present in its truth or predictions.",
        "Params: trainable / total parameters (median over runs; frozen weights count in the total "
        "only). Train: fit time summed over folds, mean over seeds.",
    ]
    if "budget" in frame and frame["budget"].fillna("").astype(str).str.len().gt(0).any():
        notes.append("Training (deep entries): budget = passes × optimiser steps per pass × batch size × "
                     "sequence length (epochs per training example); passes run and best pass (the "
                     "weights kept, chosen on validation macro-F1) over folds and seeds, min–max.")
    if any(c.startswith("r2_") for c in frame.columns):
        notes.append("FIN imitation: R² of each Feature Imitating Network's output against the exact "
                     "feature on the fold's test epochs, before (pre-trained) → after fine-tuning, mean "
                     "over runs.")
    flagged = (~frame["comparable"]).any()
    if ref is not None:
        exact = "p_exact" in frame and frame["p_exact"].notna().any()
        notes.append(
            f"ΔMF1: model minus {ref} in per-{unit} macro-F1 (percentage points), mean with a percentile "
            f"bootstrap 95% CI ({N_RESAMPLES} resamples of {unit}s, seed 0); p (Wilcoxon): two-sided "
            "signed-rank test" + ("; p (exact): two-sided exact sign-flip permutation test of the mean "
                                  f"(all 2^n sign flips, shown for n < {EXACT_MAX_N})" if exact else "")
            + "; d_z: Cohen's d_z = mean / sd of the paired differences. Uncorrected for multiple comparisons"
            + ("; the declared contrasts (Contrasts block) are Holm-adjusted." if contrasts is not None else "."))
    if contrasts is not None:
        notes.append("Contrasts: the comparisons the suite declares, each model minus its reference, as "
                     "above; p (Holm): Holm's step-down adjustment (statsmodels multipletests) over the "
                     "whole declared family, a contrast that could not be computed counted with p = 1.")
    if flagged:
        notes.append("Flagged rows (incomplete folds or seeds, lost data, training without validation) "
                     "are shown but not compared: no ΔMF1, CI or p-value.")
    return notes


def kernel_sets(runs: list[Run]) -> dict[str, int]:
    """CPU kernel set -> number of records trained under it."""
    seen: dict[str, int] = {}
    for r in runs:
        k = r.record["environment"]["cpu_kernel_set"]
        seen[k] = seen.get(k, 0) + 1
    return seen


def kernel_sets_text(runs: list[Run]) -> str:
    """The CPU kernel sets the records were trained under: ``AVX2``, or with record counts when
    several, ``AVX2 (2 records), DEFAULT (1 record)``."""
    seen = kernel_sets(runs)
    if len(seen) == 1:
        return next(iter(seen))
    return ", ".join(f"{k} ({n} record{'' if n == 1 else 's'})" for k, n in sorted(seen.items()))
