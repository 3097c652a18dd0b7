"""Result tables from the run records: one Markdown, LaTeX and CSV table per protocol.

    write_tables("results")        # -> results/tables/<protocol>.{md,tex,csv} + figures/<protocol>/

Every number is recomputed from the per-epoch predictions (``fold-<k>.npz``) with
:mod:`benchmark.metrics`; the JSON records supply the context (protocol, dataset, model, timing,
environment). How each column is aggregated:

* Acc, MF1, kappa, per-class F1: pooled over all test epochs of all folds of one seed (the usual
  way sleep-staging papers report cross-validation), then mean (+- sd) over seeds.
* MF1 / kappa per subject: each test subject's score, averaged over seeds, then mean +- sd over
  subjects; the spread between people, which pooled numbers hide.
* Comparison with the reference model: :func:`benchmark.stats.paired_comparison` on per-subject
  macro-F1 (seed-averaged), so the subject, not the epoch, is the unit of inference.

A table never mixes protocols or datasets: records of one protocol that disagree on the protocol
hash, the data source or preprocessing, or the checksum of any recording raise
:class:`~benchmark.reporting.records.MixedRecordsError` (stale records must be moved away; nothing
is silently split or merged). A model that lacks some folds is flagged in its row ("(2/3 folds)"),
never silently averaged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sleep_edf import STAGES

from ..metrics import epoch_metrics, grouped_scores, mean_sd
from ..stats import EXACT_MAX_N, average_over_seeds
from .contrasts import CMP_COLUMNS, N_RESAMPLES, compare
from .display import folds_text
from .formatting import p_text
from .records import Run, check_consistent, expected_folds, load_records

#: Models used as the reference, in order of preference, when none is named.
DEFAULT_REFERENCES = ("vivit", "majority")


def resolve_reference(models, reference: str | None) -> str | None:
    """``reference`` if given, else the first of :data:`DEFAULT_REFERENCES` present, else None."""
    if reference is not None:
        return reference if reference in models else None
    return next((m for m in DEFAULT_REFERENCES if m in models), None)


def _seed_scores(runs: list[Run]) -> dict:
    """Pooled and per-subject metrics of one seed's runs (folds concatenated)."""
    cat = {k: np.concatenate([r.arrays[k] for r in runs]) for k in ("y_true", "y_pred", "subject")}
    per_subject = grouped_scores(cat["y_true"], cat["y_pred"], cat["subject"])
    return {"pooled": epoch_metrics(cat["y_true"], cat["y_pred"]),
            "subject_mf1": {s: m["macro_f1"] for s, m in per_subject.items()},
            "subject_kappa": {s: m["kappa"] for s, m in per_subject.items()},
            "fit_s": sum(r.record["timing"]["fit_s"] for r in runs)}


def _model_row(model: str, runs: list[Run], folds: list[int]) -> tuple[dict, dict]:
    """The numeric table row of one model, and its seed-averaged per-subject macro-F1."""
    by_seed = defaultdict(list)
    for r in sorted(runs, key=lambda r: (r.seed, r.fold)):
        by_seed[r.seed].append(r)
    scores = [_seed_scores(rs) for rs in by_seed.values()]
    found = [len({r.fold for r in rs} & set(folds)) for rs in by_seed.values()]
    row = {"model": model, "seeds": len(by_seed), "folds_expected": len(folds),
           "folds_found_min": min(found), "folds_found_max": max(found),
           "complete": min(found) == len(folds)}
    for key in ("accuracy", "macro_f1", "kappa"):
        row[key], row[f"{key}_sd"] = mean_sd(s["pooled"][key] for s in scores)
    subject_mf1 = average_over_seeds([s["subject_mf1"] for s in scores])
    subject_kappa = average_over_seeds([s["subject_kappa"] for s in scores])
    row["n_subjects"] = len(subject_mf1)
    row["subject_macro_f1_mean"], row["subject_macro_f1_sd"] = mean_sd(subject_mf1.values())
    row["subject_kappa_mean"], row["subject_kappa_sd"] = mean_sd(subject_kappa.values())
    for stage in STAGES:
        row[f"f1_{stage}"] = float(np.mean([s["pooled"]["f1"][stage] for s in scores]))
    n_params = [r.record["model"].get("n_params") for r in runs]
    n_params = [p for p in n_params if p is not None]
    row["n_params"] = float(np.median(n_params)) if n_params else np.nan
    row["fit_s"] = float(np.mean([s["fit_s"] for s in scores]))
    return row, subject_mf1


