"""The human-readable tables shared by the Markdown and LaTeX renderers: percent, ± spreads, flags.

:func:`display_frame` is the main table (one row per model); :func:`training_frame`,
:func:`imitation_frame` and :func:`contrasts_frame` are the blocks printed under it (each None
when the table has nothing of that kind).
"""

from __future__ import annotations

import pandas as pd

from sleepbench.datasets.sleep_edf import STAGES

from .contrasts import shared_code_flag
from .entry_reports import FIN_FEATURES
from .formatting import count_text, duration_text, p_text, tex


def folds_text(r) -> str:
    """``2/3 folds`` (or ``2-3/3 folds per seed`` when seeds differ) of a frame row."""
    lo, hi, n = r["folds_found_min"], r["folds_found_max"], r["folds_expected"]
    return f"{lo}/{n} folds" if lo == hi else f"{lo}-{hi}/{n} folds per seed"


def row_flag(r) -> str:
    """The flag shown after a model's name: missing folds or seeds, lost data ('' when none)."""
    parts = []
    if r["folds_found_min"] < r["folds_expected"]:
        parts.append(folds_text(r))
    if "seeds_expected" in r and pd.notna(r.get("seeds_expected")) and r["seeds"] < r["seeds_expected"]:
        parts.append(f"{r['seeds']}/{int(r['seeds_expected'])} seeds")
    flags = r.get("flags")
    if isinstance(flags, str) and flags:
        if "without validation" in flags:
            parts.append("no validation data")
        if "lacks" in flags:
            parts.append("lost data")
    return ", ".join(parts)


def row_note(r) -> str:
    """A flag that leaves the row comparable: its records were made under several CPU kernel sets
    ('' when one, or when the records predate the field)."""
    return "mixed CPU kernel sets" if r.get("mixed_kernel_sets") is True else ""


def _dash(as_tex: bool) -> str:
    return "--" if as_tex else "—"


def _range(lo, hi) -> str:
    if pd.isna(lo):
        return ""
    return f"{int(lo)}" if lo == hi else f"{int(lo)}–{int(hi)}"


