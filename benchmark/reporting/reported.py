"""The authors' published figures of a table's entries: a block of their own, never a measured row.

An entry declares what its authors published as ``reported = (Reported(...), ...)``
(:class:`~benchmark.registry.Reported`). A table lists them for the models it has records of, under
its measured rows, with the protocol behind each figure (folds, wake kept, data release, model
selection) and the paper it comes from:

    reported_frame(["tinysleepnet", "vivit"])   # one row per published figure; None when none

The figures are copied, not measured: they are in no measured row, no statistic, no contrast and
not in ``<protocol>.csv`` (they have ``<protocol>-reported.csv``). They come from the entry's code
as it is now, not from the run records (a published figure does not depend on a run). Every
rendering (Markdown, LaTeX, CSV, HTML, paper) reads :func:`reported_frame`'s columns and says the
same thing in its caption (:data:`CAPTION`).
"""

from __future__ import annotations

import pandas as pd

from sleepbench.errors import UserError

from ..registry import Reported, discover
from .bibliography import display_name
from .formatting import as_printed, one_line, tex

#: The columns of :func:`reported_frame` (``<protocol>-reported.csv``), figures as fractions.
COLUMNS = ("model", "source", "cite", "dataset", "accuracy", "macro_f1", "kappa", "folds", "wake_trimming",
           "data_version", "selection", "note")
#: What every rendering says above the block (plain text; LaTeX escapes it).
CAPTION = ("Reported by the authors, not measured here: each figure is copied from its source, under the "
           "authors' own protocol (their folds, wake kept, data release and model selection, as listed). "
           "These are not rows of the measured table: no measured row, statistic or contrast includes "
           "them, and a difference between a figure here and a measured row mixes two protocols.")


def reported_of(model: str) -> tuple[Reported, ...]:
    """The :class:`Reported` figures entry ``model`` declares (empty for none, or an unknown entry)."""
    info = discover().get(model)
    if info is None:
        return ()
    reported = getattr(info.cls, "reported", ()) or ()
    if isinstance(reported, Reported):
        reported = (reported,)
    if not isinstance(reported, (tuple, list)) or not all(isinstance(r, Reported) for r in reported):
        raise UserError(f"entry {model!r}: its class attribute `reported` must be a tuple of "
                        "sleepbench.Reported, e.g. reported = (Reported(source=..., cite=..., ...),)")
    return tuple(reported)


def reported_frame(models) -> pd.DataFrame | None:
    """One row per published figure of ``models`` (in their order), columns :data:`COLUMNS`;
    None when none of them declares one."""
    rows = [{"model": m, **{k: getattr(r, k) for k in COLUMNS[1:]}} for m in models for r in reported_of(m)]
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for key in ("accuracy", "macro_f1", "kappa"):  # None (not reported) -> NaN: the columns stay numeric
        frame[key] = pd.to_numeric(frame[key].astype(object).where(frame[key].notna(), float("nan")))
    return frame


def _text(v) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else one_line(v)


def _clause(v) -> str:
    """A field as LaTeX text without its final full stop (the sentence adds one)."""
    return tex(_text(v).rstrip(". "))


def reported_display(frame: pd.DataFrame, as_tex: bool = False) -> pd.DataFrame:
    """The block as a reader sees it (Markdown, HTML): figures as printed, in percent (kappa as a
    fraction), every protocol field, and the BibTeX key of each source."""
    esc = tex if as_tex else (lambda s: s)
    pct = r"\%" if as_tex else "%"
    rows = []
    for r in frame.to_dict("records"):
        d = {"Model": esc(r["model"]), "Source": esc(f"{_text(r['source'])} [{r['cite']}]"),
             f"Acc ({pct})": as_printed(r["accuracy"], 1, scale=100, as_tex=as_tex),
             f"MF1 ({pct})": as_printed(r["macro_f1"], 1, scale=100, as_tex=as_tex),
             r"$\kappa$" if as_tex else "κ": as_printed(r["kappa"], 2, as_tex=as_tex),
             "Data": esc(_text(r["dataset"])), "Folds": esc(_text(r["folds"])),
             "Wake kept": esc(_text(r["wake_trimming"])), "Data release": esc(_text(r["data_version"])),
             "Selection": esc(_text(r["selection"]))}
        d["Note"] = esc(_text(r["note"]))
        rows.append(d)
    out = pd.DataFrame(rows)
    if not out["Note"].astype(bool).any():
        out = out.drop(columns="Note")
    return out