@dataclass
class ProtocolTable:
    """Everything one protocol's table needs; render with ``to_markdown`` / ``to_latex`` / ``to_csv``.

    Attributes
    ----------
    frame : DataFrame
        One row per model with full-precision numbers (fractions, not percent): the CSV content.
    header : list of (label, text)
        The context block written above the table.
    notes : list of str
        How the columns are computed, written below the table.
    """

    protocol: str
    title: str
    header: list[tuple[str, str]]
    frame: pd.DataFrame
    notes: list[str]
    reference: str | None
    unit: str = "subject"
    runs: list[Run] = field(default_factory=list, repr=False)

    def to_markdown(self) -> str:
        from .markdown import to_markdown

        return to_markdown(self)

    def to_csv(self) -> str:
        from .markdown import to_csv

        return to_csv(self)

    def to_latex(self) -> str:
        from .latex import to_latex

        return to_latex(self)

    def summary(self) -> str:
        """A few plain-text lines for the terminal: the title and each model's headline numbers."""
        lines = [self.title]
        for _, r in self.frame.iterrows():
            s = (f"  {r['model']:<16} MF1 {100 * r['macro_f1']:5.1f}  kappa {r['kappa']:.3f}  "
                 f"acc {100 * r['accuracy']:5.1f}  ({r['folds_found_min']}/{r['folds_expected']} folds, "
                 f"{r['seeds']} seed(s))")
            if self.reference and r["model"] != self.reference and pd.notna(r.get("delta_macro_f1")):
                s += f"  dMF1 vs {self.reference} {100 * r['delta_macro_f1']:+.1f} pp, p={p_text(r['p_wilcoxon'])}"
            lines.append(s)
        return "\n".join(lines)


def build_table(protocol: str, runs: list[Run], reference: str | None = None) -> ProtocolTable:
    """The table of one protocol's records (checked with :func:`check_consistent` first)."""
    check_consistent(protocol, runs)
    rec0 = runs[0].record
    folds, from_file = expected_folds(protocol, runs)
    by_model = defaultdict(list)
    for r in runs:
        by_model[r.model].append(r)
    ref = resolve_reference(by_model, reference)
    rows, subject_mf1 = [], {}
    for model, model_runs in sorted(by_model.items()):
        row, subject_mf1[model] = _model_row(model, model_runs, folds)
        rows.append(row)
    if ref is not None:
        for row in rows:
            if row["model"] != ref:
                row.update(compare(subject_mf1[row["model"]], subject_mf1[ref]))
    frame = pd.DataFrame(rows)
    frame.insert(1, "reference", frame["model"] == ref)
    frame = frame.sort_values(["reference", "macro_f1", "model"], ascending=[False, False, True])
    frame = frame.reset_index(drop=True)
    for col in CMP_COLUMNS:  # None (undefined) -> NaN, so the columns stay numeric
        if col in frame:
            frame[col] = pd.to_numeric(frame[col].astype(object).where(frame[col].notna(), np.nan))

    kind = rec0["protocol"]["kind"]
    ds = rec0["dataset"]
    surrogate = ds["source"] == "surrogate"
    unit = "block" if kind == "within-night" else "subject"
    title = rec0["protocol"].get("title") or protocol
    if kind == "within-night" and "within-night sanity check" not in title.lower():
        title = f"Within-night sanity check (not a benchmark result): {title}"
    if surrogate:
        title = f"[SURROGATE data: synthetic EEG, not Sleep-EDF] {title}"
    nights: dict[str, int] = {}  # test night -> epochs (the same in every record, checked above)
    for r in runs:
        names, counts = np.unique(r.arrays["recording"], return_counts=True)
        nights.update((str(k), int(c)) for k, c in zip(names, counts) if str(k) not in nights)
    test_units = sorted({int(s) for r in runs for s in r.record["subjects"]["test"]})
    seeds = sorted({r.seed for r in runs})
    commits = sorted({str(r.record.get("environment", {}).get("git_commit")) for r in runs})
    dataset = ("SURROGATE: synthetic EEG written by sleepbench (datasets/surrogate.py), NOT real "
               "Sleep-EDF recordings; these numbers say nothing about real sleep staging"
               if surrogate else f"{ds['source']} (PhysioNet Sleep-EDF Expanded)")
    incomplete = [f"{r['model']} ({folds_text(r)})" for _, r in frame.iterrows() if not r["complete"]]
    header = [
        ("Dataset", dataset),
        ("Channels", ", ".join(ds.get("channels", []))),
        ("Sampling rate", f"{ds.get('sfreq', float('nan')):g} Hz"),
        ("Epoch length", f"{ds.get('epoch_sec', 30.0):g} s (wake kept up to "
                         f"{ds.get('wake_margin_min', float('nan')):g} min before and after sleep)"),
        ("Protocol", f"{protocol} v{rec0['protocol'].get('version')} ({kind})"),
        ("Protocol hash", rec0["protocol"]["hash"]),
        (f"Test {unit}s", f"{len(test_units)}"),
        ("Test nights" if unit == "subject" else "Test night blocks", f"{len(nights)}"),
        ("Test epochs", f"{sum(nights.values())}"),
        ("Folds", f"{len(folds)}" + ("" if from_file else " (inferred from the records: the committed "
                                      "protocol file is missing or has another hash)")),
        ("Seeds", ", ".join(map(str, seeds))),
        ("Git commit(s)", ", ".join(commits)),
        ("Generated", datetime.now(timezone.utc).isoformat(timespec="seconds")),
        ("Reference", _reference_text(ref, reference)),
    ]
    if incomplete:
        header.append(("Incomplete (flagged, not comparable)", "; ".join(incomplete)))
    notes = _notes(unit, ref, frame)
    if kind == "within-night":
        notes.insert(0, f"Units are contiguous blocks of one night ({', '.join(sorted(nights))}), "
                        "not subjects: this checks the pipeline, it is not a benchmark result, and its "
                        "p-values are not inference about people.")
        whole = sorted({r.model for r in runs if r.record.get("prediction_context") == "whole night"})
        if whole:  # zero-shot entries normalised over the night (ProtocolData.predict_proba)
            notes.insert(1, f"{', '.join(whole)}: zero-shot (learns nothing), so it predicts on the whole "
                            "night's signal (no labels) and is scored on the test block's epochs; "
                            "every other entry sees only its test block.")
    return ProtocolTable(protocol, title, header, frame, notes, ref, unit, runs)


