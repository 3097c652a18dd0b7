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
:class:`MixedRecordsError` (stale records must be moved away; nothing is silently split or merged).
A model that lacks some folds is flagged in its row ("(2/3 folds)"), never silently averaged.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sleep_edf import STAGES

from .metrics import epoch_metrics, grouped_scores, mean_sd
from .stats import EXACT_MAX_N, average_over_seeds, paired_comparison

log = logging.getLogger(__name__)

#: Models used as the reference, in order of preference, when none is named.
DEFAULT_REFERENCES = ("vivit", "majority")
ARRAYS = ("y_true", "y_pred", "subject", "recording", "epoch")
N_RESAMPLES = 10_000
CMP_COLUMNS = ("n_pairs", "delta_macro_f1", "ci_low", "ci_high", "p_wilcoxon", "p_exact", "d_z",
               "rank_biserial")


class MixedRecordsError(ValueError):
    """Records of one protocol come from different protocol versions or datasets."""


@dataclass
class Run:
    """One finished (protocol, model, seed, fold) record; its predictions load on first use."""

    path: Path
    record: dict

    model = property(lambda self: self.record["model"]["name"])
    seed = property(lambda self: int(self.record["seed"]))
    fold = property(lambda self: int(self.record["fold"]))

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.path.with_suffix(".npz")) as z:
            return {k: z[k] for k in ARRAYS}


def load_records(results_dir) -> dict[str, list[Run]]:
    """Every finished record under ``results_dir/runs/*/*/seed-*/fold-*.json``, by protocol name.

    A record whose JSON does not parse, whose schema is unknown or whose ``.npz`` is missing is
    skipped with a warning (its fold then shows as missing in the table).
    """
    out: dict[str, list[Run]] = defaultdict(list)
    for js in sorted(Path(results_dir).glob("runs/*/*/seed-*/fold-*.json")):
        try:
            record = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable record %s: %s", js, exc)
            continue
        if record.get("schema") != 1:
            log.warning("skipping %s: unknown record schema %r", js, record.get("schema"))
            continue
        if not js.with_suffix(".npz").is_file():
            log.warning("skipping %s: its predictions (.npz) are missing", js)
            continue
        out[record["protocol"]["name"]].append(Run(js, record))
    return dict(sorted(out.items()))


def check_consistent(protocol: str, runs: list[Run]) -> None:
    """Raise :class:`MixedRecordsError` unless all ``runs`` share protocol version and dataset."""
    def disagree(what: str, key) -> None:
        seen = defaultdict(list)
        for r in runs:
            seen[json.dumps(key(r.record), sort_keys=True)].append(r.path)
        if len(seen) > 1:
            detail = "; ".join(f"{v} in {len(p)} record(s), e.g. {p[0]}" for v, p in seen.items())
            raise MixedRecordsError(
                f"protocol {protocol!r}: records disagree on {what} ({detail}). A table never mixes "
                f"protocol versions or datasets: move the stale records out of runs/{protocol}/ "
                "(or rerun them with --force) and try again.")

    disagree("the protocol hash", lambda rec: rec["protocol"]["hash"])
    disagree("the dataset source", lambda rec: rec["dataset"]["source"])
    disagree("the preprocessing", lambda rec: {k: v for k, v in rec["dataset"].items()
                                               if k not in ("source", "checksums")})
    sums = defaultdict(set)
    for r in runs:
        for name, pair in r.record["dataset"].get("checksums", {}).items():
            sums[name].add(tuple(pair))
    changed = sorted(n for n, s in sums.items() if len(s) > 1)
    if changed:
        raise MixedRecordsError(
            f"protocol {protocol!r}: records were computed on different files for recording(s) "
            f"{', '.join(changed)} (checksums differ). Move the stale records out of runs/{protocol}/.")


