"""Result tables from the run records: one Markdown, LaTeX and CSV table per protocol.

    write_tables("results")        # -> results/tables/<protocol>.{md,tex,csv} + figures/<protocol>/

Every number is recomputed from the per-epoch predictions (``fold-<k>.npz``) with
:mod:`sleepbench.benchmark.metrics`; the JSON records supply the context (protocol, dataset, model, timing,
environment). How each column is aggregated:

* Acc, MF1, kappa, per-class F1: pooled over all test epochs of all folds of one seed (the usual
  way sleep-staging papers report cross-validation), then mean (+- sd) over seeds.
* MF1 / kappa per subject: each test subject's score, averaged over seeds, then mean +- sd over
  subjects; the spread between people, which pooled numbers hide.
* Comparison with the reference model: :func:`sleepbench.benchmark.stats.paired_comparison` on per-subject
  macro-F1 (seed-averaged), so the subject, not the epoch, is the unit of inference.

A table never mixes protocols or datasets: records of one protocol that disagree on the protocol
hash, the data source or preprocessing, or the checksum of any recording raise
:class:`~benchmark.reporting.records.MixedRecordsError` (stale records must be moved away; nothing
is silently split or merged). Nor does a row mix experiments: the records of one model must agree
on resolved parameters, code hash, FIN weights, device and the versions of torch, numpy,
scikit-learn and mne (:func:`~benchmark.reporting.records.check_model_consistent`).

A row is flagged, never silently averaged, when a model lacks folds ("(2/3 folds)") or seeds
("(1/3 seeds)"), or when a fold lost data (its subjects differ from the protocol's lists) or was
trained without validation data; the header lists what was missing, and a flagged row gets no ΔMF1
or p-values (neither against the reference nor in the declared contrasts). What is wrong with a
row travels as data (:class:`~benchmark.reporting.problems.Problem`, ``ProtocolTable.problems``):
every rendering decides by the problems' kinds, never by their wording.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from sleepbench.datasets.sleep_edf import STAGES

from ..metrics import epoch_metrics, grouped_scores, mean_sd
from ..stats import average_over_seeds
from .contrasts import CMP_COLUMNS, compare, declared_contrasts
from .display import flagged_rows, folds_text, row_flag, row_note, seeds_text
from .entry_reports import imitation_summary, training_summary
from .formatting import fixed, p_text
from .notes import column_notes, kernel_sets, kernel_sets_text, packages_text, reference_text
from .problems import (
    DATA,
    FLAGS_COLUMN,
    MISSING_FOLDS,
    MISSING_SEEDS,
    MIXED_KERNEL_SETS,
    Problem,
    is_compared,
    is_complete,
    kinds,
    problem,
    texts,
)
from .records import (
    Run,
    check_consistent,
    check_model_consistent,
    device_text,
    expected_folds,
    fold_problems,
    load_records,
)
from .reported import reported_csv, reported_frame
from .selection import Selection, apply_selection, check_results_dir, make_selection

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


def _model_row(model: str, runs: list[Run], folds: list[int], seeds: list[int],
               protocol_folds: dict | None) -> tuple[dict, dict, list[Problem]]:
    """The numeric row of one model, its seed-averaged per-subject macro-F1, and its problems
    (:mod:`.problems`: missing folds per seed, missing seeds, each record's lost data or missing
    validation, mixed CPU kernel sets).

    ``seeds`` are the seeds every model should have (the suite's, else every seed seen in the
    protocol); ``protocol_folds`` maps fold number -> the protocol's fold (None when the committed
    protocol file does not match the records).
    """
    by_seed = defaultdict(list)
    for r in sorted(runs, key=lambda r: (r.seed, r.fold)):
        by_seed[r.seed].append(r)
    scores = [_seed_scores(rs) for rs in by_seed.values()]
    found = [len({r.fold for r in rs} & set(folds)) for rs in by_seed.values()]
    problems = []
    for seed, rs in by_seed.items():
        missing_folds = [f for f in folds if f not in {r.fold for r in rs}]
        if missing_folds:
            problems.append(problem(MISSING_FOLDS, seed=seed, folds=", ".join(map(str, missing_folds))))
    missing_seeds = [s for s in seeds if s not in by_seed]
    if missing_seeds:
        problems.append(problem(MISSING_SEEDS, seeds=", ".join(map(str, missing_seeds))))
    for r in sorted(runs, key=lambda r: (r.seed, r.fold)):
        fold = protocol_folds.get(r.fold) if protocol_folds is not None else None
        problems += [p.in_record(r.seed, r.fold) for p in fold_problems(r, fold)]
    if len(kernel_sets(runs)) > 1:
        problems.append(problem(MIXED_KERNEL_SETS, sets=kernel_sets_text(runs)))
    row = {"model": model, "seeds": len(by_seed), "seeds_expected": len(set(seeds) | set(by_seed)),
           "folds_expected": len(folds), "folds_found_min": min(found), "folds_found_max": max(found),
           "complete": is_complete(problems)}
    row["flags"] = "; ".join(texts(problems, FLAGS_COLUMN))
    row["cpu_kernel_sets"] = kernel_sets_text(runs)
    row["mixed_kernel_sets"] = MIXED_KERNEL_SETS in kinds(problems)
    for key in ("accuracy", "macro_f1", "kappa"):
        row[key], row[f"{key}_sd"] = mean_sd(s["pooled"][key] for s in scores)
    subject_mf1 = average_over_seeds([s["subject_mf1"] for s in scores])
    subject_kappa = average_over_seeds([s["subject_kappa"] for s in scores])
    row["n_subjects"] = len(subject_mf1)
    row["subject_macro_f1_mean"], row["subject_macro_f1_sd"] = mean_sd(subject_mf1.values())
    row["subject_kappa_mean"], row["subject_kappa_sd"] = mean_sd(subject_kappa.values())
    for stage in STAGES:
        row[f"f1_{stage}"] = float(np.mean([s["pooled"]["f1"][stage] for s in scores]))
    for key in ("n_params", "n_trainable_params"):  # None: the entry does not report it
        values = [r.record["model"][key] for r in runs if r.record["model"][key] is not None]
        row[key] = float(np.median(values)) if values else np.nan
    row["fit_s"] = float(np.mean([s["fit_s"] for s in scores]))
    row.update(training_summary(runs))
    row.update(imitation_summary(runs))
    return row, subject_mf1, problems


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
    problems : dict
        model -> its :class:`~benchmark.reporting.problems.Problem` list (empty when nothing is
        wrong): what the renderings flag, by kind.
    """

    protocol: str
    title: str
    header: list[tuple[str, str]]
    frame: pd.DataFrame
    notes: list[str]
    reference: str | None
    unit: str = "subject"
    runs: list[Run] = field(default_factory=list, repr=False)
    #: The declared contrasts (:func:`~benchmark.reporting.contrasts.declared_contrasts`), or None.
    contrasts: pd.DataFrame | None = None
    #: Where the contrasts were declared (e.g. ``suite quick``).
    contrasts_source: str | None = None
    #: Compiled provenance: one sentence per fact (dataset, protocol, seeds, units, commit).
    provenance: list[str] = field(default_factory=list)
    #: model -> what is wrong with its row (:mod:`.problems`); every flag is read from the kinds.
    problems: dict[str, list[Problem]] = field(default_factory=dict)
    #: The figures the authors of the table's entries published (:func:`~.reported.reported_frame`),
    #: or None: a block of its own, in no row, statistic or contrast of the measured table.
    reported: pd.DataFrame | None = None

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
                s += (f"  dMF1 vs {self.reference} {fixed(r['delta_macro_f1'], 1, scale=100, signed=True)} pp, "
                      f"p={p_text(r['p_wilcoxon'])}")
            flag = row_flag(r, self.problems[r["model"]])
            if flag:
                s += f"  FLAGGED ({flag}): not compared"
            lines.append(s)
        return "\n".join(lines)


