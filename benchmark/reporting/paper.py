"""Paper export: per protocol a compact main table, a statistics table and the BibTeX they cite.

    write_paper(tables, "results/tables")
    # -> paper/<protocol>-main.tex   Model (display name \\cite), Acc, MF1, kappa, per-class F1, Params
    #    paper/<protocol>-stats.tex  the declared contrasts: Delta MF1 [95% CI], p, Holm-adjusted p, d_z
    #    paper/<protocol>-reported.tex  the entries' authors' published figures, a table of its own
    #                                   (only when an entry of the table declares them)
    #    paper/<protocol>.bib        Sleep-EDF, PhysioNet, sleepbench, each entry's paper (and the
    #                                sources of its reported figures), statistics
    #    paper/<protocol>-preview.tex  a standalone article that \\input's the tables (compile to check)

The tables need ``booktabs`` only, fit a page width as a ``table*`` float (one float across both
columns of a two-column paper) at ``\\small`` without ``\\resizebox``, and carry every note in
their caption. Units: Acc, MF1 and per-class F1 in %, kappa as a fraction, Delta MF1 in percentage
points, parameters in thousands (the trainable ones, as the entry reports them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleepbench.datasets.sleep_edf import STAGES

from .bibliography import STATS_KEYS, bibtex_for, cite_keys, display_name, keys_for
from .contrasts import family_text, shared_code_flag
from .display import row_flag, row_note
from .formatting import fixed, interval, p_text, spread, tex, thousands_text, undefined
from .reported import reported_tex

PAPER_DIR = "paper"


# --- what goes in the tables ---------------------------------------------------------------------

def trainable_params(table) -> dict[str, float]:
    """Median over runs of each model's trainable parameter count (NaN when no run reports one)."""
    out: dict[str, list] = {}
    for r in table.runs:
        n = r.record["model"]["n_trainable_params"]
        out.setdefault(r.model, [])
        if n is not None:
            out[r.model].append(float(n))
    return {k: float(np.median(v)) if v else float("nan") for k, v in out.items()}


def _value(v):
    """None for an undefined value (None or NaN), else ``v``."""
    return None if undefined(v) else v


def contrast_rows(table) -> tuple[list[dict], bool]:
    """The contrasts of ``table`` as dicts (model, versus, n, delta, ci_low, ci_high, p, p_holm, d_z,
    note, shared_code), None for an undefined value.

    The declared contrasts (``table.contrasts``, :func:`~benchmark.reporting.contrasts.declared_contrasts`:
    Holm-adjusted over the family) when the table has them; otherwise each compared model against
    the table's reference, from the frame's comparison columns
    (:data:`~benchmark.reporting.contrasts.CMP_COLUMNS`), without adjustment. The flag says which
    (True: declared).
    """
    if table.contrasts is not None:
        out = [{"model": r["model"], "versus": r["reference"], "n": _value(r["n_pairs"]),
                "delta": _value(r["delta_macro_f1"]), "ci_low": _value(r["ci_low"]),
                "ci_high": _value(r["ci_high"]), "p": _value(r["p_wilcoxon"]), "p_holm": _value(r["p_holm"]),
                "d_z": _value(r["d_z"]), "note": _value(r["note"]), "shared_code": _value(r["shared_code"])}
               for r in table.contrasts.to_dict("records")]
        return out, True
    if table.reference is None or "delta_macro_f1" not in table.frame:  # nothing was compared
        return [], False
    out = []
    for _, r in table.frame.iterrows():
        if r["model"] == table.reference or undefined(r["delta_macro_f1"]) or not r["comparable"]:
            continue
        out.append({"model": r["model"], "versus": table.reference, "n": _value(r["n_pairs"]),
                    "delta": r["delta_macro_f1"], "ci_low": _value(r["ci_low"]), "ci_high": _value(r["ci_high"]),
                    "p": _value(r["p_wilcoxon"]), "p_holm": None, "d_z": _value(r["d_z"]), "note": None,
                    "shared_code": None})
    return out, False


def _model_cell(model: str, reference: bool, complete: bool) -> str:
    keys = cite_keys(model)
    cell = tex(display_name(model)) + (f"~\\cite{{{','.join(keys)}}}" if keys else "")
    if reference:
        cell += " (ref.)"
    if not complete:
        cell += r"$^\dagger$"
    return cell


def _pct(v, sd=None, seeds=1) -> str:
    """``84.1$\\pm$0.2`` (percent; the sd with several seeds only)."""
    return spread(v, sd if seeds > 1 else None, 1, scale=100, as_tex=True, compact=True)


def _kappa(v, sd=None, seeds=1) -> str:
    return spread(v, sd if seeds > 1 else None, 3, as_tex=True, compact=True)