def _expected_folds(protocol: str, runs: list[Run]) -> tuple[list[int], bool]:
    """The protocol's folds when its committed file matches the records' hash, else those seen."""
    from .protocols import load_protocol

    try:
        p = load_protocol(protocol)
        if p["hash"] == runs[0].record["protocol"]["hash"]:
            return [int(f["fold"]) for f in p["folds"]], True
    except (ValueError, KeyError, OSError):
        pass
    return sorted({r.fold for r in runs}), False


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
        lines = [f"# {self.title}", ""] + [f"- **{k}:** {v}" for k, v in self.header] + [""]
        lines += [_display(self, tex=False).to_markdown(index=False, disable_numparse=True), ""]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        head = [f"# {self.title}"] + [f"# {k}: {v}" for k, v in self.header]
        body = self.frame.to_csv(index=False)
        if "#" in body:  # read_csv(comment="#") would cut the row short
            raise ValueError(f"protocol {self.protocol!r}: a table cell contains '#'")
        return "\n".join(_one_line(h) for h in head) + "\n" + body

    def to_latex(self) -> str:
        disp = _display(self, tex=True)
        spec = "l" + "r" * (disp.shape[1] - 1)
        row = lambda cells: " & ".join(cells) + r" \\"
        caption = (f"{_tex(self.title)}. Dataset: {_tex(dict(self.header)['Dataset'])}. "
                   f"Protocol {_tex(self.protocol)}, hash \\texttt{{{dict(self.header)['Protocol hash'][:12]}}}.")
        lines = [f"% {_ascii(self.title)}"] + [f"% {k}: {_ascii(v)}" for k, v in self.header]
        lines += [f"% Note: {_ascii(n)}" for n in self.notes]
        lines += ["% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
                  r"\begin{table}[htbp]", r"\centering", f"\\caption{{{caption}}}",
                  f"\\label{{tab:{_tex(self.protocol)}}}", r"\resizebox{\textwidth}{!}{%",
                  f"\\begin{{tabular}}{{{spec}}}", r"\toprule", row(list(disp.columns)), r"\midrule"]
        lines += [row(list(cells)) for cells in disp.itertuples(index=False)]
        lines += [r"\bottomrule", r"\end{tabular}%", "}", r"\end{table}"]
        return "\n".join(lines) + "\n"

    def summary(self) -> str:
        """A few plain-text lines for the terminal: the title and each model's headline numbers."""
        lines = [self.title]
        for _, r in self.frame.iterrows():
            s = (f"  {r['model']:<16} MF1 {100 * r['macro_f1']:5.1f}  kappa {r['kappa']:.3f}  "
                 f"acc {100 * r['accuracy']:5.1f}  ({r['folds_found_min']}/{r['folds_expected']} folds, "
                 f"{r['seeds']} seed(s))")
            if self.reference and r["model"] != self.reference and pd.notna(r.get("delta_macro_f1")):
                s += f"  dMF1 vs {self.reference} {100 * r['delta_macro_f1']:+.1f} pp, p={_p(r['p_wilcoxon'])}"
            lines.append(s)
        return "\n".join(lines)


def build_table(protocol: str, runs: list[Run], reference: str | None = None) -> ProtocolTable:
    """The table of one protocol's records (checked with :func:`check_consistent` first)."""
    check_consistent(protocol, runs)
    rec0 = runs[0].record
    folds, from_file = _expected_folds(protocol, runs)
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
            if row["model"] == ref:
                continue
            c = paired_comparison(subject_mf1[row["model"]], subject_mf1[ref], n_resamples=N_RESAMPLES, seed=0)
            row.update(n_pairs=c.n, delta_macro_f1=c.mean_diff, ci_low=c.ci_low, ci_high=c.ci_high,
                       p_wilcoxon=c.p_wilcoxon, p_exact=c.p_exact, d_z=c.d_z, rank_biserial=c.rank_biserial)
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
    incomplete = [f"{r['model']} ({_folds(r)})" for _, r in frame.iterrows() if not r["complete"]]
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
        Also write the figures of :func:`benchmark.figures.write_figures`.

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
    return paths


def format_summary(tables: dict[str, ProtocolTable]) -> str:
    """Plain-text summary of :func:`build_tables`' output, one block per protocol."""
    return "\n\n".join(t.summary() for t in tables.values())


