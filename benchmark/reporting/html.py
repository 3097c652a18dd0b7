"""One self-contained HTML results page per protocol: ``sleepbench report``.

    write_report("results")      # -> results/tables/<protocol>.html (+ the tables, figures, paper files)

The page holds everything inline (CSS in a ``<style>`` element, figures as base64 ``data:`` PNGs,
no script, no font or stylesheet from elsewhere), so it opens offline, from a mail attachment or
an archive, exactly as written. Sections: a surrogate warning when it applies, the compact main
table, the contrasts, the full table and the blocks under it, the figures the entries' authors
published (reported by the authors, not measured here: :mod:`.reported`), the figures, the notes,
the provenance (data, protocol, seeds, commits, package versions, devices, entry parameters) and
the BibTeX to cite.
"""

from __future__ import annotations

import base64
import html
import json
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from sleepbench.datasets.sleep_edf import STAGES

from .bibliography import cite_keys, display_name
from .contrasts import family_text, shared_code_flag
from .display import contrasts_frame, display_frame, row_flag, row_note
from .formatting import fixed, interval, p_text, spread, thousands_text
from .markdown import BLOCKS, REPORTED_HEADING
from .paper import contrast_rows, table_bibtex, trainable_params
from .reported import CAPTION, reported_display

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;
 color:#1a1a1a;background:#fff}
