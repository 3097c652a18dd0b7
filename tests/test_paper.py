"""Paper export: compact main and statistics LaTeX tables, BibTeX, CITATION.cff, `sleepbench cite`;
the LaTeX is compiled by a real engine (pdflatex + bibtex) and the PDF read back with pdftotext."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from sleepbench.benchmark import cli
from sleepbench.benchmark.metrics import epoch_metrics, grouped_metrics
from sleepbench.benchmark.protocols import load_protocol
from sleepbench.benchmark.registry import discover
from sleepbench.benchmark.reporting import build_tables
from sleepbench.benchmark.reporting.bibliography import (
    BIBTEX,
    DATA_KEYS,
    ENTRIES,
    STATS_KEYS,
    bib_keys,
    bibtex_all,
    bibtex_for,
    display_name,
)
from sleepbench.benchmark.reporting.paper import (
    contrast_rows,
    main_table_tex,
    reported_table_tex,
    stats_table_tex,
    table_bibtex,
    write_paper,
)
from sleepbench.benchmark.store import SCHEMA
from sleepbench.datasets.cache import CACHE_VERSION

REPO = Path(__file__).resolve().parents[1]
QUICK = load_protocol("quick")
#: share of epochs predicted right on purpose, per model (the rest drawn at random)
SKILL = {"majority": 0.0, "tinysleepnet": 0.7, "vivit": 0.8, "fin-vivit": 0.85, "yasa": 0.6,
         "fin-vivit-entropy": 0.82}
N_PARAMS = {"majority": 5, "tinysleepnet": 1_516_421, "vivit": 94_000, "fin-vivit": 120_000, "yasa": None,
            "fin-vivit-entropy": 110_000}


def write_fake_run(root: Path, model: str, seed: int, fold: int, n_trainable=None) -> None:
    """One fold record (json + npz) in the runner's schema; predictions from a seeded rng."""
    test = QUICK["folds"][fold]["test"]
    rng = np.random.default_rng([seed, fold, sum(map(ord, model))])
    parts = []
    for s in test:
        for night in (1, 2):
            truth = np.random.default_rng([s, night]).choice(5, 80 + 5 * s, p=[0.25, 0.08, 0.4, 0.12, 0.15])
            parts.append((s, night, truth, f"SC4{s:02d}{night}E0"))
    y_true = np.concatenate([p[2] for p in parts])
    if SKILL[model] == 0:
        y_pred = np.full_like(y_true, 2)
    else:
        y_pred = np.where(rng.random(len(y_true)) < SKILL[model], y_true, rng.integers(0, 5, len(y_true)))
    cat = lambda i: np.concatenate([np.full(len(p[2]), p[i]) for p in parts])
    base = root / "runs" / "quick" / model / f"seed-{seed}" / f"fold-{fold}"
    base.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(base.with_suffix(".npz"), y_true=y_true, y_pred=y_pred,
                        proba=np.eye(5, dtype=np.float32)[y_pred], subject=cat(0), night=cat(1),
                        epoch=np.concatenate([np.arange(len(p[2])) for p in parts]),
                        recording=cat(3).astype(str))
    n = N_PARAMS[model]
    record = {
        "schema": SCHEMA, "config_hash": "x" * 20,
        "protocol": {k: QUICK[k] for k in ("name", "version", "hash", "title", "kind")},
        "dataset": {"source": "surrogate", "channels": ["EEG Fpz-Cz"], "sfreq": 100.0, "epoch_sec": 30.0,
                    "wake_margin_min": 30.0, "checksums": {p[3]: ["a", "h"] for p in parts}},
        "model": {"name": model, "params": {}, "n_params": n, "code_hash": "c0de",
                  "n_trainable_params": n_trainable if n_trainable is not None else n, "description": "fake"},
        "identity": {"code_hash": "c0de", "code_files": {}, "cache_version": CACHE_VERSION},
        "entry_report": {}, "prediction_context": "test epochs", "precision": "fp32",
        "seed": seed, "fold": fold,
        "subjects": {k: QUICK["folds"][fold][k] for k in ("train", "valid", "test")},
        "metrics": {"pooled": epoch_metrics(y_true, y_pred),
                    "per_subject": grouped_metrics(y_true, y_pred, cat(0)),
                    "per_night": grouped_metrics(y_true, y_pred, cat(3))},
        "n_test_epochs": int(len(y_true)), "timing": {"fit_s": 30.0 + fold, "predict_s": 0.1},
        "environment": {"python": "3.11", "packages": {"torch": "2.x"}, "git_commit": "abc123",
                        "platform": "x", "device": {"type": "cpu", "name": "x86"}, "cpu_kernel_set": "AVX2"},
        "created": "2026-11-25T07:00:00+00:00",
    }
    base.with_suffix(".json").write_text(json.dumps(record))