def _data_sentence(table) -> str:
    header = dict(table.header)
    surrogate = "SURROGATE" in header["Dataset"]
    data = (r"\textbf{Surrogate data} (synthetic EEG written by sleepbench in the format of "
            r"Sleep-EDF~\cite{kemp2000sleepedf,goldberger2000physionet}, not its recordings: "
            r"these numbers say nothing about real sleep staging)"
            if surrogate else r"Sleep-EDF Expanded~\cite{kemp2000sleepedf,goldberger2000physionet}")
    return (f"{data}; {tex(header['Channels'])}, {tex(header['Sampling rate'])}, "
            f"30-s epochs; protocol \\texttt{{{tex(table.protocol)}}} "
            f"(hash \\texttt{{{tex(header['Protocol hash'][:12])}}}), "
            f"{tex(header['Folds'].split(' ')[0])} subject-wise folds, "
            f"{tex(header[f'Test {table.unit}s'])} test {table.unit}s, "
            f"{tex(header['Test epochs'])} test epochs; "
            r"sleepbench~\cite{sleepbench}.")


# --- LaTeX ---------------------------------------------------------------------------------------

def main_table_tex(table) -> str:
    """The compact main table of one protocol (a ``table*`` float; needs ``booktabs``)."""
    f = table.frame
    seeds = int(f["seeds"].max()) if len(f) else 1
    params = trainable_params(table)
    rows, incomplete, mixed = [], [], []
    for _, r in f.iterrows():
        n = int(r["seeds"])
        problems = table.problems[r["model"]]
        flag = row_flag(r, problems)
        cells = [_model_cell(r["model"], bool(r["reference"]), not flag),
                 _pct(r["accuracy"], r["accuracy_sd"], n), _pct(r["macro_f1"], r["macro_f1_sd"], n),
                 _kappa(r["kappa"], r["kappa_sd"], n)]
        cells += [_pct(r[f"f1_{s}"]) for s in STAGES]
        cells.append(thousands_text(params[r["model"]], as_tex=True))
        rows.append(" & ".join(cells) + r" \\")
        if flag:
            incomplete.append(f"{tex(display_name(r['model']))} ({tex(flag)})")
        if row_note(problems):
            mixed.append(tex(display_name(r["model"])))
    spread = (f"mean $\\pm$ sd over {seeds} seeds" if seeds > 1 else "one seed")
    caption = (
        f"Sleep staging on {_data_sentence(table)} "
        f"Acc: accuracy; MF1: macro-F1 over W, N1, N2, N3 and REM; $\\kappa$: Cohen's kappa; "
        f"per-class F1: one-vs-rest F1 of each stage. All pooled over the test epochs of all folds, "
        f"{spread}; Acc, MF1 and F1 in \\%. Params: trainable parameters in thousands "
        f"(median over runs; -- when the entry trains none or does not report them)."
        + (f" (ref.): the reference of Table~\\ref{{tab:{table.protocol}-stats}}." if table.reference else "")
        + (f" $^\\dagger$Not comparable (incomplete or flagged): {'; '.join(incomplete)}."
           if incomplete else "")
        + (f" Trained under several CPU kernel sets (valid runs, not bit-reproducible as a whole): "
           f"{', '.join(mixed)}." if mixed else ""))
    head1 = (r"Model & Acc & MF1 & $\kappa$ & \multicolumn{5}{c}{F1 per class (\%)} & Params \\")
    head2 = (r" & (\%) & (\%) & & " + " & ".join(STAGES) + r" & (k) \\")
    lines = [
        f"% sleepbench main table, protocol {table.protocol}; needs \\usepackage{{booktabs}}",
        r"\begin{table*}[tbp]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
        f"\\caption{{{caption}}}", f"\\label{{tab:{table.protocol}-main}}",
        r"\begin{tabular}{@{}l" + "r" * 3 + "r" * len(STAGES) + r"r@{}}", r"\toprule", head1,
        r"\cmidrule(lr){5-9}", head2, r"\midrule", *rows, r"\bottomrule", r"\end{tabular}",
        r"\end{table*}"]
    return "\n".join(lines) + "\n"


def _short_note(note) -> str:
    """The cell of a contrast not computed: why, in two words; the caption gives the details
    (a full note, naming models and folds, is wider than a page column)."""
    if not note:
        return "not computed"
    if str(note).startswith("no records"):
        return "not run (see caption)"
    return str(note).split(" (")[0] + " (see caption)"


