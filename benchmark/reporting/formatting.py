"""Small text helpers shared by the Markdown, CSV and LaTeX renderers: numbers, p-values, escaping."""

from __future__ import annotations

import re

import pandas as pd


def p_text(p, tex: bool = False) -> str:
    """A p-value for a table cell: three decimals, ``<0.001`` below that, a dash when undefined."""
    if p is None or pd.isna(p):
        return "--" if tex else "—"
    return ("$<$0.001" if tex else "<0.001") if p < 0.001 else f"{p:.3f}"


def count_text(n) -> str:
    """A parameter count as ``1.23k`` / ``6.46M``; ``?`` when unknown."""
    if n is None or pd.isna(n):
        return "?"
    n = float(n)
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.{1 if n / div >= 10 else 2}f}{suffix}"
    return f"{n:.0f}"


def duration_text(s: float) -> str:
    """Seconds as ``12.3 s`` / ``4.5 min`` / ``1.2 h``."""
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 60:.1f} min" if s >= 60 else f"{s:.1f} s"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "±": r"$\pm$", "κ": r"$\kappa$", "Δ": r"$\Delta$", "—": "---", "–": "--",
                "×": r"$\times$", "²": r"$^2$", "≥": r"$\geq$", "≤": r"$\leq$", "→": r"$\to$"}


def tex(s: str) -> str:
    """Escape text for LaTeX (special characters, and the few Unicode symbols the tables use)."""
    return re.sub("|".join(map(re.escape, _TEX_SPECIAL)), lambda m: _TEX_SPECIAL[m.group()], str(s))


def one_line(s: str) -> str:
    """Collapse whitespace (newlines included) to single spaces."""
    return " ".join(str(s).split())


def ascii_text(s: str) -> str:
    """One line of plain ASCII, for LaTeX comments (safe under any input encoding)."""
    for u, a in (("±", "+/-"), ("κ", "kappa"), ("Δ", "Delta"), ("—", "-"), ("–", "-"), ("×", "x"),
                 ("²", "^2")):
        s = str(s).replace(u, a)
    return one_line(s).encode("ascii", "replace").decode()
