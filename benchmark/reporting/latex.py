"""LaTeX (booktabs) rendering of a :class:`~benchmark.reporting.tables.ProtocolTable`."""

from __future__ import annotations

from .display import display_frame
from .formatting import ascii_text, tex


def to_latex(t) -> str:
    """A ``table`` float with caption and label; needs ``booktabs`` and ``graphicx``."""
    disp = display_frame(t, as_tex=True)
    spec = "l" + "r" * (disp.shape[1] - 1)
    row = lambda cells: " & ".join(cells) + r" \\"
    header = dict(t.header)
    caption = (f"{tex(t.title)}. Dataset: {tex(header['Dataset'])}. "
               f"Protocol {tex(t.protocol)}, hash \\texttt{{{header['Protocol hash'][:12]}}}.")
    lines = [f"% {ascii_text(t.title)}"] + [f"% {k}: {ascii_text(v)}" for k, v in t.header]
    lines += [f"% Note: {ascii_text(n)}" for n in t.notes]
    lines += ["% Needs \\usepackage{booktabs} and \\usepackage{graphicx}.",
              r"\begin{table}[htbp]", r"\centering", f"\\caption{{{caption}}}",
              f"\\label{{tab:{tex(t.protocol)}}}", r"\resizebox{\textwidth}{!}{%",
              f"\\begin{{tabular}}{{{spec}}}", r"\toprule", row(list(disp.columns)), r"\midrule"]
    lines += [row(list(cells)) for cells in disp.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}%", "}", r"\end{table}"]
    return "\n".join(lines) + "\n"