def fake_results(root: Path, seeds=(0, 1)) -> Path:
    """Quick-protocol records: five complete models over two seeds, and fin-vivit with one fold
    missing. The quick suite declares fin-vivit - vivit (not computable: incomplete) and
    fin-vivit-entropy - vivit (computed)."""
    folds = [f["fold"] for f in QUICK["folds"]]
    for model in ("majority", "tinysleepnet", "vivit", "yasa", "fin-vivit-entropy"):
        for s in seeds:
            for f in folds:
                write_fake_run(root, model, s, f)
    for s in seeds:
        for f in folds[:-1]:
            write_fake_run(root, "fin-vivit", s, f, n_trainable=26_000)
    return root


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    root = fake_results(tmp_path_factory.mktemp("results"))
    return build_tables(root, reference="vivit")["quick"]


@pytest.mark.slow
def test_main_table_is_compact_with_display_names_citations_and_units(table):
    text = main_table_tex(table)
    assert r"\resizebox" not in text and "\n%" not in text.split("\n", 1)[1]  # notes live in the caption
    assert r"ViViT~\cite{arnab2021vivit} (ref.)" in text
    assert r"TinySleepNet~\cite{supratak2020tinysleepnet}" in text
    assert r"FIN-ViViT~\cite{arnab2021vivit,sabasadiya2022fin}$^\dagger$" in text  # incomplete: flagged
    assert "Not comparable (incomplete or flagged): FIN-ViViT (2/3 folds)" in text
    assert "Surrogate data" in text and "Params: trainable parameters in thousands" in text
    units = next(line for line in text.splitlines() if line.startswith(" & (\\%)"))
    assert units.count("&") == 9  # model, Acc, MF1, kappa, 5 per-class F1, params: 10 columns
    body = text.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == 6 and all(line.count("&") == 9 for line in body)
    # parameters: trainable counts, one unit (thousands) for every row
    assert "& 1{,}516.4 \\\\" in text and "& 94.0 \\\\" in text and "& $<$0.1 \\\\" in text
    assert "& 26.0 \\\\" in text  # fin-vivit: its trainable count, not its total
    assert re.search(r"YASA \(zero-shot\)~\\cite\{vallat2021yasa,ke2017lightgbm\}.* & -- \\\\", text)
    # the numbers are the table's (mean +- sd over the two seeds), in percent
    r = table.frame.set_index("model").loc["vivit"]
    assert f"{100 * r['macro_f1']:.1f}$\\pm${100 * r['macro_f1_sd']:.1f}" in text
    assert f"{100 * r['f1_N1']:.1f}" in text


def test_stats_table_lists_the_contrasts(table):
    rows, declared = contrast_rows(table)
    text = stats_table_tex(table)
    names = [(c["model"], c["versus"]) for c in rows]
    # the quick suite's whole declared family, in its order (contrasts without records stay in it)
    from sleepbench.benchmark.suites import load_suite

    assert declared and names == [tuple(p) for p in load_suite("quick")["contrasts"]]
    assert names == list(zip(table.contrasts["model"], table.contrasts["reference"]))
    n = len(names)   # one of them (fin-vivit-entropy vs vivit) computed
    assert f"Holm-adjusted over the {n} declared contrasts; {n - 1} not computed" in text
    assert r"\cite{holm1979}" in text
    # the incomplete model is not compared: its row says so in a cell as narrow as a number column
    # and the caption says why (the full reason, wider than a page column, stays out of the cell)
    assert r"FIN-ViViT $-$ ViViT & \multicolumn{6}{l}{not compared (see caption)}" in text
    assert "fin-vivit - vivit (not compared (fin-vivit: 2/3 folds))" in text
    assert r"\multicolumn{6}{l}{not run (see caption)}" in text
    c = rows[names.index(("fin-vivit-entropy", "vivit"))]
    assert c["p_holm"] is not None and c["p_holm"] >= c["p"]
    row = next(line for line in text.splitlines() if line.startswith("FIN-ViViT (entropy FIN) $-$ ViViT"))
    assert f"{100 * c['delta']:+.1f}" in row and f"{c['p_holm']:.3f}" in row
    assert r"\cite{wilcoxon1945}" in text


