"""What the entries report about their own training (``record["entry_report"]``), summarised per row.

* ``"training"`` (deep entries, :class:`sleepbench.benchmark.training.PassTracker`): the budget (passes x
  optimiser steps per pass x batch x sequence length), the passes run and the best pass, the
  per-pass validation macro-F1;
* ``"fin"`` (FIN-ViViT entries): each FIN's imitation R^2 / MAE on the fold's test epochs, before
  (pre-trained) and after fine-tuning.

Entries that report neither (the classic entries) have none: their cells stay empty.
"""

from __future__ import annotations

import numpy as np

#: FIN features whose imitation the FIN entries report.
FIN_FEATURES = ("entropy", "bandpower")


def training_of(run) -> dict | None:
    return run.record["entry_report"].get("training")


def budget_text(budget: dict | None) -> str:
    """``30 × 100 × 16 × 1`` (passes × steps per pass × batch × sequence length)."""
    if not budget:
        return ""
    parts = [budget.get(k) for k in ("max_passes", "steps_per_pass", "batch_size", "seq_len")]
    return " × ".join("all" if p is None else str(p) for p in parts)


def training_summary(runs) -> dict:
    """Columns of one row: ``budget`` text, ``passes_min/max``, ``best_pass_min/max``,
    ``steps_run_median`` and ``no_validation`` (runs trained without validation data).

    Empty (no keys) when no run reports its training.
    """
    reports = [t for t in (training_of(r) for r in runs) if t]
    if not reports:
        return {}
    budgets = sorted({budget_text(t.get("budget")) for t in reports})
    passes = [int(t["passes_run"]) for t in reports if t.get("passes_run") is not None]
    best = [int(t["best_pass"]) for t in reports if t.get("best_pass") is not None]
    steps = [int(t["steps_run"]) for t in reports if t.get("steps_run") is not None]
    return {"budget": "; ".join(b for b in budgets if b),
            "passes_min": min(passes) if passes else np.nan, "passes_max": max(passes) if passes else np.nan,
            "best_pass_min": min(best) if best else np.nan, "best_pass_max": max(best) if best else np.nan,
            "steps_run_median": float(np.median(steps)) if steps else np.nan,
            "runs_without_validation": sum(t.get("validation") == "none" for t in reports)}


def learning_curves(runs) -> list[list[float | None]]:
    """Per run, the validation macro-F1 of each pass (None where a pass had no validation)."""
    out = []
    for r in sorted(runs, key=lambda r: (r.seed, r.fold)):
        t = training_of(r)
        if t and t.get("history"):
            out.append([h.get("val_macro_f1") for h in t["history"]])
    return out


def imitation_summary(runs) -> dict:
    """``{"r2_entropy_before": mean over runs, ..., "mae_bandpower_after": ...}``; empty when no
    run reports imitation."""
    values: dict[str, list[float]] = {}
    for r in runs:
        imitation = (r.record["entry_report"].get("fin") or {}).get("imitation") or {}
        for feature, parts in imitation.items():
            for when in ("before", "after"):
                for metric in ("r2", "mae"):
                    v = ((parts or {}).get(when) or {}).get(metric)
                    if v is not None:
                        values.setdefault(f"{metric}_{feature}_{when}", []).append(float(v))
    return {k: float(np.mean(v)) for k, v in sorted(values.items())}
