"""The human-readable tables shared by the Markdown and LaTeX renderers: percent, ± spreads, flags.

:func:`display_frame` is the main table (one row per model); :func:`training_frame`,
:func:`imitation_frame` and :func:`contrasts_frame` are the blocks printed under it (each None
when the table has nothing of that kind). :func:`row_flag`, :func:`row_note` and
:func:`flagged_rows` turn a row's problems (:mod:`.problems`, by kind) into the short marks every
rendering shows.
"""

from __future__ import annotations

import pandas as pd

from sleepbench.datasets.sleep_edf import STAGES

from .contrasts import shared_code_flag
from .entry_reports import FIN_FEATURES
from .formatting import count_text, dash, duration_text, fixed, int_range, interval, p_text, spread, tex, undefined
from .problems import LOST_DATA, MISSING_FOLDS, MISSING_SEEDS, MIXED_KERNEL_SETS, NO_VALIDATION, Problem, kinds


def folds_text(r) -> str:
    """``2/3 folds`` (or ``2-3/3 folds per seed`` when seeds differ) of a frame row."""
    lo, hi, n = r["folds_found_min"], r["folds_found_max"], r["folds_expected"]
    return f"{lo}/{n} folds" if lo == hi else f"{lo}-{hi}/{n} folds per seed"


def seeds_text(r) -> str:
    """``1/2 seeds`` of a frame row."""
    return f"{r['seeds']}/{int(r['seeds_expected'])} seeds"


def row_flag(r, problems: list[Problem]) -> str:
    """The flag shown after a model's name, from the kinds of its ``problems``: missing folds or
    seeds, no validation data, lost data ('' when none; the counts come from the row ``r``)."""
    found = kinds(problems)
    parts = []
    if MISSING_FOLDS in found:
        parts.append(folds_text(r))
    if MISSING_SEEDS in found:
        parts.append(seeds_text(r))
    if NO_VALIDATION in found:
        parts.append("no validation data")
    if LOST_DATA in found:
        parts.append("lost data")
    return ", ".join(parts)


def row_note(problems: list[Problem]) -> str:
    """A flag that leaves the row comparable: its records were made under several CPU kernel sets
    ('' when one)."""
    return "mixed CPU kernel sets" if MIXED_KERNEL_SETS in kinds(problems) else ""


def flagged_rows(t) -> dict[str, str]:
    """model -> ``"flagged: 2/3 folds, lost data"`` for every row table ``t`` flags (missing folds
    or seeds, lost data, training without validation: :func:`row_flag`); what the figures mark."""
    return {r["model"]: f"flagged: {flag}" for _, r in t.frame.iterrows()
            if (flag := row_flag(r, t.problems[r["model"]]))}


def display_frame(t, as_tex: bool) -> pd.DataFrame:
    """One row per model of table ``t`` (a :class:`~benchmark.reporting.tables.ProtocolTable`)."""
    kappa = r"$\kappa$" if as_tex else "κ"
    pct = r"\%" if as_tex else "%"
    esc = tex if as_tex else (lambda s: s)
    ref = t.reference
    has_cmp = ref is not None and "delta_macro_f1" in t.frame
    show_exact = has_cmp and t.frame["p_exact"].notna().any()
    no = dash(as_tex)

    def pm(v, sd, scale, digits):
        return spread(v, sd, digits, scale=scale, as_tex=as_tex)

    rows = []
    for _, r in t.frame.iterrows():
        problems = t.problems[r["model"]]
        name = r["model"] + (" (ref.)" if r["reference"] else "")
        flag = row_flag(r, problems)
        if flag:
            name += f" ({flag})"
        if row_note(problems):
            name += f" [{row_note(problems)}]"
        seeds = str(r["seeds"]) + (f"/{int(r['seeds_expected'])}" if MISSING_SEEDS in kinds(problems) else "")
        d = {"Model": esc(name), "Folds": f"{r['folds_found_min']}/{r['folds_expected']}",
             "Seeds": seeds,
             f"Acc ({pct})": pm(r["accuracy"], r["accuracy_sd"], 100, 1),
             f"MF1 ({pct})": pm(r["macro_f1"], r["macro_f1_sd"], 100, 1),
             kappa: pm(r["kappa"], r["kappa_sd"], 1, 3),
             f"MF1/{t.unit} ({pct})": pm(r["subject_macro_f1_mean"], r["subject_macro_f1_sd"], 100, 1),
             f"{kappa}/{t.unit}": pm(r["subject_kappa_mean"], r["subject_kappa_sd"], 1, 3)}
        d.update({f"F1 {s}": fixed(r[f"f1_{s}"], 1, scale=100, as_tex=as_tex) for s in STAGES})
        d["Params (trainable / total)"] = f"{count_text(r['n_trainable_params'])} / {count_text(r['n_params'])}"
        d["Train"] = duration_text(r["fit_s"])
        if has_cmp:
            cmp = not r["reference"] and not undefined(r["delta_macro_f1"])
            d[r"$\Delta$MF1 (pp)" if as_tex else "ΔMF1 (pp)"] = (
                fixed(r["delta_macro_f1"], 1, scale=100, signed=True) if cmp else no)
            d[f"95{pct} CI"] = interval(r["ci_low"], r["ci_high"], scale=100, as_tex=as_tex) if cmp else no
            d["p (Wilcoxon)" if not as_tex else "$p$ (Wilcoxon)"] = p_text(r["p_wilcoxon"], as_tex) if cmp else no
            if show_exact:
                d["p (exact)" if not as_tex else "$p$ (exact)"] = p_text(r["p_exact"], as_tex) if cmp else no
            d["$d_z$" if as_tex else "d_z"] = fixed(r["d_z"], 2, signed=True, as_tex=as_tex) if cmp else no
        rows.append(d)
    return pd.DataFrame(rows)