def test_bibtex_covers_data_methods_statistics_and_sleepbench(table):
    bib = table_bibtex(table)
    keys = bib_keys(bib)
    for k in ("kemp2000sleepedf", "goldberger2000physionet", "sleepbench", "arnab2021vivit",
              "sabasadiya2022fin", "supratak2020tinysleepnet", "vallat2021yasa", "wilcoxon1945"):
        assert k in keys
    assert len(keys) == len(set(keys))
    cited = set(re.findall(r"\\cite\{([^}]*)\}", main_table_tex(table) + stats_table_tex(table)))
    assert {k for group in cited for k in group.split(",")} <= set(keys)
    for entry in ENTRIES.values():  # every built-in entry's paper is known
        assert set(entry[1]) <= set(BIBTEX)
    entries = discover()
    assert set(entries) >= set(ENTRIES)  # and the table only names real entries
    built_in = {n for n, info in entries.items() if info.builtin}
    missing = sorted(built_in - set(ENTRIES))
    assert not missing, (f"entries {missing} have no display name and citation: add them to "
                         "benchmark/reporting/bibliography.py ENTRIES (and a colour to style.FIXED)")


def test_references_bib_and_citation_cff_are_current():
    assert (REPO / "references.bib").read_text() == bibtex_all(), \
        "references.bib is stale: `sleepbench cite --all > references.bib`"
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["title"].startswith("sleepbench")
    assert cff["authors"] and cff["message"] and cff["license"] == "MIT"
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert str(cff["version"]) == version
    refs = " ".join(r["title"] for r in cff["references"])
    assert "slow-wave microcontinuity" in refs and "PhysioBank" in refs


@pytest.mark.slow
def test_cite_prints_the_bibtex_of_a_table(tmp_path, capsys):
    root = fake_results(tmp_path, seeds=(0,))
    assert cli.main(["cite", "--results", str(root), "--protocol", "quick"]) == 0
    out = capsys.readouterr().out
    assert set(bib_keys(out)) == set(DATA_KEYS) | set(STATS_KEYS) | {
        "arnab2021vivit", "sabasadiya2022fin", "supratak2020tinysleepnet", "vallat2021yasa",
        "ke2017lightgbm"}
    assert cli.main(["cite", "--models", "tinysleepnet"]) == 0
    out = capsys.readouterr().out
    assert "supratak2020tinysleepnet" in out and "arnab2021vivit" not in out
    assert cli.main(["cite", "--results", str(root), "--protocol", "quik"]) == 2
    assert "quik" in capsys.readouterr().err
    assert cli.main(["cite", "--all"]) == 0
    assert capsys.readouterr().out == bibtex_all()


def test_plugin_entries_name_and_cite_themselves(tmp_path, monkeypatch):
    plugin = tmp_path / "cited_entry.py"
    plugin.write_text(
        "from sleepbench.baselines.majority import Majority\nfrom sleepbench.benchmark.registry import register\n\n"
        "@register('cited-plugin')\nclass Cited(Majority):\n    '''A plugin with its paper.'''\n"
        "    display_name = 'Cited & Co'\n"
        "    cite = {'doe2024': '@article{doe2024, author={Doe, J.}, title={T}, journal={J}, year={2024}}'}\n")
    discover([plugin])
    assert display_name("cited-plugin") == "Cited & Co"
    assert bib_keys(bibtex_for(["cited-plugin"])) == [*DATA_KEYS, "doe2024"]


def test_reported_figures_are_a_paper_table_of_their_own_never_rows_of_the_main_table(table):
    """TinySleepNet's published 85.4 / 80.5 / 0.80 are in <protocol>-reported.tex (a table* with its
    own label and caption, citing the source), not in the main or statistics table."""
    main, stats = main_table_tex(table), stats_table_tex(table)
    reported = reported_table_tex(table)
    assert "85.4 &" not in main + stats and "Reported by the authors" not in main + stats
    assert r"\begin{table*}" in reported and r"\label{tab:quick-reported}" in reported
    assert r"TinySleepNet~\cite{supratak2020tinysleepnet}$^{a}$ & 85.4 & 80.5 & 0.80 \\" in reported
    assert r"Table~\ref{tab:quick-main}" in reported and "not measured here" in reported
    for field in ("Folds: 20-fold CV", "Wake kept: 30 min", "release: ", "Selection: "):
        assert field in reported
    body = reported.split("\\midrule\n")[1].split("\\bottomrule")[0].strip().splitlines()
    assert len(body) == 1 and body[0].count("&") == 3  # only the entry that declares figures
    assert "supratak2020tinysleepnet" in bib_keys(table_bibtex(table))


