"""Markdown and CSV renderings of a :class:`~benchmark.reporting.tables.ProtocolTable`."""

from __future__ import annotations

from .display import display_frame
from .formatting import one_line


def to_markdown(t) -> str:
    """Title, ``- **label:** value`` header lines, the table, then the notes as a list."""
    lines = [f"# {t.title}", ""] + [f"- **{k}:** {v}" for k, v in t.header] + [""]
    lines += [display_frame(t, as_tex=False).to_markdown(index=False, disable_numparse=True), ""]
    lines += [f"- {n}" for n in t.notes]
    return "\n".join(lines) + "\n"


def to_csv(t) -> str:
    """The full-precision frame, under ``# label: value`` comment lines (``read_csv(comment="#")``)."""
    head = [f"# {t.title}"] + [f"# {k}: {v}" for k, v in t.header]
    body = t.frame.to_csv(index=False)
    if "#" in body:  # read_csv(comment="#") would cut the row short
        raise ValueError(f"protocol {t.protocol!r}: a table cell contains '#'")
    return "\n".join(one_line(h) for h in head) + "\n" + body
