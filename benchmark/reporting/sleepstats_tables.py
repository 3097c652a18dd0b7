"""The sleep-statistics agreement table of a protocol, and its Bland-Altman figures.

    write_sleepstats(results_dir, tables)   # -> tables/<protocol>-sleepstats.{md,tex,csv}
                                            #    + tables/figures/<protocol>/bland-altman-*.png

Numbers come from :mod:`sleepbench.benchmark.sleepstats` (YASA's sleep statistics of every test night's true
and predicted hypnogram; bias with a subject-bootstrap CI, Bland-Altman limits, pingouin's ICC).
Written for subject-wise and cross-study protocols; a within-night protocol's units are blocks of
one night, on which whole-night statistics mean nothing, so it gets none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from .. import sleepstats as ss
from .formatting import ascii_text, dash, fixed, interval, one_line, tex, undefined

log = logging.getLogger(__name__)

N_RESAMPLES = 10_000
#: Header lines of the protocol's main table repeated above the sleep-statistics table.
HEADER_KEYS = ("Dataset", "Channels", "Epoch length", "Protocol", "Protocol hash", "Test subjects",
               "Test nights", "Seeds", "Git commit(s)", "Generated")


@dataclass
class SleepStatsTable:
    """Agreement of every model's sleep statistics with the truth on one protocol's test nights."""

    protocol: str
    title: str
    header: list[tuple[str, str]]
    frame: pd.DataFrame  # sleepstats.agreement(): one row per (model, statistic)
    nights: pd.DataFrame  # sleepstats.per_night()
    notes: list[str]
    reference: str | None
    best: str | None

    def display(self, as_tex: bool = False) -> pd.DataFrame:
        esc = tex if as_tex else (lambda s: s)
        rows, last = [], None
        for _, r in self.frame.iterrows():
            name = r["model"] + (" (ref.)" if r["model"] == self.reference else "") + (
                " (best)" if r["model"] == self.best else "")
            rows.append({
                "Model": esc(name) if name != last else "",
                "Statistic": esc(f"{r['statistic']} ({r['unit']})"),
                "Nights": str(int(r["n_nights"])),
                "True": fixed(r["true_mean"], 1, as_tex=as_tex), "Predicted": fixed(r["pred_mean"], 1, as_tex=as_tex),
                "Bias": fixed(r["bias"], 1, signed=True, as_tex=as_tex),
                "95% CI" if not as_tex else r"95\% CI": interval(r["ci_low"], r["ci_high"], as_tex=as_tex),
                "LoA": interval(r["loa_low"], r["loa_high"], as_tex=as_tex),
                "MAE": fixed(r["mae"], 1, as_tex=as_tex),
                "ICC(A,1)": (dash(as_tex) if undefined(r["icc"]) else fixed(r["icc"], 2) + (
                    "" if undefined(r["icc_low"]) else " " + interval(r["icc_low"], r["icc_high"], 2, signed=False))),
            })
            last = name
        return pd.DataFrame(rows)

    def to_markdown(self) -> str:
        lines = [f"# {self.title}", ""] + [f"- **{k}:** {v}" for k, v in self.header] + [""]
        lines += [self.display().to_markdown(index=False, disable_numparse=True), ""]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        head = [f"# {self.title}"] + [f"# {k}: {v}" for k, v in self.header]
        body = self.frame.to_csv(index=False)
        if "#" in body:
            raise ValueError(f"protocol {self.protocol!r}: a sleep-statistics cell contains '#'")
        return "\n".join(one_line(h) for h in head) + "\n" + body

    def to_latex(self) -> str:
        disp = self.display(as_tex=True)
        row = lambda cells: " & ".join(cells) + r" \\"  # noqa: E731
        header = dict(self.header)
        caption = (f"{tex(self.title)}. Dataset: {tex(header.get('Dataset', ''))}. Protocol "
                   f"{tex(self.protocol)}, hash \\texttt{{{header.get('Protocol hash', '')[:12]}}}; "
                   f"{tex(header.get('Test nights', '?'))} test nights, seeds "
                   f"{tex(header.get('Seeds', '?'))}, commit {tex(header.get('Git commit(s)', '?'))}.")
        lines = [f"% {ascii_text(self.title)}"] + [f"% {k}: {ascii_text(v)}" for k, v in self.header]
        lines += [f"% Note: {ascii_text(n)}" for n in self.notes]
        lines += ["% Needs \\usepackage{booktabs}, \\usepackage{longtable}.",
                  f"\\begin{{longtable}}{{ll{'r' * (disp.shape[1] - 2)}}}",
                  f"\\caption{{{caption}}}\\label{{tab:{tex(self.protocol)}-sleepstats}}\\\\",
                  r"\toprule", row(list(disp.columns)), r"\midrule", r"\endhead"]
        lines += [row(list(cells)) for cells in disp.itertuples(index=False)]
        lines += [r"\bottomrule", r"\end{longtable}"]
        return "\n".join(lines) + "\n"


def build_sleepstats(table, n_resamples: int = N_RESAMPLES) -> SleepStatsTable | None:
    """The sleep-statistics table of one protocol's :class:`~.tables.ProtocolTable`; None for a
    within-night protocol (blocks of one night are not nights)."""
    runs = table.runs
    if not runs or runs[0].record["protocol"].get("kind") == "within-night":
        return None
    nights = ss.per_night(runs)
    frame = ss.agreement(nights, n_resamples=n_resamples, seed=0)
    models = list(table.frame["model"])  # reference first, then by pooled macro-F1
    best = next((m for m in models if m != table.reference), None)
    header = [(k, v) for k, v in table.header if k in HEADER_KEYS]
    header.append(("Models shown in the Bland-Altman figures",
                   ", ".join(f"{m} ({why})" for m, why in ((table.reference, "reference"),
                                                            (best, "best pooled macro-F1"))
                             if m is not None) or "none"))
    surrogate = runs[0].record["dataset"]["source"] == "surrogate"
    title = f"Sleep statistics: predicted vs true hypnograms, {table.protocol}"
    if surrogate:
        title = f"[SURROGATE data: synthetic EEG, not Sleep-EDF] {title}"
    return SleepStatsTable(table.protocol, title, header, frame, nights, _notes(), table.reference,
                           best)


def _notes() -> list[str]:
    return [
        "Per test night, YASA's sleep_statistics() (AASM definitions) on the true and on the "
        "predicted hypnogram; a night's predicted value is averaged over the model's seeds. True / "
        "Predicted: means over nights.",
        "Bias: mean over nights of predicted - true, with a percentile bootstrap 95% CI "
        f"({N_RESAMPLES} resamples of subjects with all their nights, seed 0). LoA: Bland-Altman "
        "95% limits of agreement from one value per subject (the mean over that subject's nights "
        "of true and of predicted): mean ± 1.96 sd of the per-subject differences, since a "
        "subject's nights are not independent. MAE: mean |pred - true| over nights. ICC(A,1): "
        "two-way random, absolute agreement, single measurement (pingouin), over the same "
        "per-subject means, with its 95% CI; undefined (—) for fewer than 3 subjects or no "
        "variation.",
        "Nights are wake-trimmed (wake kept up to 30 min before the first and after the last true "
        "sleep epoch): SE is TST over the kept night, not over lights-off to lights-on; SOL counts "
        "from the kept night's start, so the true SOL is 30 min wherever the recording began over "
        "30 min before sleep, and SOL's bias shows where the model puts sleep onset. TST, WASO, "
        "REM latency (from sleep onset, AASM) and stage minutes/percents are the clinical ones.",
        "Epochs missing inside a night (unscored, movement, bad signal) are unscored (UNS) in both "
        "hypnograms: they count in the kept night's time, never as sleep or wake; a change of stage "
        "across such a gap is not a stage shift. Shifts/h: changes of stage between consecutive "
        "epochs (YASA's transition counts) per hour of the kept night.",
        "Statistics undefined on a night (no sleep: SOL, REM latency, stage %; no REM: REM latency) "
        "leave that night out of that statistic's row (Nights).",
    ]


def bland_altman_figures(st: SleepStatsTable, out_dir: Path) -> list[Path]:
    """One PNG per statistic: Bland-Altman plots (one point per subject: the mean of true and
    predicted over its nights vs their difference, with the mean difference and the 95 % limits of
    agreement) of the reference and the best model side by side."""
    models = [m for m in (st.reference, st.best) if m is not None]
    if not models:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = "SURROGATE data - " if st.title.startswith("[SURROGATE") else ""
    paths = []
    for name in ss.STAT_NAMES:
        from .bibliography import display_name
        from .style import COLUMN_IN, DPI, PAGE_IN, model_style

        # one column for one model, a page width for two; legends below the axes, off the data
        fig = Figure(figsize=(COLUMN_IN if len(models) == 1 else PAGE_IN, 3.2), layout="constrained")
        axes = fig.subplots(1, len(models), squeeze=False)[0]
        for ax, model in zip(axes, models):
            pairs = ss.subject_means(ss.night_pairs(st.nights, model, name))
            row = st.frame[(st.frame["model"] == model) & (st.frame["statistic"] == name)]
            if pairs.empty or row.empty:
                ax.text(0.5, 0.5, "no nights with this statistic defined", ha="center",
                        va="center", transform=ax.transAxes)
            else:
                r = row.iloc[0]
                mean = (pairs["true"] + pairs["pred"]) / 2
                ax.scatter(mean, pairs["pred"] - pairs["true"], s=10, alpha=0.8,
                           color=model_style(model)["color"])
                ax.axhline(r["subject_bias"], color="C3", label=f"mean {fixed(r['subject_bias'], 1, signed=True)}")
                if pd.notna(r["loa_low"]):
                    for v in (r["loa_low"], r["loa_high"]):
                        ax.axhline(v, color="C3", ls="--", lw=0.9)
                    ax.plot([], [], color="C3", ls="--", lw=0.9,
                            label=f"LoA {interval(r['loa_low'], r['loa_high'])}")
                ax.axhline(0, color="0.6", lw=0.6)
                ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=2,
                          frameon=False)
            unit = ss.UNITS[name]
            ax.set_xlabel(f"subject's mean of true and predicted ({unit})")
            ax.set_ylabel(f"predicted - true, subject's mean ({unit})")
            role = "reference" if model == st.reference else "best"
            ax.set_title(f"{display_name(model)} ({role})", fontsize=8)
        fig.suptitle(f"{tag}{st.protocol}: {name}", fontsize=10)
        path = out_dir / f"bland-altman-{_safe(name)}.png"
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def write_sleepstats(tables: dict, out_dir, figures: bool = True) -> list[Path]:
    """Write ``<protocol>-sleepstats.{md,tex,csv}`` (and Bland-Altman figures under
    ``figures/<protocol>/``) for every protocol of ``tables`` that has whole test nights."""
    out = Path(out_dir)
    paths = []
    for name, table in tables.items():
        st = build_sleepstats(table)
        if st is None:
            log.info("%s: within-night protocol, no sleep-statistics table", name)
            continue
        out.mkdir(parents=True, exist_ok=True)
        for suffix, text in ((".md", st.to_markdown()), (".tex", st.to_latex()),
                             (".csv", st.to_csv())):
            path = out / f"{name}-sleepstats{suffix}"
            path.write_text(text)
            paths.append(path)
        if figures:
            paths += bland_altman_figures(st, out / "figures" / name)
    return paths


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in s.replace("%", "pct-")).strip("-").lower()


__all__ = ["SleepStatsTable", "bland_altman_figures", "build_sleepstats", "write_sleepstats"]