def display_frame(t, as_tex: bool) -> pd.DataFrame:
    """One row per model of table ``t`` (a :class:`~benchmark.reporting.tables.ProtocolTable`)."""
    pm = r" $\pm$ " if as_tex else " ± "
    kappa = r"$\kappa$" if as_tex else "κ"
    pct = r"\%" if as_tex else "%"
    esc = tex if as_tex else (lambda s: s)
    ref = t.reference
    has_cmp = ref is not None and "delta_macro_f1" in t.frame
    show_exact = has_cmp and "p_exact" in t.frame and t.frame["p_exact"].notna().any()
    dash = _dash(as_tex)

    def spread(v, sd, scale, digits):
        s = f"{scale * v:.{digits}f}"
        return s + (f"{pm}{scale * sd:.{digits}f}" if pd.notna(sd) else "")

    rows = []
    for _, r in t.frame.iterrows():
        name = r["model"] + (" (ref.)" if r["reference"] else "")
        flag = row_flag(r)
        if flag:
            name += f" ({flag})"
        if row_note(r):
            name += f" [{row_note(r)}]"
        seeds = str(r["seeds"]) + (f"/{int(r['seeds_expected'])}" if "seeds_expected" in r
                                   and pd.notna(r.get("seeds_expected")) and r["seeds"] < r["seeds_expected"] else "")
        d = {"Model": esc(name), "Folds": f"{r['folds_found_min']}/{r['folds_expected']}",
             "Seeds": seeds,
             f"Acc ({pct})": spread(r["accuracy"], r["accuracy_sd"], 100, 1),
             f"MF1 ({pct})": spread(r["macro_f1"], r["macro_f1_sd"], 100, 1),
             kappa: spread(r["kappa"], r["kappa_sd"], 1, 3),
             f"MF1/{t.unit} ({pct})": spread(r["subject_macro_f1_mean"], r["subject_macro_f1_sd"], 100, 1),
             f"{kappa}/{t.unit}": spread(r["subject_kappa_mean"], r["subject_kappa_sd"], 1, 3)}
        d.update({f"F1 {s}": f"{100 * r[f'f1_{s}']:.1f}" for s in STAGES})
        trainable = r.get("n_trainable_params", r["n_params"])
        d["Params (trainable / total)"] = f"{count_text(trainable)} / {count_text(r['n_params'])}"
        d["Train"] = duration_text(r["fit_s"])
        if has_cmp:
            cmp = not r["reference"] and pd.notna(r.get("delta_macro_f1"))
            d[r"$\Delta$MF1 (pp)" if as_tex else "ΔMF1 (pp)"] = f"{100 * r['delta_macro_f1']:+.1f}" if cmp else dash
            d[f"95{pct} CI"] = (f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
                                if cmp and pd.notna(r["ci_low"]) else dash)
            d["p (Wilcoxon)" if not as_tex else "$p$ (Wilcoxon)"] = p_text(r["p_wilcoxon"], as_tex) if cmp else dash
            if show_exact:
                d["p (exact)" if not as_tex else "$p$ (exact)"] = p_text(r["p_exact"], as_tex) if cmp else dash
            d["$d_z$" if as_tex else "d_z"] = f"{r['d_z']:+.2f}" if cmp and pd.notna(r["d_z"]) else dash
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
        if not isinstance(r.get("budget"), str) or not r["budget"]:
            continue
        no_val = r.get("runs_without_validation")
        rows.append({
            "Model": esc(r["model"]),
            "Budget (passes × steps × batch × seq.)": esc(r["budget"]),
            "Passes run": _range(r.get("passes_min"), r.get("passes_max")),
            "Best pass": _range(r.get("best_pass_min"), r.get("best_pass_max")),
            "Steps run (median)": "" if pd.isna(r.get("steps_run_median")) else f"{r['steps_run_median']:.0f}",
            "Runs without validation": "" if pd.isna(no_val) else str(int(no_val)),
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
                b, a = r.get(f"{metric}_{feature}_before"), r.get(f"{metric}_{feature}_after")
                if pd.isna(b) and pd.isna(a):
                    cells[f"{feature} {label}"] = _dash(as_tex)
                    continue
                any_value = True
                show = lambda v: _dash(as_tex) if pd.isna(v) else f"{v:.{digits}f}"
                cells[f"{feature} {label}"] = f"{show(b)}{arrow}{show(a)}"
        if any_value:
            rows.append(cells)
    return pd.DataFrame(rows) if rows else None


def contrasts_frame(t, as_tex: bool) -> pd.DataFrame | None:
    """The declared contrasts with raw and Holm-adjusted p-values; None when none are declared."""
    c = t.contrasts
    if c is None or not len(c):
        return None
    dash = _dash(as_tex)
    pct = r"\%" if as_tex else "%"
    esc = tex if as_tex else (lambda s: s)
    show_exact = c["p_exact"].notna().any()
    rows = []
    for _, r in c.iterrows():
        ok = pd.isna(r.get("note")) or not r.get("note")
        d = {"Model": esc(r["model"]), "vs.": esc(r["reference"]),
             "n": str(int(r["n_pairs"])) if ok and pd.notna(r["n_pairs"]) else dash,
             r"$\Delta$MF1 (pp)" if as_tex else "ΔMF1 (pp)":
                 f"{100 * r['delta_macro_f1']:+.1f}" if ok and pd.notna(r["delta_macro_f1"]) else dash,
             f"95{pct} CI": (f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
                             if ok and pd.notna(r["ci_low"]) else dash),
             "$p$ (Wilcoxon)" if as_tex else "p (Wilcoxon)": p_text(r["p_wilcoxon"], as_tex) if ok else dash,
             "$p$ (Holm)" if as_tex else "p (Holm)": p_text(r["p_holm"], as_tex) if ok else dash}
        if show_exact:
            d["$p$ (exact)" if as_tex else "p (exact)"] = p_text(r["p_exact"], as_tex) if ok else dash
            d["$p$ (exact, Holm)" if as_tex else "p (exact, Holm)"] = p_text(r["p_exact_holm"], as_tex) if ok else dash
        d["$d_z$" if as_tex else "d_z"] = f"{r['d_z']:+.2f}" if ok and pd.notna(r["d_z"]) else dash
        shared = shared_code_flag(r)
        d["Note"] = esc(r["note"]) if not ok else esc(f"FLAGGED: {shared}") if shared else ""
        rows.append(d)
    return pd.DataFrame(rows)