main{max-width:1400px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.45em;margin:.4em 0}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.4em 0 1em;font-variant-numeric:tabular-nums}
th,td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
th{border-bottom:2px solid #999;background:#f6f6f6}
td:first-child,th:first-child{text-align:left}
tr.incomplete td{color:#8a0000;background:#fff4f4}
.scroll{overflow-x:auto}
.warn{border:2px solid #b00000;background:#fff0f0;color:#800000;padding:8px 12px;font-weight:600}
.muted{color:#666;font-size:.9em}
figure{display:inline-block;margin:8px 12px 16px 0;vertical-align:top}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.fig-page img{width:1000px}.fig-column img{width:480px}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;font-size:12px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px}dt{font-weight:600}dd{margin:0}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _frame_html(frame: pd.DataFrame, row_classes: list[str] | None = None, table_id: str = "") -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>")
    ident = f' id="{_e(table_id)}"' if table_id else ""
    return (f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def _pct(v, sd=None, seeds=1) -> str:
    """``84.1 ± 0.2`` (percent; the sd with several seeds only)."""
    return spread(v, sd if seeds > 1 else None, 1, scale=100)


def main_frame(table) -> tuple[pd.DataFrame, list[str]]:
    """The compact main table (as in the paper export), and a CSS class per row."""
    params = trainable_params(table)
    rows, classes = [], []
    for _, r in table.frame.iterrows():
        n = int(r["seeds"])
        problems = table.problems[r["model"]]
        name = display_name(r["model"]) + (" (ref.)" if r["reference"] else "")
        flag = row_flag(r, problems)
        if flag:
            name += f" — not comparable: {flag}"
        if row_note(problems):
            name += f" — {row_note(problems)}"
        d = {"Model": name, "Entry": r["model"], "Acc (%)": _pct(r["accuracy"], r["accuracy_sd"], n),
             "MF1 (%)": _pct(r["macro_f1"], r["macro_f1_sd"], n),
             "κ": spread(r["kappa"], r["kappa_sd"] if n > 1 else None, 3)}
        d.update({f"F1 {s} (%)": _pct(r[f"f1_{s}"]) for s in STAGES})
        d["Params (k, trainable)"] = thousands_text(params[r["model"]])
        d["Cite"] = ", ".join(cite_keys(r["model"]))
        rows.append(d)
        classes.append("incomplete" if flag else "")
    return pd.DataFrame(rows), classes


def contrasts_frame_html(table) -> tuple[pd.DataFrame | None, bool]:
    rows, declared = contrast_rows(table)
    if not rows:
        return None, declared
    out = []
    for c in rows:
        out.append({"Contrast": f"{display_name(c['model'])} − {display_name(c['versus'])}",
                    "n": fixed(c["n"], 0),
                    "ΔMF1 (pp)": fixed(c["delta"], 1, scale=100, signed=True),
                    "95% CI": interval(c["ci_low"], c["ci_high"], scale=100),
                    "p (Wilcoxon)": p_text(c["p"]), "p (Holm)": p_text(c["p_holm"]),
                    "d_z": fixed(c["d_z"], 2, signed=True),
                    "Note": c["note"] or (f"FLAGGED: {shared_code_flag(c)}" if shared_code_flag(c) else "")})
    return pd.DataFrame(out), declared


def _blocks(table) -> list[tuple[str, pd.DataFrame]]:
    """The blocks the Markdown table prints under the main table (training, imitation, ...)."""
    out = [("Full table (every column, as in the Markdown table)", display_frame(table, as_tex=False))]
    for heading, build in BLOCKS:
        if build is contrasts_frame:
            continue  # shown above, with display names
        block = build(table, as_tex=False)
        if block is not None:
            out.append((heading, block))
    return out


def provenance(table) -> list[tuple[str, str]]:
    """(label, text) facts about where the numbers come from, from the records themselves."""
    runs = table.runs
    envs = [r.record["environment"] for r in runs]
    packages = defaultdict(set)
    for env in envs:
        for k, v in env["packages"].items():
            packages[k].add(str(v))
    devices = sorted({f"{e['device']['type']} ({e['device']['name']})" for e in envs})
    facts = list(table.header)
    facts += [("Python", ", ".join(sorted({str(e["python"]) for e in envs}))),
              ("Packages", "; ".join(f"{k} {', '.join(sorted(v))}" for k, v in sorted(packages.items()))),
              ("Platform", ", ".join(sorted({str(e["platform"]) for e in envs}))),
              ("Devices", ", ".join(devices)),
              ("Records", f"{len(runs)} fold record(s) under {runs[0].path.parents[3]}")]
    facts += [("Summary", line) for line in table.provenance]
    return facts


def entry_settings(table) -> pd.DataFrame:
    """Per model: seeds, folds, resolved parameters (as recorded) and code hash."""
    by_model = defaultdict(list)
    for r in table.runs:
        by_model[r.model].append(r)
    rows = []
    for model in table.frame["model"]:
        runs = by_model[model]
        params = {json.dumps(r.record["model"]["params"], sort_keys=True) for r in runs}
        codes = {str(r.record["model"]["code_hash"]) for r in runs}
        rows.append({"Entry": model, "Seeds": ", ".join(map(str, sorted({r.seed for r in runs}))),
                     "Folds": ", ".join(map(str, sorted({r.fold for r in runs}))),
                     "Parameters": " | ".join(sorted(params)),
                     "Code hash": ", ".join(sorted(c[:12] for c in codes))})
    return pd.DataFrame(rows)


def _figure_html(path: Path) -> str:
    from PIL import Image

    data = base64.b64encode(path.read_bytes()).decode("ascii")
    with Image.open(path) as im:
        w, h = im.size
    kind = "fig-column" if w <= 800 else "fig-page"
    return (f'<figure class="{kind}"><img src="data:image/png;base64,{data}" width="{w}" height="{h}" '
            f'alt="{_e(path.stem)}"><figcaption>{_e(path.name)}</figcaption></figure>')


def render_html(table, figures: list[Path] = ()) -> str:
    """The page of one protocol's table (a :class:`~benchmark.reporting.tables.ProtocolTable`)."""
    header = dict(table.header)
    surrogate = "SURROGATE" in header["Dataset"]
    main, classes = main_frame(table)
    contrasts, declared = contrasts_frame_html(table)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{_e(table.title)}</title><style>{_CSS}</style></head><body><main>",
             f"<h1>{_e(table.title)}</h1>"]
    if surrogate:
        parts.append('<p class="warn">Surrogate data: synthetic EEG written by sleepbench, not Sleep-EDF '
                     "recordings. These numbers check that the pipeline works; they say nothing about "
                     "real sleep staging.</p>")
    parts.append(f'<p class="muted">Protocol <code>{_e(table.protocol)}</code> · {_e(header["Dataset"])}'
                 f' · generated {_e(datetime.now(timezone.utc).isoformat(timespec="seconds"))}</p>')
    parts += ['<h2 id="main">Main results</h2>', _frame_html(main, classes, "main-table"),
              '<p class="muted">Acc, MF1 (macro-F1 over W, N1, N2, N3, REM), κ (Cohen) and per-class F1 '
              "pooled over all test epochs of all folds, mean ± sd over seeds; Params: trainable "
              "parameters in thousands. Incomplete rows are flagged and not compared.</p>"]
    parts.append('<h2 id="contrasts">Contrasts</h2>')
    if contrasts is None:
        parts.append("<p>No contrasts: no reference model with records and none declared.</p>")
    else:
        parts.append(_frame_html(contrasts, table_id="contrasts-table"))
        parts.append('<p class="muted">' + (
            f"Declared in {_e(table.contrasts_source or 'the suite')}; p-values {_e(family_text(table.contrasts))}."
            if declared else f"Every complete model against the reference {_e(table.reference)}; "
                             "p-values not adjusted (no contrasts declared).")
            + f" ΔMF1: per-{_e(table.unit)} macro-F1 difference (percentage points) with a bootstrap 95% "
              f"CI over {_e(table.unit)}s; Wilcoxon signed-rank test; d_z = mean / sd of the paired "
              "differences.</p>")
    for heading, frame in _blocks(table):
        parts += [f"<h2>{_e(heading)}</h2>", _frame_html(frame)]
    if table.reported is not None:  # the authors' figures: their own section, never in the tables above
        shown = reported_display(table.reported)
        shown.insert(0, "Entry", shown.pop("Model"))
        shown.insert(0, "Model", [display_name(m) for m in table.reported["model"]])
        parts += [f'<h2 id="reported">{_e(REPORTED_HEADING)}</h2>', f'<p class="muted">{_e(CAPTION)} The '
                  "BibTeX of every source is under Cite.</p>", _frame_html(shown, table_id="reported-table")]
    parts.append('<h2 id="figures">Figures</h2>')
    parts += [_figure_html(Path(p)) for p in figures] or ["<p>No figures.</p>"]
    parts += ['<h2 id="notes">Notes</h2>', "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in table.notes) + "</ul>"]
    parts.append('<h2 id="provenance">Provenance</h2><dl>' + "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in provenance(table)) + "</dl>")
    parts += ["<h3>Entries as run</h3>", _frame_html(entry_settings(table), table_id="entries-table")]
    parts += ['<h2 id="cite">Cite</h2>', "<p>BibTeX for this table (<code>sleepbench cite --protocol "
              f"{_e(table.protocol)}</code>):</p>", f"<pre>{_e(table_bibtex(table))}</pre>",
              "</main></body></html>", ""]
    return "\n".join(parts)


def write_report(results_dir, out_dir=None, reference: str | None = None, protocol: str | None = None,
                 models=None, exclude=None, suite: str | None = None) -> list[Path]:
    """Write the tables, figures, paper files and one HTML page per protocol; returns every path.

    Same selection as ``sleepbench tables`` (``protocol``, ``models``, ``exclude``, ``suite``,
    ``reference``). Pages go to ``<out_dir>/<protocol>.html`` (default ``results_dir/tables``),
    beside the files :func:`~benchmark.reporting.tables.write_tables` writes; the paper files to
    ``<out_dir>/paper/``.
    """
    from .paper import write_paper
    from .tables import build_tables, write_tables

    out = Path(out_dir) if out_dir is not None else Path(results_dir) / "tables"
    paths = write_tables(results_dir, reference=reference, out_dir=out, figures=True, protocol=protocol,
                         models=models, exclude=exclude, suite=suite)
    from .selection import make_selection

    tables = build_tables(results_dir, reference, make_selection(protocol, models, exclude, suite, reference))
    paths += write_paper(tables, out)
    for name, table in tables.items():
        fig_dir = (out / "figures" / name).resolve()
        figures = [p for p in paths if p.suffix == ".png" and Path(p).resolve().is_relative_to(fig_dir)]
        page = out / f"{name}.html"
        page.write_text(render_html(table, figures), encoding="utf-8")
        paths.append(page)
    return paths