def stats_table_tex(table) -> str:
    """The statistics table of one protocol: one row per contrast (a ``table`` float)."""
    rows, declared = contrast_rows(table)
    unit = table.unit
    body = []
    for c in rows:
        name = f"{tex(display_name(c['model']))} $-$ {tex(display_name(c['versus']))}"
        if c["delta"] is None:
            body.append(f"{name} & \\multicolumn{{6}}{{l}}{{{tex(_short_note(c['note']))}}} \\\\")
            continue
        if shared_code_flag(c):
            name += r"$^\ddagger$"
        body.append(" & ".join([name, fixed(c["n"], 0, as_tex=True),
                                fixed(c["delta"], 1, scale=100, signed=True, as_tex=True),
                                interval(c["ci_low"], c["ci_high"], scale=100, as_tex=True),
                                p_text(c["p"], as_tex=True), p_text(c["p_holm"], as_tex=True),
                                fixed(c["d_z"], 2, signed=True, as_tex=True)])
                    + r" \\")
    if not body:
        body.append(r"\multicolumn{7}{l}{no contrasts: no reference model or declared contrasts} \\")
    family = (f"{tex(family_text(table.contrasts))}~\\cite{{holm1979}}" if declared
              else "not adjusted (no contrasts declared: every complete model against the reference; "
                   "declare them with \\texttt{contrasts:} in the suite to get Holm-adjusted $p$)")
    caption = (
        f"Paired comparisons on {_data_sentence(table)} "
        f"$\\Delta$MF1: difference in per-{unit} macro-F1 (each {unit}'s score averaged over seeds), "
        f"in percentage points, mean over the $n$ test {unit}s both models have, with a percentile "
        f"bootstrap 95\\% CI (resampling {unit}s); $p$: two-sided Wilcoxon signed-rank "
        f"test~\\cite{{wilcoxon1945}}; $p_\\mathrm{{Holm}}$: {family}; $d_z$: mean / sd of the "
        f"paired differences. Incomplete models are not compared."
        + "".join(f" $^\\ddagger${tex(display_name(c['model']))} $-$ {tex(display_name(c['versus']))}: "
                  f"FLAGGED, {tex(c['shared_code'])}." for c in rows
                  if shared_code_flag(c)))
    lines = [
        f"% sleepbench statistics table, protocol {table.protocol}; needs \\usepackage{{booktabs}}",
        r"\begin{table}[tbp]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
        f"\\caption{{{caption}}}", f"\\label{{tab:{table.protocol}-stats}}",
        r"\begin{tabular}{@{}lrrcrrr@{}}", r"\toprule",
        r"Contrast & $n$ & $\Delta$MF1 (pp) & 95\% CI & $p$ & $p_\mathrm{Holm}$ & $d_z$ \\",
        r"\midrule", *body, r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def reported_table_tex(table) -> str | None:
    """The figures the authors of the table's entries published, as a ``table*`` of its own (never
    rows of :func:`main_table_tex`); None when no entry of the table declares any."""
    if table.reported is None:
        return None
    return reported_tex(table.reported, f"tab:{table.protocol}-reported", f"tab:{table.protocol}-main",
                        star=True, display_names=True)


def preview_tex(protocol: str, reported: bool = False) -> str:
    """A standalone article holding the tables and the bibliography (``pdflatex``+``bibtex``);
    ``reported``: also the table of the authors' figures."""
    refs = (f"Tables~\\ref{{tab:{protocol}-main}}, \\ref{{tab:{protocol}-stats}} and~"
            f"\\ref{{tab:{protocol}-reported}} (reported by the authors, not measured here)." if reported else
            f"Tables~\\ref{{tab:{protocol}-main}} and~\\ref{{tab:{protocol}-stats}}.")
    return "\n".join([
        r"\documentclass[11pt]{article}",
        r"\usepackage[margin=0.75in]{geometry}",
        r"\usepackage{booktabs}",
        r"\usepackage{amsmath}",
        r"\begin{document}",
        f"\\section*{{sleepbench: {tex(protocol)}}}",
        refs,
        f"\\input{{{protocol}-main.tex}}",
        f"\\input{{{protocol}-stats.tex}}",
        *([f"\\input{{{protocol}-reported.tex}}"] if reported else []),
        r"\bibliographystyle{plain}",
        f"\\bibliography{{{protocol}}}",
        r"\end{document}", ""])


def models_of(table) -> list[str]:
    """The models of ``table``, in table order, and those of its contrasts."""
    models = list(table.frame["model"])
    for c in contrast_rows(table)[0]:
        models += [m for m in (c["model"], c["versus"]) if m and m not in models]
    return models


def table_bibtex(table) -> str:
    """The BibTeX that the tables of ``table`` cite (main, statistics and reported figures)."""
    return bibtex_for(models_of(table), stats=True)


def write_paper(tables: dict, out_dir) -> list[Path]:
    """Write the paper files of every table under ``out_dir/paper/``; returns their paths."""
    out = Path(out_dir) / PAPER_DIR
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        reported = reported_table_tex(table)
        files = [("-main.tex", main_table_tex(table)), ("-stats.tex", stats_table_tex(table))]
        files += [("-reported.tex", reported)] if reported is not None else []
        files += [(".bib", table_bibtex(table)), ("-preview.tex", preview_tex(name, reported is not None))]
        for suffix, text in files:
            path = out / f"{name}{suffix}"
            path.write_text(text)
            paths.append(path)
    return paths


__all__ = ["STATS_KEYS", "contrast_rows", "keys_for", "main_table_tex", "preview_tex", "reported_table_tex",
           "stats_table_tex", "table_bibtex", "trainable_params", "write_paper"]
