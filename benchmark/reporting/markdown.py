"""Markdown and CSV renderings of a :class:`~benchmark.reporting.tables.ProtocolTable`."""

from __future__ import annotations

from .contrasts import family_text
from .display import contrasts_frame, display_frame, imitation_frame, training_frame
from .formatting import one_line
from .reported import CAPTION, reported_display, sources_text

#: The heading of the authors' figures (:mod:`.reported`), after the notes of the measured table.
REPORTED_HEADING = "Reported by the authors (not measured here)"

#: (heading, block builder) of the blocks printed under the main table, in order.
BLOCKS = (("Training of the deep entries", training_frame),
          ("FIN imitation (R² and MAE on the test epochs, pre-trained → fine-tuned)", imitation_frame),
          ("Contrasts", contrasts_frame))


def to_markdown(t) -> str:
    """Title, ``- **label:** value`` header lines, the table, the blocks, the notes, then the
    authors' reported figures apart (when an entry of the table declares them)."""
    lines = [f"# {t.title}", ""] + [f"- **{k}:** {v}" for k, v in t.header] + [""]
    lines += [display_frame(t, as_tex=False).to_markdown(index=False, disable_numparse=True), ""]
    for heading, build in BLOCKS:
        block = build(t, as_tex=False)
        if block is None:
            continue
        if build is contrasts_frame and t.contrasts_source:
            heading += f" (declared in {t.contrasts_source}; {family_text(t.contrasts)})"
        lines += [f"## {heading}", "", block.to_markdown(index=False, disable_numparse=True), ""]
    lines += [f"- {n}" for n in t.notes]
    if t.reported is not None:
        lines += ["", f"## {REPORTED_HEADING}", "", CAPTION + " " + sources_text(t.reported), "",
                  reported_display(t.reported).to_markdown(index=False, disable_numparse=True)]
    return "\n".join(lines) + "\n"


def to_csv(t) -> str:
    """The full-precision frame, under ``# label: value`` comment lines (``read_csv(comment="#")``)."""
    head = [f"# {t.title}"] + [f"# {k}: {v}" for k, v in t.header]
    body = t.frame.to_csv(index=False)
    if "#" in body:  # read_csv(comment="#") would cut the row short
        raise ValueError(f"protocol {t.protocol!r}: a table cell contains '#'")
    return "\n".join(one_line(h) for h in head) + "\n" + body


def contrasts_csv(t) -> str:
    """The declared contrasts at full precision (``<protocol>-contrasts.csv``)."""
    head = [f"# {t.title}: declared contrasts" + (f" ({t.contrasts_source})" if t.contrasts_source else ""),
            one_line(f"# p_holm: p_wilcoxon {family_text(t.contrasts)}; p_exact_holm likewise")]
    body = t.contrasts.to_csv(index=False)
    if "#" in body:
        raise ValueError(f"protocol {t.protocol!r}: a contrast cell contains '#'")
    return "\n".join(head) + "\n" + body