def build_table(protocol: str, runs: list[Run], reference: str | None = None,
                contrasts: list[tuple[str, str]] | None = None, seeds: list[int] | None = None,
                contrasts_source: str | None = None, expected_models: list[str] | None = None,
                ) -> ProtocolTable:
    """The table of one protocol's records.

    Parameters
    ----------
    protocol, runs
        The protocol's name and its records (checked with :func:`check_consistent` and, per model,
        :func:`check_model_consistent` first).
    reference : str, optional
        See :func:`write_tables`.
    contrasts : list of (model, reference), optional
        Declared contrasts (a suite's); None: those of the committed suites running this protocol
        whose models both have records.
    seeds : list of int, optional
        The seeds every model should have (a suite's); default every seed seen in the protocol.
    expected_models : list of str, optional
        Models the table should have (a suite's); those without records are listed in the header.
    """
    check_consistent(protocol, runs)
    rec0 = runs[0].record
    folds, from_file = expected_folds(protocol, runs)
    protocol_folds = None
    if from_file:
        from ..protocols import load_protocol

        protocol_folds = {int(f["fold"]): f for f in load_protocol(protocol)["folds"]}
    by_model = defaultdict(list)
    for r in runs:
        by_model[r.model].append(r)
    for model, model_runs in sorted(by_model.items()):
        check_model_consistent(protocol, model, model_runs)
    all_seeds = sorted({r.seed for r in runs})
    expected_seeds = sorted(seeds) if seeds is not None else all_seeds
    ref = resolve_reference(by_model, reference)
    rows, subject_mf1, problems = [], {}, {}
    for model, model_runs in sorted(by_model.items()):
        row, subject_mf1[model], problems[model] = _model_row(model, model_runs, folds, expected_seeds,
                                                              protocol_folds)
        rows.append(row)
    # a row with a problem of a NOT_COMPARED kind is compared with nothing
    why_not = {r["model"]: _why_not(r, problems[r["model"]]) for r in rows
               if not is_compared(problems[r["model"]])}
    if ref is not None:
        for row in rows:
            if row["model"] != ref and row["model"] not in why_not and ref not in why_not:
                row.update(compare(subject_mf1[row["model"]], subject_mf1[ref]))
    frame = pd.DataFrame(rows)
    frame.insert(1, "reference", frame["model"] == ref)
    frame["comparable"] = ~frame["model"].isin(list(why_not))
    frame = frame.sort_values(["reference", "macro_f1", "model"], ascending=[False, False, True])
    frame = frame.reset_index(drop=True)
    for col in CMP_COLUMNS:  # None (undefined) -> NaN, so the columns stay numeric
        if col in frame:
            frame[col] = pd.to_numeric(frame[col].astype(object).where(frame[col].notna(), np.nan))

    if contrasts is None:
        from ..suites import suites_for_protocol

        # the whole family the suites declare (a pair without records stays in it, not computed),
        # when at least one of its pairs can be computed
        declared = [(suite["name"], pair) for suite in suites_for_protocol(protocol)
                    for pair in suite["contrasts"]]
        if not any(all(m in by_model for m in pair) for _, pair in declared):
            declared = []
        contrasts = list(dict.fromkeys(pair for _, pair in declared))
        if contrasts and contrasts_source is None:
            contrasts_source = "suite(s) " + ", ".join(sorted({n for n, _ in declared})) + " (benchmark/suites)"
    code_files = {m: rs[0].record["identity"]["code_files"] for m, rs in by_model.items()}
    contrast_frame = declared_contrasts(contrasts, subject_mf1, why_not, code_files) if contrasts else None

    kind = rec0["protocol"]["kind"]
    ds = rec0["dataset"]
    surrogate = ds["source"] == "surrogate"
    unit = "block" if kind == "within-night" else "subject"
    title = rec0["protocol"]["title"]
    if kind == "within-night" and "within-night sanity check" not in title.lower():
        title = f"Within-night sanity check (not a benchmark result): {title}"
    if surrogate:
        title = f"[SURROGATE data: synthetic EEG, not Sleep-EDF] {title}"
    nights: dict[str, int] = {}  # test night -> epochs (the same in every record, checked above)
    for r in runs:
        names, counts = np.unique(r.arrays["recording"], return_counts=True)
        nights.update((str(k), int(c)) for k, c in zip(names, counts) if str(k) not in nights)
    test_units = sorted({int(s) for r in runs for s in r.record["subjects"]["test"]})
    commits = sorted({str(r.record["environment"]["git_commit"]) for r in runs})
    dirty = [c for c in commits if c.endswith("-dirty")]
    dataset = ("SURROGATE: synthetic EEG written by sleepbench (datasets/surrogate.py), NOT real "
               "Sleep-EDF recordings; these numbers say nothing about real sleep staging"
               if surrogate else f"{ds['source']} (PhysioNet Sleep-EDF Expanded)")
    incomplete = [f"{r['model']} ({_incomplete_text(r, problems[r['model']])})" for _, r in frame.iterrows()
                  if not is_complete(problems[r["model"]])]
    lost = [f"{m}: {'; '.join(texts(problems[m], DATA))}" for m in sorted(problems) if kinds(problems[m]) & DATA]
    not_run = [m for m in (expected_models or []) if m not in by_model]
    header = [
        ("Dataset", dataset),
        ("Channels", ", ".join(ds["channels"])),
        ("Sampling rate", f"{ds['sfreq']:g} Hz"),
        ("Epoch length", f"{ds['epoch_sec']:g} s (wake kept up to "
                         f"{ds['wake_margin_min']:g} min before and after sleep)"),
        ("Protocol", f"{protocol} v{rec0['protocol']['version']} ({kind})"),
        ("Protocol hash", rec0["protocol"]["hash"]),
        (f"Test {unit}s", f"{len(test_units)}"),
        ("Test nights" if unit == "subject" else "Test night blocks", f"{len(nights)}"),
        ("Test epochs", f"{sum(nights.values())}"),
        ("Folds", f"{len(folds)}" + ("" if from_file else " (inferred from the records: the committed "
                                      "protocol file is missing or has another hash)")),
        ("Seeds", ", ".join(map(str, expected_seeds))
         + ("" if seeds is None else " (the suite's)")),
        ("Git commit(s)", ", ".join(commits)
         + (" — UNCOMMITTED CHANGES (-dirty): the code that made these records is not the "
            "commit's; rerun from a clean checkout before citing" if dirty else "")),
        ("Package versions", packages_text(runs)),
        ("Device(s)", ", ".join(sorted({device_text(r.record["environment"]["device"]) for r in runs}))),
        ("CPU kernel set(s)", kernel_sets_text(runs)),
        ("Precision", ", ".join(sorted({r.record["precision"] for r in runs}))),
        ("Generated", datetime.now(timezone.utc).isoformat(timespec="seconds")),
        ("Reference", reference_text(ref, reference)),
    ]
    if incomplete:
        header.append(("Incomplete (flagged, not comparable)", "; ".join(incomplete)))
    if lost:
        header.append(("Lost data or no validation (flagged, not comparable)", " | ".join(lost)))
    if not_run:
        header.append(("Not run (no records)", ", ".join(not_run)))
    mixed = [f"{r['model']} ({r['cpu_kernel_sets']})" for _, r in frame.iterrows()
             if row_note(problems[r["model"]])]
    if mixed:
        header.append(("Mixed CPU kernel sets (flagged, still compared)",
                       "; ".join(mixed) + ". Records of one row were trained under different CPU "
                       "kernel sets (e.g. a heterogeneous cluster): each is a valid run of the same "
                       "experiment, but not bit-reproducible as a whole; see docs/reproducibility.md "
                       "for how far kernel sets move a row"))
    notes = column_notes(unit, ref, frame, contrast_frame)
    if kind == "within-night":
        notes.insert(0, f"Units are contiguous blocks of one night ({', '.join(sorted(nights))}), "
                        "not subjects: this checks the pipeline, it is not a benchmark result, and its "
                        "p-values are not inference about people.")
        whole = sorted({r.model for r in runs if r.record["prediction_context"] == "whole night"})
        if whole:  # zero-shot entries normalised over the night (ProtocolData.predict_proba)
            notes.insert(1, f"{', '.join(whole)}: zero-shot (learns nothing), so it predicts on the whole "
                            "night's signal (no labels) and is scored on the test block's epochs; "
                            "every other entry sees only its test block.")
    provenance = [
        f"Data: {'SURROGATE (synthetic EEG, not Sleep-EDF)' if surrogate else ds['source'] + ' (Sleep-EDF Expanded)'}, "
        f"{', '.join(ds['channels'])} at {ds['sfreq']:g} Hz, 30-s epochs.",
        f"Protocol {protocol} v{rec0['protocol']['version']}, hash {rec0['protocol']['hash'][:12]}, "
        f"{len(folds)} folds; {len(test_units)} test {unit}s, {len(nights)} test "
        f"{'nights' if unit == 'subject' else 'night blocks'}, {sum(nights.values())} test epochs.",
        f"Seeds: {', '.join(map(str, expected_seeds))}.",
        f"Commit: {', '.join(c[:12] + ('-dirty' if c.endswith('-dirty') else '') for c in commits)}.",
    ]
    return ProtocolTable(protocol, title, header, frame, notes, ref, unit, runs, contrast_frame,
                         contrasts_source, provenance, problems, reported_frame(list(frame["model"])))