def build_tables(results_dir, reference: str | None = None) -> dict[str, ProtocolTable]:
    """:func:`build_table` for every protocol with records under ``results_dir``."""
    return {p: build_table(p, runs, reference) for p, runs in load_records(results_dir).items()}


def write_tables(results_dir, reference: str | None = None, out_dir=None,
                 figures: bool = True) -> list[Path]:
    """Write ``<protocol>.md``, ``.tex`` and ``.csv`` (and figures) for every protocol with records.

    Parameters
    ----------
    results_dir : path
        Folder holding ``runs/``.
    reference : str, optional
        Model the others are compared with; default ``vivit``, else ``majority``, else none (then
        the comparison columns are left out). A named model absent from a protocol also leaves
        them out there, with a note.
    out_dir : path, optional
        Where to write; default ``results_dir/tables``. Figures go to ``out_dir/figures/<protocol>/``.
    figures : bool
        Also write the figures of :func:`benchmark.reporting.figures.write_figures`.

    Returns
    -------
    list of Path
        Every file written (tables first). All protocols are checked before anything is written,
        so a :class:`MixedRecordsError` leaves no partial output.
    """
    out = Path(out_dir) if out_dir is not None else Path(results_dir) / "tables"
    tables = build_tables(results_dir, reference)
    paths = []
    for name, table in tables.items():
        out.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".md", table.to_markdown()), (".tex", table.to_latex()),
                             (".csv", table.to_csv())):
            path = out / f"{name}{suffix}"
            path.write_text(text)
            paths.append(path)
    if figures:
        from .figures import write_figures

        for name, table in tables.items():
            paths += write_figures(results_dir, name, out_dir=out / "figures" / name, table=table)
    from .sleepstats import write_sleepstats  # <protocol>-sleepstats.{md,tex,csv} + Bland-Altman

    paths += write_sleepstats(tables, out, figures=figures)
    return paths


def format_summary(tables: dict[str, ProtocolTable]) -> str:
    """Plain-text summary of :func:`build_tables`' output, one block per protocol."""
    return "\n\n".join(t.summary() for t in tables.values())


def _reference_text(ref: str | None, asked: str | None) -> str:
    if ref is not None:
        return (f"{ref}: others are compared with it on per-subject macro-F1 (seed-averaged), "
                "paired over the test subjects both have")
    if asked is not None:
        return f"{asked!r} has no records in this protocol: comparisons omitted"
    return "none (no vivit or majority records): comparisons omitted"


def _notes(unit: str, ref: str | None, frame: pd.DataFrame) -> list[str]:
    notes = [
        "Acc, MF1 (macro-F1 over W, N1, N2, N3, REM), kappa (Cohen) and per-class F1: pooled over all "
        "test epochs of all folds of a seed, then mean (± sd) over seeds; per-class F1 in %.",
        f"MF1/{unit}, kappa/{unit}: each test {unit}'s score averaged over seeds, then mean ± sd over {unit}s.",
        "Params: learned parameters (median over runs). Train: fit time summed over folds, mean over seeds.",
    ]
    if ref is not None:
        exact = "p_exact" in frame and frame["p_exact"].notna().any()
        notes.append(
            f"ΔMF1: model minus {ref} in per-{unit} macro-F1 (percentage points), mean with a percentile "
            f"bootstrap 95% CI ({N_RESAMPLES} resamples of {unit}s, seed 0); p (Wilcoxon): two-sided "
            "signed-rank test" + ("; p (exact): two-sided exact sign-flip permutation test of the mean "
                                  f"(all 2^n sign flips, shown for n < {EXACT_MAX_N})" if exact else "")
            + "; d_z: Cohen's d_z = mean / sd of the paired differences. Uncorrected for multiple comparisons.")
    return notes
