"""LaTeX (booktabs) rendering of a :class:`~benchmark.reporting.tables.ProtocolTable`.

The provenance a reader needs to cite a number (dataset, protocol name, version and hash prefix,
seeds, test subjects and epochs, commit) is in the compiled caption, and the column notes are
compiled text under the table, not ``%`` comments that vanish. Each block under the main table
(training budgets, FIN imitation, declared contrasts) is a table float of its own, and so are the
figures the entries' authors published (:mod:`.reported`), last, which cite their sources.
"""

from __future__ import annotations

from .contrasts import family_text
from .display import contrasts_frame, display_frame, imitation_frame, training_frame
from .formatting import ascii_text, tex
from .reported import reported_tex

_BLOCKS = (("training", "Training of the deep entries: budget (passes $\\times$ optimiser steps per pass "
                        "$\\times$ batch $\\times$ sequence length), passes run and best pass (min--max over "
                        "folds and seeds)", training_frame),
           ("imitation", "FIN imitation: R$^2$ and MAE of each FIN's output against the exact feature on "
                         "the fold's test epochs, pre-trained $\\to$ fine-tuned (mean over runs)", imitation_frame),
           ("contrasts", "Declared contrasts: model minus reference in per-unit macro-F1, bootstrap 95\\% CI, "
                         "Wilcoxon signed-rank $p$ and Holm-adjusted $p$", contrasts_frame))


def _tabular(disp) -> list[str]:
    spec = "l" + "r" * (disp.shape[1] - 1)
    row = lambda cells: " & ".join(cells) + r" \\"
    lines = [r"\resizebox{\textwidth}{!}{%", f"\\begin{{tabular}}{{{spec}}}", r"\toprule",
             row(list(disp.columns)), r"\midrule"]
    lines += [row(list(cells)) for cells in disp.itertuples(index=False)]
    return lines + [r"\bottomrule", r"\end{tabular}%", "}"]


def caption_text(t) -> str:
    """The compiled caption: the title, then the provenance sentences."""
    return " ".join([f"{tex(t.title)}."] + [tex(s) for s in t.provenance])


def to_latex(t) -> str:
    """``table`` floats (main table, then each block) with captions and labels; needs ``booktabs``
    and ``graphicx``."""
    disp = display_frame(t, as_tex=True)
    lines = [f"% {ascii_text(t.title)}"] + [f"% {k}: {ascii_text(v)}" for k, v in t.header]
    lines += ["% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
              r"\begin{table}[htbp]", r"\centering", f"\\caption{{{caption_text(t)}}}",
              f"\\label{{tab:{tex(t.protocol)}}}"]
    lines += _tabular(disp)
    lines += [r"\par\smallskip", r"\begin{minipage}{\textwidth}\footnotesize"]
    lines += [tex(n) + r"\par" for n in t.notes]
    lines += [r"\end{minipage}", r"\end{table}"]
    hash12 = tex(dict(t.header)["Protocol hash"][:12])
    for key, what, build in _BLOCKS:
        block = build(t, as_tex=True)
        if block is None:
            continue
        source = ""
        if key == "contrasts":
            source = (f" (declared in {tex(t.contrasts_source)})" if t.contrasts_source else "") \
                + f"; {tex(family_text(t.contrasts))}"
        lines += ["", r"\begin{table}[htbp]", r"\centering",
                  f"\\caption{{{what}{source}. Protocol {tex(t.protocol)}, hash \\texttt{{{hash12}}}.}}",
                  f"\\label{{tab:{tex(t.protocol)}-{key}}}"]
        lines += _tabular(block) + [r"\end{table}"]
    if t.reported is not None:  # the authors' figures: a float of their own, after the measured ones
        lines += ["", reported_tex(t.reported, f"tab:{tex(t.protocol)}-reported", f"tab:{tex(t.protocol)}").rstrip()]
    return "\n".join(lines) + "\n"