# --- formatting ---------------------------------------------------------------------------------

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


def _display(t: ProtocolTable, tex: bool) -> pd.DataFrame:
    """The human-readable table: percent, ± spreads, flags; LaTeX or Unicode notation."""
    pm = r" $\pm$ " if tex else " ± "
    kappa = r"$\kappa$" if tex else "κ"
    pct = r"\%" if tex else "%"
    esc = _tex if tex else (lambda s: s)
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
            name += f" ({_folds(r)})"
        d = {"Model": esc(name), "Folds": f"{r['folds_found_min']}/{r['folds_expected']}",
             "Seeds": str(r["seeds"]),
             f"Acc ({pct})": spread(r["accuracy"], r["accuracy_sd"], 100, 1),
             f"MF1 ({pct})": spread(r["macro_f1"], r["macro_f1_sd"], 100, 1),
             kappa: spread(r["kappa"], r["kappa_sd"], 1, 3),
             f"MF1/{t.unit} ({pct})": spread(r["subject_macro_f1_mean"], r["subject_macro_f1_sd"], 100, 1),
             f"{kappa}/{t.unit}": spread(r["subject_kappa_mean"], r["subject_kappa_sd"], 1, 3)}
        d.update({f"F1 {s}": f"{100 * r[f'f1_{s}']:.1f}" for s in STAGES})
        d["Params"] = _count(r["n_params"])
        d["Train"] = _duration(r["fit_s"])
        if has_cmp:
            cmp = not r["reference"] and pd.notna(r.get("delta_macro_f1"))
            dash = "--" if tex else "—"
            d[r"$\Delta$MF1 (pp)" if tex else "ΔMF1 (pp)"] = f"{100 * r['delta_macro_f1']:+.1f}" if cmp else dash
            d[f"95{pct} CI"] = (f"[{100 * r['ci_low']:+.1f}, {100 * r['ci_high']:+.1f}]"
                                if cmp and pd.notna(r["ci_low"]) else dash)
            d["p (Wilcoxon)" if not tex else "$p$ (Wilcoxon)"] = _p(r["p_wilcoxon"], tex) if cmp else dash
            if show_exact:
                d["p (exact)" if not tex else "$p$ (exact)"] = _p(r["p_exact"], tex) if cmp else dash
            d["$d_z$" if tex else "d_z"] = f"{r['d_z']:+.2f}" if cmp and pd.notna(r["d_z"]) else dash
        rows.append(d)
    return pd.DataFrame(rows)


def _folds(r) -> str:
    lo, hi, n = r["folds_found_min"], r["folds_found_max"], r["folds_expected"]
    return f"{lo}/{n} folds" if lo == hi else f"{lo}-{hi}/{n} folds per seed"


def _p(p, tex: bool = False) -> str:
    if p is None or pd.isna(p):
        return "--" if tex else "—"
    return ("$<$0.001" if tex else "<0.001") if p < 0.001 else f"{p:.3f}"


def _count(n) -> str:
    if pd.isna(n):
        return "?"
    n = float(n)
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.{1 if n / div >= 10 else 2}f}{suffix}"
    return f"{n:.0f}"


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "±": r"$\pm$", "κ": r"$\kappa$", "Δ": r"$\Delta$", "—": "---", "–": "--"}


def _tex(s: str) -> str:
    """Escape text for LaTeX (special characters, and the few Unicode symbols the tables use)."""
    return re.sub("|".join(map(re.escape, _TEX_SPECIAL)), lambda m: _TEX_SPECIAL[m.group()], str(s))


def _one_line(s: str) -> str:
    return " ".join(str(s).split())


def _ascii(s: str) -> str:
    """One line of plain ASCII, for LaTeX comments (safe under any input encoding)."""
    for u, a in (("±", "+/-"), ("κ", "kappa"), ("Δ", "Delta"), ("—", "-"), ("–", "-")):
        s = str(s).replace(u, a)
    return _one_line(s).encode("ascii", "replace").decode()