@pytest.mark.slow
def test_cite_includes_the_sources_of_reported_figures(tmp_path, toy_plugin, capsys):
    """`sleepbench cite` and the paper's .bib carry the BibTeX keys of the reported figures shown."""
    from tests.test_tables import make_results

    assert bib_keys(bibtex_for(["toy-published"])) == [*DATA_KEYS, "doe2024toy"]
    assert cli.main(["cite", "--models", "toy-published,majority"]) == 0
    assert "doe2024toy" in bib_keys(capsys.readouterr().out)
    root = make_results(tmp_path / "r", models=("majority", "toy-published"), seeds=(0,))
    assert cli.main(["cite", "--results", str(root), "--protocol", "quick"]) == 0
    assert "doe2024toy" in bib_keys(capsys.readouterr().out)
    paths = write_paper(build_tables(root), tmp_path / "out")
    text = {p.name: p.read_text() for p in paths}
    assert "doe2024toy" in bib_keys(text["quick.bib"])
    reported = text["quick-reported.tex"]
    assert r"Toy Published~\cite{doe2024toy}$^{a}$ & 97.31 & 96.42 & 0.9553 \\" in reported
    assert r"Toy Published~\cite{doe2024toy}$^{b}$ & 90.0 & -- & -- \\" in reported
    assert r"\input{quick-reported.tex}" in text["quick-preview.tex"]
    assert "97.31" not in text["quick-main.tex"] + text["quick-stats.tex"]
    # the sources of a built-in entry's reported figures
    from sleepbench.benchmark.reporting.bibliography import cite_keys, reported_keys

    assert reported_keys("tinysleepnet") == ("supratak2020tinysleepnet",) and reported_keys("majority") == ()
    assert "supratak2020tinysleepnet" in bib_keys(bibtex_for(["tinysleepnet"]))
    assert cite_keys("toy-published") == ("doe2024toy",)


def test_a_reported_source_without_bibtex_is_an_error_naming_the_key(tmp_path):
    plugin = tmp_path / "uncited_entry.py"
    plugin.write_text(
        "from sleepbench.baselines.majority import Majority\n"
        "from sleepbench.benchmark.registry import Reported, register\n\n"
        "@register('uncited-plugin')\nclass Uncited(Majority):\n    '''A plugin citing a paper it lacks.'''\n"
        "    reported = (Reported(source='Zed 2020', cite='zed2020', dataset='d', accuracy=0.8, macro_f1=None,\n"
        "                         kappa=None, folds='f', wake_trimming='w', data_version='v', selection='s'),)\n")
    discover([plugin])
    with pytest.raises(ValueError, match=r"no BibTeX for key\(s\) \['zed2020'\].*`reported`"):
        bibtex_for(["uncited-plugin"])


def _latex_tools():
    missing = [t for t in ("pdflatex", "bibtex") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"no LaTeX engine: {', '.join(missing)} not on PATH (Debian: apt-get install "
                    "texlive-latex-base texlive-latex-recommended; .ci/run installs them)")


def test_latex_compiles_to_a_pdf_with_both_tables_and_references(table, tmp_path):
    _latex_tools()
    paths = write_paper({"quick": table}, tmp_path)
    paper = tmp_path / "paper"
    # tinysleepnet declares its authors' figures: they get a table (and file) of their own
    assert {p.name for p in paths} == {"quick-main.tex", "quick-stats.tex", "quick-reported.tex", "quick.bib",
                                       "quick-preview.tex"}

    def run(*cmd):
        proc = subprocess.run(cmd, cwd=paper, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}"
        return proc

    latex = ("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "quick-preview.tex")
    run(*latex)
    run("bibtex", "quick-preview")
    run(*latex)
    run(*latex)
    log = (paper / "quick-preview.log").read_text(errors="replace")
    assert "Citation" not in log or "undefined" not in log, "undefined citations"
    assert "Reference `" not in log, "undefined references"
    assert "Overfull \\hbox" not in log, "a table is wider than the page"
    pdf = paper / "quick-preview.pdf"
    assert pdf.stat().st_size > 10_000
    pages = int(re.search(r"Output written on quick-preview.pdf \((\d+) pages?", log).group(1))
    assert 1 <= pages <= 3
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not on PATH: PDF compiled, its text not checked")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    for needle in ("TinySleepNet", "FIN-ViViT", "Majority class", "Holm" if contrast_rows(table)[1]
                   else "not adjusted", "Analysis of a sleep-dependent neuronal feedback loop",
                   "PhysioBank", "ViViT: a video vision transformer", "sleepbench",
                   "Reported by the authors, not measured here", "85.4 80.5 0.80", "TinySleepNet: an efficient"):
        assert needle in " ".join(text.split()), f"{needle!r} missing from the PDF"
    assert "[?]" not in text and "??" not in text, "an unresolved \\cite or \\ref"