def sources_text(frame: pd.DataFrame) -> str:
    """``Sources: tinysleepnet: Supratak & Guo 2020, ... [supratak2020tinysleepnet]; ...``."""
    return "Sources (BibTeX keys: `sleepbench cite`): " + "; ".join(
        f"{r['model']}: {_text(r['source'])} [{r['cite']}]" for r in frame.to_dict("records")) + "."


def reported_csv(frame: pd.DataFrame, title: str) -> str:
    """The block at full precision (``<protocol>-reported.csv``), under ``#`` comment lines."""
    head = [f"# {one_line(title)}: reported by the authors (not measured here)", f"# {one_line(CAPTION)}",
            "# accuracy, macro_f1, kappa: fractions as the source prints them (empty: not reported)"]
    body = frame.to_csv(index=False)
    if "#" in body:  # read_csv(comment="#") would cut the row short
        bad = sorted({r["model"] for r in frame.to_dict("records") if "#" in "".join(map(str, r.values()))})
        raise ValueError(f"entry {', '.join(bad)}: a Reported field contains '#', which the CSV reserves "
                         "for comments; write 'No.' or 'number'")
    return "\n".join(head) + "\n" + body


def reported_tex(frame: pd.DataFrame, label: str, measured_label: str, *, star: bool = False,
                 display_names: bool = False) -> str:
    """The block as a LaTeX float of its own (``table``, or ``table*`` with ``star``; needs
    ``booktabs``): the figures in a narrow tabular, each row's source and protocol as compiled text
    under it (any page width holds it), every source cited with ``\\cite``."""
    env = "table*" if star else "table"
    marks = "abcdefghijklmnopqrstuvwxyz"
    rows, notes = [], []
    for i, r in enumerate(frame.to_dict("records")):
        mark = marks[i % len(marks)] + ("" if i < len(marks) else str(i // len(marks)))
        name = tex(display_name(r["model"]) if display_names else r["model"])
        cite = f"~\\cite{{{r['cite']}}}"
        rows.append(" & ".join([f"{name}{cite}$^{{{mark}}}$",
                                as_printed(r["accuracy"], 1, scale=100, as_tex=True),
                                as_printed(r["macro_f1"], 1, scale=100, as_tex=True),
                                as_printed(r["kappa"], 2, as_tex=True)]) + r" \\")
        facts = [f"$^{{{mark}}}${name}: {_clause(r['source'])}{cite}.",
                 f"Data: {_clause(r['dataset'])}; release: {_clause(r['data_version'])}.",
                 f"Folds: {_clause(r['folds'])}.", f"Wake kept: {_clause(r['wake_trimming'])}.",
                 f"Selection: {_clause(r['selection'])}."]
        if _text(r["note"]):
            facts.append(f"Note: {_clause(r['note'])}.")
        notes.append(" ".join(facts) + r"\par")
    caption = (f"{tex(CAPTION)} Read beside Table~\\ref{{{measured_label}}}; sources cited per row. "
               r"Acc and MF1 in \%, $\kappa$ as a fraction, each as its source prints it (-- where it "
               "reports none).")
    lines = [r"% sleepbench: reported by the authors (not measured here); needs \usepackage{booktabs}",
             f"\\begin{{{env}}}[tbp]", r"\centering", r"\small", f"\\caption{{{caption}}}",
             f"\\label{{{label}}}", r"\begin{tabular}{@{}lrrr@{}}", r"\toprule",
             r"Model & Acc (\%) & MF1 (\%) & $\kappa$ \\", r"\midrule", *rows, r"\bottomrule", r"\end{tabular}",
             r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize\raggedright", *notes,
             r"\end{minipage}", f"\\end{{{env}}}"]
    return "\n".join(lines) + "\n"
