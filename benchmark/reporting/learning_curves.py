"""Learning curves: validation macro-F1 per training pass, one panel per deep entry.

Drawn from ``entry_report["training"]["history"]`` of every record (one thin line per fold and
seed, their mean thick), so a reader sees whether an entry was still improving when its budget ran
out (under-trained) or had long stopped (early stopping). Entries without per-pass validation
scores (classic entries, folds without validation data) are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .entry_reports import learning_curves


def learning_curves_figure(by_model: dict, path: Path, title: str, flags: dict | None = None) -> Path | None:
    """One small panel per model with validation macro-F1 per pass; None when no model has any.

    Parameters
    ----------
    by_model : dict
        model -> list of :class:`~benchmark.reporting.records.Run`, in table order.
    flags : dict, optional
        model -> short text for flagged (incomplete) rows; shown in the panel title, in red.
    """
    flags = flags or {}
    curves = {}
    for model, runs in by_model.items():
        c = [[np.nan if v is None else float(v) for v in run] for run in learning_curves(runs)]
        c = [run for run in c if np.isfinite(run).any()]
        if c:
            curves[model] = c
    if not curves:
        return None
    n = len(curves)
    cols = min(4, n)
    rows = -(-n // cols)
    from .bibliography import display_name
    from .style import DPI, PAGE_IN, model_style

    fig = Figure(figsize=(PAGE_IN, 1.45 * rows + 0.5), layout="constrained")  # a page wide
    axes = np.atleast_1d(fig.subplots(rows, cols, sharey=True, squeeze=False)).ravel()
    for ax, (model, runs) in zip(axes, curves.items()):
        longest = max(map(len, runs))
        grid = np.full((len(runs), longest), np.nan)
        for i, run in enumerate(runs):
            grid[i, :len(run)] = run
            ax.plot(np.arange(1, len(run) + 1), run, lw=0.5, alpha=0.4, color="0.4")
        with np.errstate(all="ignore"):
            mean = np.nanmean(grid, axis=0)  # passes where some runs had stopped: mean of the others
        ax.plot(np.arange(1, longest + 1), mean, lw=1.5, color=model_style(model)["color"])
        flag = flags.get(model)
        ax.set_title(display_name(model) + (f"\n({flag})" if flag else ""), fontsize=7,
                     color="#B00000" if flag else "black")
        ax.set_xlabel("pass", fontsize=6)
        ax.tick_params(labelsize=6)
        ax.grid(lw=0.3, alpha=0.5)
        ax.set_xlim(0.5, longest + 0.5)
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[::cols]:
        ax.set_ylabel("validation MF1", fontsize=6)
    fig.suptitle(f"{title}: learning curves (grey: each fold and seed; colour: their mean)", fontsize=8)
    fig.savefig(path, dpi=DPI)
    return path