def _incomplete_text(row, problems: list[Problem]) -> str:
    """``2/3 folds, 1/2 seeds``: the records a row lacks ('' when complete)."""
    found = kinds(problems)
    parts = []
    if MISSING_FOLDS in found:
        parts.append(folds_text(row))
    if MISSING_SEEDS in found:
        parts.append(seeds_text(row))
    return ", ".join(parts)


def _why_not(row, problems: list[Problem]) -> str:
    """Why a row is not compared with anything ('' when it is comparable)."""
    parts = [_incomplete_text(row, problems)] if not is_complete(problems) else []
    if kinds(problems) & DATA:
        parts.append("lost data or no validation")
    return ", ".join(parts)


def build_tables(results_dir, reference: str | None = None, selection: Selection | None = None,
                 ) -> dict[str, ProtocolTable]:
    """:func:`build_table` for every protocol with (selected) records under ``results_dir``.

    With a ``selection`` (:func:`~benchmark.reporting.selection.make_selection`), a missing or
    empty results folder and unknown protocols, models or reference are errors (``ValueError`` /
    ``FileNotFoundError``) naming what exists; without one, nothing is checked and a folder without
    records gives no tables (the library default).
    """
    if selection is None:
        records = load_records(results_dir)
        return {p: build_table(p, runs, reference) for p, runs in records.items()}
    check_results_dir(results_dir)
    if reference is not None:
        selection.reference = reference
    records = apply_selection(load_records(results_dir), selection)
    source = f"suite {selection.suite}" if selection.suite else None
    tables = {}
    for p, runs in records.items():
        if selection.seeds is not None:  # a suite's table: its seeds only (others are other runs)
            runs = [r for r in runs if r.seed in selection.seeds] or runs
        ref = selection.reference
        if ref is not None and ref not in {r.model for r in runs}:
            ref = None  # present in another selected protocol only
        tables[p] = build_table(p, runs, ref if ref is not None else reference,
                                contrasts=selection.contrasts, seeds=selection.seeds,
                                contrasts_source=source, expected_models=selection.models if selection.suite else None)
    return tables


