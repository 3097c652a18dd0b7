"""Sleep statistics per test night, and their agreement between the true and predicted hypnograms.

Epoch accuracy and kappa say how often a stager is right; a clinician reads totals: total sleep
time, sleep efficiency, latencies, wake after sleep onset, time in each stage. A stager can gain
kappa while shifting how much of the night it calls wake or REM, so the benchmark also reports how
well these totals agree (Bland & Altman 1986; Menghini et al. 2021, *Sleep* 44(2), zsaa170, for
the procedure in sleep-tracker validation).

Every statistic is YASA's (:meth:`yasa.Hypnogram.sleep_statistics`, AASM definitions; Vallat &
Walker 2021), computed on the true and on the predicted hypnogram of the same night:

==============  =========================================================================
TST             total sleep time (min): N1 + N2 + N3 + REM epochs
SE              sleep efficiency (%): TST / time in bed, *time in bed = the kept night*
SOL             sleep-onset latency (min): kept-night start to the first sleep epoch
REM latency     min from sleep onset to the first REM epoch (AASM; = YASA's Lat_REM - SOL)
WASO            wake after sleep onset (min): wake between the first and last sleep epoch
N1 ... REM      minutes in each stage
%N1 ... %REM    percent of TST in each stage
Shifts/h        stage shifts (changes between two consecutive scored epochs, from YASA's
                transition-count matrix :meth:`yasa.Hypnogram.transition_matrix`) per hour
                of the kept night: fragmentation
==============  =========================================================================

**Trimmed nights.** Our recordings keep wake only up to 30 min before the first and after the last
sleep epoch of the *true* hypnogram (``wake_margin_min``, :mod:`sleepbench.datasets.sleep_edf`), not lights
off to lights on. Hence: TST, WASO, REM latency and stage minutes / percents are the clinical
quantities (the true sleep period lies inside the kept night); SE is relative to the kept night
(at most 60 min of wake outside the sleep period), not to the time in bed; SOL is measured from the
kept night's start, so the *true* SOL is 30 min on every night whose recording started over 30 min
before sleep (all cassette nights), and SOL's bias measures where the model puts sleep onset
relative to the true onset (it cannot exceed the kept night). Shifts/h is per hour of the kept
night for both hypnograms, so the denominator is the same for true and predicted.

**Gaps.** Epochs missing from a night (``Sleep stage ?``, movement time, bad signal; the ``epoch``
index of the predictions tells where) are not guessed: they enter YASA's hypnogram as ``UNS``
(unscored) in both the true and the predicted hypnogram. So they count in the kept night's time
(SE's denominator, SOL, latencies: wall-clock), never in TST, WASO or a stage, and a transition
across a gap is not a stage shift.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

EPOCH_SEC = 30.0
#: Our class index -> YASA's 5-stage label; gaps become "UNS".
YASA_LABELS = ("WAKE", "N1", "N2", "N3", "REM")
#: (name in our tables, unit), in table order.
STATISTICS = (
    ("TST", "min"), ("SE", "%"), ("SOL", "min"), ("REM latency", "min"), ("WASO", "min"),
    ("N1", "min"), ("N2", "min"), ("N3", "min"), ("REM", "min"),
    ("%N1", "%"), ("%N2", "%"), ("%N3", "%"), ("%REM", "%"), ("Shifts/h", "/h"),
)
STAT_NAMES = tuple(name for name, _ in STATISTICS)
UNITS = dict(STATISTICS)


def night_hypnogram(stages: np.ndarray, epoch: np.ndarray):
    """A :class:`yasa.Hypnogram` of one night on its full 30-s grid, gaps as ``UNS``.

    Parameters
    ----------
    stages : array of int [n]
        Class per kept epoch (0..4 = W, N1, N2, N3, REM).
    epoch : array of int [n]
        Each epoch's index on the recording's grid (onset / 30 s); strictly increasing.
    """
    import yasa

    stages, epoch = np.asarray(stages), np.asarray(epoch, dtype=np.int64)
    if stages.shape != epoch.shape or stages.ndim != 1 or not len(stages):
        raise ValueError(f"one night needs equal-length 1-D stages and epoch indices, got "
                         f"{stages.shape} and {epoch.shape}")
    if np.any(np.diff(epoch) <= 0):
        raise ValueError("epoch indices of a night must be strictly increasing")
    if stages.min() < 0 or stages.max() >= len(YASA_LABELS):
        raise ValueError(f"stages must be 0..{len(YASA_LABELS) - 1}, got {sorted(set(stages.tolist()))}")
    grid = np.full(int(epoch[-1] - epoch[0] + 1), "UNS", dtype=object)
    grid[epoch - epoch[0]] = np.asarray(YASA_LABELS, dtype=object)[stages]
    return yasa.Hypnogram(list(grid), n_stages=5, freq=f"{int(EPOCH_SEC)}s")


def night_statistics(stages: np.ndarray, epoch: np.ndarray) -> dict[str, float]:
    """The statistics of :data:`STATISTICS` for one night (see the module docstring).

    NaN where undefined: SOL, REM latency and the stage percents when the night has no sleep; REM
    latency when it has no REM.
    """
    hyp = night_hypnogram(stages, epoch)
    s = hyp.sleep_statistics()
    counts, _ = hyp.transition_matrix()
    scored = [st for st in YASA_LABELS if st in counts.index and st in counts.columns]
    block = counts.loc[scored, scored].to_numpy()
    shifts = float(block.sum() - np.trace(block))  # transitions to/from UNS are not stage shifts
    out = {"TST": s["TST"], "SE": s["SE"], "SOL": s["SOL"],
           # YASA's Lat_REM counts from the start of the hypnogram; the AASM's from sleep onset
           "REM latency": s.get("Lat_REM", np.nan) - s["SOL"], "WASO": s["WASO"],
           "Shifts/h": shifts / (s["TIB"] / 60.0)}
    for st in ("N1", "N2", "N3", "REM"):
        out[st] = s.get(st, 0.0)
        out[f"%{st}"] = s.get(f"%{st}", np.nan)
    return {k: float(out[k]) for k in STAT_NAMES}


def per_night(runs) -> pd.DataFrame:
    """Statistics of every test night of ``runs``, true and predicted.

    Parameters
    ----------
    runs : iterable
        Records with ``.model``, ``.seed`` and ``.arrays`` holding ``y_true``, ``y_pred``,
        ``subject``, ``recording`` and ``epoch`` (:class:`sleepbench.benchmark.reporting.records.Run`).

    Returns
    -------
    DataFrame
        One row per (model, seed, recording, statistic): ``subject``, ``true``, ``pred``. The true
        statistics of a night are computed once and shared by every model.
    """
    true_cache: dict[tuple, dict] = {}
    rows = []
    for run in runs:
        a = run.arrays
        for name in np.unique(a["recording"]):
            idx = np.flatnonzero(a["recording"] == name)
            epoch = a["epoch"][idx]
            key = (str(name), epoch.tobytes(), a["y_true"][idx].tobytes())
            if key not in true_cache:
                true_cache[key] = night_statistics(a["y_true"][idx], epoch)
            pred = night_statistics(a["y_pred"][idx], epoch)
            subject = int(a["subject"][idx][0])
            rows += [{"model": run.model, "seed": run.seed, "recording": str(name),
                      "subject": subject, "statistic": st, "true": true_cache[key][st],
                      "pred": pred[st]} for st in STAT_NAMES]
    return pd.DataFrame(rows, columns=["model", "seed", "recording", "subject", "statistic",
                                       "true", "pred"])


def _cluster_bootstrap_ci(diff: np.ndarray, subject: np.ndarray, n_resamples: int, seed: int,
                          confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean per-night difference, resampling *subjects* (with all
    their nights), with ``scipy.stats.bootstrap`` (paired resampling of per-subject sums and
    night counts, so the statistic stays the mean over nights)."""
    from scipy import stats as sst

    from .stats import seed_kwarg

    subjects = np.unique(subject)
    sums = np.array([diff[subject == s].sum() for s in subjects])
    counts = np.array([(subject == s).sum() for s in subjects], dtype=float)
    if len(subjects) < 2:
        return np.nan, np.nan
    if np.ptp(sums / counts) == 0:  # every resample gives the same mean (scipy warns, NaN CI)
        m = float(sums.sum() / counts.sum())
        return m, m
    res = sst.bootstrap((sums, counts), lambda s, c, axis=-1: s.sum(axis) / c.sum(axis),
                        paired=True, vectorized=True, n_resamples=n_resamples,
                        confidence_level=confidence, method="percentile",
                        **seed_kwarg(sst.bootstrap, seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def icc_agreement(true: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """ICC(A,1) of true vs predicted values over units (subjects' means, in :func:`agreement`),
    with its 95 % CI.

    Two-way random effects, absolute agreement, single measurement (McGraw & Wong 1996; ICC(2,1)
    of Shrout & Fleiss 1979), from ``pingouin.intraclass_corr``: a bias lowers it, unlike a
    correlation. NaN with fewer than 3 units, or when neither set of values varies.
    """
    import warnings

    import pingouin as pg

    true, pred = np.asarray(true, float), np.asarray(pred, float)
    n = len(true)
    if n < 3 or (np.ptp(true) == 0 and np.ptp(pred) == 0):
        return np.nan, np.nan, np.nan
    data = pd.DataFrame({"night": np.tile(np.arange(n), 2), "rater": ["true"] * n + ["pred"] * n,
                         "value": np.concatenate([true, pred])})
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        icc = pg.intraclass_corr(data=data, targets="night", raters="rater", ratings="value")
    row = icc[icc["Type"].isin(["ICC(A,1)", "ICC2"])].iloc[0]
    low, high = (np.asarray(row["CI95"], float).tolist() + [np.nan, np.nan])[:2]
    return float(row["ICC"]), float(low), float(high)


def agreement(nights: pd.DataFrame, n_resamples: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Agreement of predicted with true statistics, per model and statistic.

    A night's predicted value is first averaged over the model's seeds (its true value is the same
    in every seed). Then, over the nights where both values are defined:

    * ``bias``: mean of pred - true over nights; ``ci_low``/``ci_high``: percentile bootstrap 95 %
      CI resampling subjects with all their nights (the subject is the unit of inference);
    * ``subject_bias``, ``loa_low``/``loa_high``: Bland-Altman 95 % limits of agreement from one
      value per subject, the mean over that subject's nights of true and of predicted (Bland &
      Altman 1986): the mean ± 1.96 sd of the per-subject differences. A subject's two nights are
      not independent, so per-night limits would treat correlated nights as separate people;
      the limits describe a subject's mean over their recorded nights (1-2 in Sleep-EDF-20);
    * ``icc`` (+ CI): :func:`icc_agreement` over the same per-subject means;
    * ``true_mean``, ``pred_mean``, ``mae`` (over nights), ``n_nights``, ``n_subjects``.
    """
    cols = ["model", "statistic", "unit", "n_nights", "n_subjects", "true_mean", "pred_mean",
            "bias", "ci_low", "ci_high", "subject_bias", "loa_low", "loa_high", "mae", "icc", "icc_low",
            "icc_high"]
    if nights.empty:
        return pd.DataFrame(columns=cols)
    avg = (nights.groupby(["model", "statistic", "recording", "subject"], sort=False)
           .agg(true=("true", "first"), pred=("pred", "mean")).reset_index())
    rows = []
    for (model, st), g in avg.groupby(["model", "statistic"], sort=False):
        g = g[np.isfinite(g["true"]) & np.isfinite(g["pred"])]
        d = (g["pred"] - g["true"]).to_numpy(float)
        row = {"model": model, "statistic": st, "unit": UNITS.get(st, ""), "n_nights": len(g),
               "n_subjects": int(g["subject"].nunique())}
        if len(g):
            bias = float(d.mean())
            lo, hi = _cluster_bootstrap_ci(d, g["subject"].to_numpy(), n_resamples, seed)
            subj = subject_means(g)
            ds = (subj["pred"] - subj["true"]).to_numpy(float)
            sd = float(ds.std(ddof=1)) if len(ds) > 1 else np.nan
            icc, icc_lo, icc_hi = icc_agreement(subj["true"].to_numpy(), subj["pred"].to_numpy())
            row.update(true_mean=float(g["true"].mean()), pred_mean=float(g["pred"].mean()),
                       bias=bias, ci_low=lo, ci_high=hi, subject_bias=float(ds.mean()),
                       loa_low=float(ds.mean()) - 1.96 * sd, loa_high=float(ds.mean()) + 1.96 * sd,
                       mae=float(np.abs(d).mean()), icc=icc, icc_low=icc_lo, icc_high=icc_hi)
        rows.append(row)
    order = {s: i for i, s in enumerate(STAT_NAMES)}
    out = pd.DataFrame(rows).reindex(columns=cols)
    out["_o"] = out["statistic"].map(order)
    return out.sort_values(["model", "_o"], kind="stable").drop(columns="_o").reset_index(drop=True)


def subject_means(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: the mean over its nights of ``true`` and of ``pred`` (the unit of the
    Bland-Altman limits and the ICC)."""
    return pairs.groupby("subject", sort=True).agg(true=("true", "mean"), pred=("pred", "mean")).reset_index()


def night_pairs(nights: pd.DataFrame, model: str, statistic: str) -> pd.DataFrame:
    """Per-night true and (seed-averaged) predicted values of one model and statistic."""
    g = nights[(nights["model"] == model) & (nights["statistic"] == statistic)]
    g = (g.groupby(["recording", "subject"], sort=True)
         .agg(true=("true", "first"), pred=("pred", "mean")).reset_index())
    return g[np.isfinite(g["true"]) & np.isfinite(g["pred"])].reset_index(drop=True)


__all__ = ["STATISTICS", "STAT_NAMES", "agreement", "icc_agreement", "night_hypnogram",
           "night_pairs", "night_statistics", "per_night", "subject_means"]