# --- figures a page can hold ----------------------------------------------------------------------

def _drawn_figures(monkeypatch, table, tmp_path):
    """Write the protocol's figures, keeping each matplotlib Figure as it is saved."""
    from matplotlib.figure import Figure

    from sleepbench.benchmark.reporting.figures import write_figures

    saved = {}
    original = Figure.savefig

    def keep(self, path, *a, **kw):
        saved[Path(path).name] = self
        return original(self, path, *a, **kw)

    monkeypatch.setattr(Figure, "savefig", keep)
    paths = write_figures(table, tmp_path)
    return paths, saved


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # lays the figure out again, as savefig did
    return canvas.get_renderer()


@pytest.mark.slow
def test_figures_fit_a_column_or_a_page_with_stable_colours(table, tmp_path, monkeypatch):
    from PIL import Image

    from sleepbench.benchmark.reporting.style import COLUMN_IN, DPI, FIXED, PAGE_IN, model_style

    paths, figs = _drawn_figures(monkeypatch, table, tmp_path)
    sizes = {p.name: Image.open(p).size for p in paths}
    for name, (w, h) in sizes.items():  # a column (3.5 in) or a page width (7 in), never more
        assert w in (round(COLUMN_IN * DPI), round(PAGE_IN * DPI)), (name, w)
        assert h <= 9 * DPI, (name, h)
    assert sizes["per-class-f1.png"][0] == PAGE_IN * DPI and sizes["confusion-vivit.png"][0] == COLUMN_IN * DPI

    # one colour (and hatch) per model, the same in every figure, distinct between built-in entries
    styles = {m: (model_style(m)["color"], model_style(m)["hatch"]) for m in FIXED}
    assert len(set(styles.values())) == len(styles)
    assert model_style("my-new-model") == model_style("my-new-model")
    f1 = figs["per-class-f1.png"]
    ax = f1.axes[0]
    legend = f1.legends[0]
    colour_of = {t.get_text(): h.get_facecolor() for t, h in zip(legend.get_texts(), legend.legend_handles)}
    import matplotlib.colors as mcolors

    assert mcolors.to_hex(colour_of["ViViT"]) == model_style("vivit")["color"].lower()
    assert mcolors.to_hex(colour_of["TinySleepNet"]) == model_style("tinysleepnet")["color"].lower()
    hyp = next(f for n, f in figs.items() if n.startswith("hypnogram-"))
    line_colours = {a.get_ylabel(): mcolors.to_hex(a.lines[0].get_color()) for a in hyp.axes}
    assert line_colours["ViViT"] == model_style("vivit")["color"].lower()

    # the legend is outside the data; an incomplete model is named as such (and left out of the
    # night's hypnogram)
    renderer = _renderer(f1)
    assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    assert any(k.startswith("FIN-ViViT (") and "2/3 folds" in k for k in colour_of), colour_of
    assert "FIN-ViViT" not in line_colours

    # confusion matrices: the title is clear of the colour bar
    conf = figs["confusion-fin-vivit.png"]
    r = _renderer(conf)
    title = conf._suptitle.get_window_extent(r)
    for a in conf.axes:  # the matrix and its colour bar
        assert not title.overlaps(a.get_tightbbox(r)), "title overlaps an axis or the colour bar"
    assert "2/3 folds" in conf._suptitle.get_text()


def test_one_formatting_for_every_export():
    """Markdown, LaTeX, HTML and the paper print numbers and p-values through reporting.formatting."""
    from sleepbench.benchmark.reporting.formatting import interval, p_text, spread, thousands_text

    ps = (None, float("nan"), 0.0004, 0.0123)
    assert [p_text(p) for p in ps] == ["—", "—", "<0.001", "0.012"]
    assert [p_text(p, as_tex=True) for p in ps] == ["--", "--", "$<$0.001", "0.012"]
    assert [thousands_text(n) for n in (None, 0, 5, 1_516_421)] == ["—", "0", "<0.1", "1,516.4"]
    assert thousands_text(1_516_421, as_tex=True) == "1{,}516.4" and thousands_text(5, as_tex=True) == "$<$0.1"
    assert spread(0.8412, 0.0023, 1, scale=100) == "84.1 ± 0.2" and spread(0.8412, None, scale=100) == "84.1"
    assert spread(0.8412, 0.0023, 1, scale=100, as_tex=True, compact=True) == r"84.1$\pm$0.2"
    assert interval(-0.012, 0.034, scale=100) == "[-1.2, +3.4]" and interval(None, 0.1, as_tex=True) == "--"
