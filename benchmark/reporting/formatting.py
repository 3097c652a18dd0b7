"""Every number and p-value the reports print, and text escaping: the one place that formats them.

The Markdown, CSV, LaTeX, HTML and paper renderings all call these; where LaTeX and plain text
differ (``--`` / ``—`` for an undefined value, ``$<$`` / ``<``, ``$\\pm$`` / ``±``) one function
takes ``as_tex``. An undefined value (None or NaN) always prints as the dash.
"""

from __future__ import annotations

import re

import pandas as pd


def undefined(v) -> bool:
    """None or NaN."""
    return v is None or bool(pd.isna(v))


def dash(as_tex: bool = False) -> str:
    """What an undefined cell shows."""
    return "--" if as_tex else "—"


def fixed(v, digits: int = 1, *, scale: float = 1, signed: bool = False, as_tex: bool = False) -> str:
    """``scale * v`` with ``digits`` decimals (and its sign when ``signed``: ``+1.2``); a dash when undefined."""
    if undefined(v):
        return dash(as_tex)
    return f"{scale * v:{'+' if signed else ''}.{digits}f}"


def spread(v, sd=None, digits: int = 1, *, scale: float = 1, as_tex: bool = False,
           compact: bool = False) -> str:
    """``v ± sd`` (``v`` alone when ``sd`` is undefined), both times ``scale``; a dash when ``v``
    is undefined. ``compact``: no spaces around the ``±`` (the paper's narrow columns)."""
    if undefined(v):
        return dash(as_tex)
    pm = r"$\pm$" if as_tex else "±"
    text = fixed(v, digits, scale=scale)
    return text if undefined(sd) else text + (pm if compact else f" {pm} ") + fixed(sd, digits, scale=scale)


def interval(low, high, digits: int = 1, *, scale: float = 1, signed: bool = True,
             as_tex: bool = False) -> str:
    """``[+1.2, +3.4]`` (a confidence interval or limits of agreement); a dash when undefined."""
    if undefined(low) or undefined(high):
        return dash(as_tex)
    return f"[{fixed(low, digits, scale=scale, signed=signed)}, {fixed(high, digits, scale=scale, signed=signed)}]"


def as_printed(v, digits: int = 1, *, scale: float = 1, as_tex: bool = False) -> str:
    """``scale * v`` with at least ``digits`` decimals and as many more as the value holds (up to
    four): a published figure as its paper printed it (0.8 -> ``0.80``, 0.812 -> ``0.812``, with
    ``digits`` 2), neither rounded nor padded; a dash when undefined."""
    if undefined(v):
        return dash(as_tex)
    x = scale * float(v)
    d = next((d for d in range(digits, 4) if abs(round(x, d) - x) < 1e-9), 4)
    return f"{x:.{d}f}"


def int_range(low, high) -> str:
    """``3`` or ``3–7`` (min–max of a count); '' when undefined."""
    if undefined(low):
        return ""
    return f"{int(low)}" if low == high else f"{int(low)}–{int(high)}"


def p_text(p, as_tex: bool = False) -> str:
    """A p-value for a table cell: three decimals, ``<0.001`` below that, a dash when undefined."""
    if undefined(p):
        return dash(as_tex)
    return ("$<$0.001" if as_tex else "<0.001") if p < 0.001 else f"{p:.3f}"


def count_text(n) -> str:
    """A parameter count as ``1.23k`` / ``6.46M``; ``?`` when unknown."""
    if undefined(n):
        return "?"
    n = float(n)
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.{1 if n / div >= 10 else 2}f}{suffix}"
    return f"{n:.0f}"


def thousands_text(n, as_tex: bool = False) -> str:
    """A parameter count in thousands, ``1,516.4`` (``1{,}516.4`` in LaTeX); ``0``; ``<0.1``
    below 50; a dash when unknown."""
    if undefined(n):
        return dash(as_tex)
    if n == 0:
        return "0"
    if n < 50:
        return "$<$0.1" if as_tex else "<0.1"
    text = f"{n / 1e3:,.1f}"
    return text.replace(",", "{,}") if as_tex else text


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
