"""Figures beside the tables: confusion matrices, per-class F1 bars and one night's hypnograms.

    write_figures(table, "results/tables/figures/quick")   # -> *.png, from a built ProtocolTable

Drawn with matplotlib's object-oriented API on the Agg canvas (no pyplot), so it never touches a
display or the global backend of whoever imports it. Figures of surrogate data say so in their
title, like the tables.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from sleepbench.datasets.sleep_edf import STAGES

from ..metrics import epoch_metrics, row_normalised
from .bibliography import display_name
from .display import flagged_rows
from .style import COLUMN_IN, DPI, PAGE_IN, model_style, rc

#: Hypnogram convention: wake on top, then REM, then NREM by depth.
HYPNO_ORDER = ("W", "REM", "N1", "N2", "N3")


def write_figures(table, out_dir) -> list[Path]:
    """Write the PNG figures of one protocol.

    Parameters
    ----------
    table : benchmark.reporting.tables.ProtocolTable
        The protocol's table (:func:`~benchmark.reporting.tables.build_table`): its records, row
        order and flags.
    out_dir : path
        Where to write (``sleepbench tables``: ``<tables>/figures/<protocol>``).

    Returns
    -------
    list of Path
        ``confusion-<model>.png`` per model, ``per-class-f1.png``, and ``hypnogram-<recording>.png``
        for the first test recording of fold 0, seed 0 (else of the lowest seed/fold found).
    """
    protocol = table.protocol
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_model = defaultdict(list)
    for r in table.runs:
        by_model[r.model].append(r)
    models = list(table.frame["model"])  # table order: reference first, then by macro-F1
    tag = "SURROGATE data - " if table.runs[0].record["dataset"]["source"] == "surrogate" else ""
    flags = flagged_rows(table)
    with matplotlib.rc_context(rc()):  # sizes and fonts for print (benchmark.reporting.style)
        paths = [confusion_figure(m, by_model[m], out / f"confusion-{_safe(m)}.png", tag, flags.get(m, ""))
                 for m in models]
        paths.append(f1_figure({m: by_model[m] for m in models}, out / "per-class-f1.png",
                               f"{tag}{protocol}", flags))
        # incomplete models are left out of the night's comparison (their fold may be the missing one)
        paths.append(hypnogram_figure({m: by_model[m] for m in models if m not in flags}, out,
                                      f"{tag}{protocol}"))
    return [p for p in paths if p is not None]


def _label(model: str, flag: str = "") -> str:
    return display_name(model) + (f" ({flag})" if flag else "")


def confusion_figure(model: str, runs, path: Path, tag: str = "", flag: str = "") -> Path:
    """Row-normalised confusion matrix pooled over all folds and seeds, counts annotated.

    One column wide; the title (model, then its runs) sits above the axes and the colour bar, as
    a figure title, so it never runs into the bar. ``flag`` marks an incomplete model.
    """
    y_true = np.concatenate([r.arrays["y_true"] for r in runs])
    y_pred = np.concatenate([r.arrays["y_pred"] for r in runs])
    counts = np.asarray(epoch_metrics(y_true, y_pred)["confusion"])
    frac = row_normalised(counts)
    fig = Figure(figsize=(COLUMN_IN, COLUMN_IN * 0.95), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(STAGES)):
        for j in range(len(STAGES)):
            ax.text(j, i, f"{frac[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", fontsize=5.5,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(STAGES)), STAGES)
    ax.set_yticks(range(len(STAGES)), STAGES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.suptitle(f"{tag}{_label(model, flag)}\n{len({r.fold for r in runs})} fold(s), "
                 f"{len({r.seed for r in runs})} seed(s), {len(y_true)} epochs",
                 color="#B00000" if flag else "black")
    fig.colorbar(im, ax=ax, label="share of true class", shrink=0.9)
    fig.savefig(path, dpi=DPI)
    return path


def f1_figure(by_model: dict, path: Path, title: str, flags: dict | None = None) -> Path:
    """Pooled per-class F1 (mean over seeds, sd as error bar), models side by side.

    A page wide whatever the number of models; each model in its own colour and hatch
    (:func:`~benchmark.reporting.style.model_style`), the legend below the axes, incomplete models
    (``flags``) faded and named as such.
    """
    flags = flags or {}
    fig = Figure(figsize=(PAGE_IN, 2.6 + 0.16 * -(-len(by_model) // 3)), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(by_model))
    for k, (model, runs) in enumerate(by_model.items()):
        per_seed = defaultdict(list)
        for r in runs:
            per_seed[r.seed].append(r)
        f1 = np.array([[epoch_metrics(np.concatenate([r.arrays["y_true"] for r in rs]),
                                      np.concatenate([r.arrays["y_pred"] for r in rs]))["f1"][s]
                        for s in STAGES] for rs in per_seed.values()])
        sd = f1.std(axis=0, ddof=1) if len(f1) > 1 else None
        style = model_style(model)
        ax.bar(np.arange(len(STAGES)) + (k - (len(by_model) - 1) / 2) * width, f1.mean(axis=0), width,
               yerr=sd, capsize=1.5, error_kw={"lw": 0.6}, label=_label(model, flags.get(model, "")),
               color=style["color"], hatch=style["hatch"], edgecolor="white", linewidth=0.3,
               alpha=0.45 if model in flags else 1.0)
    ax.set_xticks(range(len(STAGES)), STAGES)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (pooled over folds)")
    ax.set_title(f"{title}: per-class F1")
    ax.grid(axis="y", lw=0.3, alpha=0.5)
    fig.legend(loc="outside lower center", ncols=min(3, max(1, len(by_model))), frameon=False)
    fig.savefig(path, dpi=DPI)
    return path


def hypnogram_figure(by_model: dict, out: Path, title: str) -> Path | None:
    """True and predicted hypnogram of one test night, one panel per model."""
    all_runs = sorted((r for runs in by_model.values() for r in runs), key=lambda r: (r.seed, r.fold))
    if not all_runs:
        return None
    seed, fold = all_runs[0].seed, all_runs[0].fold  # fold 0 / seed 0 whenever they exist
    first = next(r for r in all_runs if (r.seed, r.fold) == (seed, fold))
    night = str(first.arrays["recording"][0])
    panels = []
    for model, runs in by_model.items():
        run = next((r for r in runs if (r.seed, r.fold) == (seed, fold)), None)
        if run is None:
            continue
        sel = run.arrays["recording"] == night
        order = np.argsort(run.arrays["epoch"][sel], kind="stable")
        if not panels:
            panels.append(("true", run.arrays["epoch"][sel][order], run.arrays["y_true"][sel][order]))
        panels.append((model, run.arrays["epoch"][sel][order], run.arrays["y_pred"][sel][order]))
    level = np.array([HYPNO_ORDER.index(s) for s in STAGES])  # class index -> row from the top
    fig = Figure(figsize=(PAGE_IN, 0.8 + 0.6 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, epoch, y) in zip(axes, panels):
        ax.step(epoch * 0.5 / 60, level[y], where="post", lw=0.7,
                color="k" if name == "true" else model_style(name)["color"])
        ax.set_yticks(range(len(HYPNO_ORDER)), HYPNO_ORDER, fontsize=5.5)
        ax.set_ylim(len(HYPNO_ORDER) - 0.5, -0.5)
        ax.set_ylabel("true" if name == "true" else _label(name), fontsize=6, rotation=0,
                      ha="right", va="center")
    axes[-1].set_xlabel("time (h, 30-s epochs)")
    fig.suptitle(f"{title}: {night} (seed {seed}, fold {fold})")
    path = out / f"hypnogram-{_safe(night)}.png"
    fig.savefig(path, dpi=DPI)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", str(name))