def write_tables(results_dir, reference: str | None = None, out_dir=None,
                 figures: bool = True, protocol: str | None = None, models=None, exclude=None,
                 suite: str | None = None) -> list[Path]:
    """Write ``<protocol>.md``, ``.tex`` and ``.csv`` (and figures) for every protocol with records.

    Parameters
    ----------
    results_dir : path
        Folder holding ``runs/``.
    reference : str, optional
        Model the others are compared with; default the suite's, else ``vivit``, else
        ``majority``, else none (then the comparison columns are left out). A named reference
        must have records in the selection; a protocol where it has none leaves them out, with a note.
    out_dir : path, optional
        Where to write; default ``results_dir/tables``. Figures go to ``out_dir/figures/<protocol>/``.
    figures : bool
        Also write the figures of :func:`sleepbench.benchmark.reporting.figures.write_figures` and the
        learning curves (:func:`sleepbench.benchmark.reporting.learning_curves.learning_curves_figure`).
    protocol, models, exclude, suite
        Selection (:func:`~benchmark.reporting.selection.make_selection`): one protocol; only
        these models / all but these (comma-separated or lists); a suite's protocol, models,
        reference, seeds and declared contrasts. Unknown names are errors listing what exists.

    Returns
    -------
    list of Path
        Every file written (tables first). All protocols are checked before anything is written,
        so a :class:`MixedRecordsError` leaves no partial output. ``<protocol>-contrasts.csv`` is
        written when the table has declared contrasts, ``<protocol>-reported.csv`` when an entry of
        the table declares its authors' figures (:mod:`.reported`).
    """
    out = Path(out_dir) if out_dir is not None else Path(results_dir) / "tables"
    selection = make_selection(protocol, models, exclude, suite, reference)
    tables = build_tables(results_dir, reference, selection)
    paths = []
    for name, table in tables.items():
        out.mkdir(parents=True, exist_ok=True)
        texts = [(".md", table.to_markdown()), (".tex", table.to_latex()), (".csv", table.to_csv())]
        if table.contrasts is not None:
            from .markdown import contrasts_csv

            texts.append(("-contrasts.csv", contrasts_csv(table)))
        if table.reported is not None:  # the authors' figures: a file of their own, never <protocol>.csv
            texts.append(("-reported.csv", reported_csv(table.reported, table.title)))
        for suffix, text in texts:
            path = out / f"{name}{suffix}"
            path.write_text(text)
            paths.append(path)
    if figures:
        from .figures import write_figures
        from .learning_curves import learning_curves_figure

        for name, table in tables.items():
            paths += write_figures(table, out / "figures" / name)
            path = learning_curves_figure(_runs_by_model(table), out / "figures" / name / "learning-curves.png",
                                          _figure_title(table), row_flags(table))
            if path is not None:
                paths.append(path)
    from .sleepstats_tables import write_sleepstats  # <protocol>-sleepstats.{md,tex,csv} + Bland-Altman

    paths += write_sleepstats(tables, out, figures=figures)
    return paths


#: model -> short reason for every row that is flagged (incomplete, lost data, no validation).
row_flags = flagged_rows


def _runs_by_model(table: ProtocolTable) -> dict[str, list[Run]]:
    by_model = defaultdict(list)
    for r in table.runs:
        by_model[r.model].append(r)
    return {m: by_model[m] for m in table.frame["model"]}


def _figure_title(table: ProtocolTable) -> str:
    surrogate = table.runs[0].record["dataset"]["source"] == "surrogate"
    return ("SURROGATE data - " if surrogate else "") + table.protocol


def format_summary(tables: dict[str, ProtocolTable]) -> str:
    """Plain-text summary of :func:`build_tables`' output, one block per protocol."""
    return "\n\n".join(t.summary() for t in tables.values())