def training_frame(t, as_tex: bool) -> pd.DataFrame | None:
    """Budget and early stopping of each deep entry; None when no record reports its training."""
    f = t.frame
    if "budget" not in f:
        return None
    esc = tex if as_tex else (lambda s: s)
    rows = []
    for _, r in f.iterrows():
        if not isinstance(r["budget"], str) or not r["budget"]:
            continue
        no_val = r["runs_without_validation"]
        rows.append({
            "Model": esc(r["model"]),
            "Budget (passes × steps × batch × seq.)": esc(r["budget"]),
            "Passes run": int_range(r["passes_min"], r["passes_max"]),
            "Best pass": int_range(r["best_pass_min"], r["best_pass_max"]),
            "Steps run (median)": "" if undefined(r["steps_run_median"]) else fixed(r["steps_run_median"], 0),
            "Runs without validation": "" if undefined(no_val) else str(int(no_val)),
        })
    return pd.DataFrame(rows) if rows else None


def imitation_frame(t, as_tex: bool) -> pd.DataFrame | None:
    """Each FIN entry's imitation R² (and MAE) before -> after fine-tuning; None without FIN entries."""
    f = t.frame
    cols = [c for c in f.columns if c.startswith(("r2_", "mae_"))]
    if not cols:
        return None
    arrow = r" $\to$ " if as_tex else " → "
    esc = tex if as_tex else (lambda s: s)
    r2 = "R$^2$" if as_tex else "R²"
    rows = []
    for _, r in f.iterrows():
        cells, any_value = {"Model": esc(r["model"])}, False
        for feature in FIN_FEATURES:
            for metric, label, digits in (("r2", r2, 3), ("mae", "MAE", 3)):
                # a FIN entry reports the features it has (an entropy-only FIN: no bandpower)
                b, a = r.get(f"{metric}_{feature}_before"), r.get(f"{metric}_{feature}_after")
                if undefined(b) and undefined(a):
                    cells[f"{feature} {label}"] = dash(as_tex)
                    continue
                any_value = True
                cells[f"{feature} {label}"] = (f"{fixed(b, digits, as_tex=as_tex)}{arrow}"
                                               f"{fixed(a, digits, as_tex=as_tex)}")
        if any_value:
            rows.append(cells)
    return pd.DataFrame(rows) if rows else None


def contrasts_frame(t, as_tex: bool) -> pd.DataFrame | None:
    """The declared contrasts with raw and Holm-adjusted p-values; None when none are declared."""
    c = t.contrasts
    if c is None or not len(c):
        return None
    no = dash(as_tex)
    pct = r"\%" if as_tex else "%"
    esc = tex if as_tex else (lambda s: s)
    show_exact = c["p_exact"].notna().any()
    rows = []
    for _, r in c.iterrows():
        ok = undefined(r["note"]) or not r["note"]
        d = {"Model": esc(r["model"]), "vs.": esc(r["reference"]),
             "n": fixed(r["n_pairs"], 0, as_tex=as_tex) if ok else no,
             r"$\Delta$MF1 (pp)" if as_tex else "ΔMF1 (pp)":
                 fixed(r["delta_macro_f1"], 1, scale=100, signed=True, as_tex=as_tex) if ok else no,
             f"95{pct} CI": interval(r["ci_low"], r["ci_high"], scale=100, as_tex=as_tex) if ok else no,
             "$p$ (Wilcoxon)" if as_tex else "p (Wilcoxon)": p_text(r["p_wilcoxon"], as_tex) if ok else no,
             "$p$ (Holm)" if as_tex else "p (Holm)": p_text(r["p_holm"], as_tex) if ok else no}
        if show_exact:
            d["$p$ (exact)" if as_tex else "p (exact)"] = p_text(r["p_exact"], as_tex) if ok else no
            d["$p$ (exact, Holm)" if as_tex else "p (exact, Holm)"] = p_text(r["p_exact_holm"], as_tex) if ok else no
        d["$d_z$" if as_tex else "d_z"] = fixed(r["d_z"], 2, signed=True, as_tex=as_tex) if ok else no
        shared = shared_code_flag(r)
        d["Note"] = esc(r["note"]) if not ok else esc(f"FLAGGED: {shared}") if shared else ""
        rows.append(d)
    return pd.DataFrame(rows)
