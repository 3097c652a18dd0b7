"""The human-readable table shared by the Markdown and LaTeX renderers: percent, ± spreads, flags."""

from __future__ import annotations

import pandas as pd

from datasets.sleep_edf import STAGES

from .formatting import count_text, duration_text, p_text, tex


def folds_text(r) -> str:
    """``2/3 folds`` (or ``2-3/3 folds per seed`` when seeds differ) of a frame row."""
    lo, hi, n = r["folds_found_min"], r["folds_found_max"], r["folds_expected"]
    return f"{lo}/{n} folds" if lo == hi else f"{lo}-{hi}/{n} folds per seed"


def display_frame(t, as_tex: bool) -> pd.DataFrame:
    """One row per model of table ``t`` (a :class:`~benchmark.reporting.tables.ProtocolTable`)."""
    pm = r" $\pm$ " if as_tex else " ± "
    kappa = r"$\kappa$" if as_tex else "κ"
    pct = r"\%" if as_tex else "%"
    esc = tex if as_tex else (lambda s: s)
    ref = t.reference
    has_cmp = ref is not None and "delta_macro_f1" in t.frame
    show_exact = has_cmp and "p_exact" in t.frame and t.frame["p_exact"].notna().any()

    def spread(v, sd, scale, digits):
        s = f"{scale * v:.{digits}f}"
        return s + (f"{pm}{scale * sd:.{digits}f}" if pd.notna(sd) else "")

    rows = []
    for _, r in t.frame.iterrows():
        name = r["model"] + (" (ref.)" if r["reference"] else "")
        if not r["complete"]:
            name += f" ({folds_text(r)})"
        d = {"Model": esc(name), "Folds": f"{r['folds_found_min']}/{r['folds_expected']}",
             "Seeds": str(r["seeds"]),
             f"Acc ({pct})": spread(r["accuracy"], r["accuracy_sd"], 100, 1),
             f"MF1 ({pct})": spread(r["macro_f1"], r["macro_f1_sd"], 100, 1),
             kappa: spread(r["kappa"], r["kappa_sd"], 1, 3),
             f"MF1/{t.unit} ({pct})": spread(r["subject_macro_f1_mean"], r["subject_macro_f1_sd"], 100, 1),
             f"{kappa}/{t.unit}": spread(r["subject_kappa_mean"], r["subject_kappa_sd"], 1, 3)}
        d.update({f"F1 {s}": f"{100 * r[f'f1_{s}']:.1f}" for s in STAGES})
        d["Params"] = count_text(r["n_params"])
        d["Train"] = duration_text(r["fit_s"])
        if has_cmp:
            cmp = not r["reference"] and pd.notna(r.get("delta_macro_f1"))
            dash = "--" if as_tex else "—"
            d[r"$\Delta$MF1 (pp)" if as_tex else "ΔMF1 (pp)"] = f"{100 * r['delta_macro_f1']:+.1f}" if cmp else dash
            d[f"95{pct} CI"] = (f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
                                if cmp and pd.notna(r["ci_low"]) else dash)
            d["p (Wilcoxon)" if not as_tex else "$p$ (Wilcoxon)"] = p_text(r["p_wilcoxon"], as_tex) if cmp else dash
            if show_exact:
                d["p (exact)" if not as_tex else "$p$ (exact)"] = p_text(r["p_exact"], as_tex) if cmp else dash
            d["$d_z$" if as_tex else "d_z"] = f"{r['d_z']:+.2f}" if cmp and pd.notna(r["d_z"]) else dash
        rows.append(d)
    return pd.DataFrame(rows)
