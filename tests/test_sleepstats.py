"""Sleep statistics per night (YASA) and their agreement tables: hand-checked nights, gaps, bias,
limits of agreement, ICC, the subject bootstrap, and the written table and figures."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sleepbench.benchmark import sleepstats as ss
from sleepbench.benchmark.reporting.sleepstats_tables import build_sleepstats, write_sleepstats

W, N1, N2, N3, R = range(5)


def night(*runs):
    """Stage array from (stage, n_epochs) runs."""
    return np.concatenate([np.full(n, s) for s, n in runs])


def test_night_statistics_by_hand():
    # 20 W, 4 N1, 40 N2, 6 W (WASO), 30 N3, 20 REM, 20 W = 140 epochs = 70 min kept night
    y = night((W, 20), (N1, 4), (N2, 40), (W, 6), (N3, 30), (R, 20), (W, 20))
    s = ss.night_statistics(y, np.arange(len(y)))
    assert s["TST"] == pytest.approx(47.0)            # 94 sleep epochs
    assert s["SE"] == pytest.approx(100 * 47 / 70, abs=1e-3)
    assert s["SOL"] == pytest.approx(10.0)
    assert s["WASO"] == pytest.approx(3.0)
    assert s["REM latency"] == pytest.approx(40.0)    # AASM: from sleep onset (80 epochs later)
    assert (s["N1"], s["N2"], s["N3"], s["REM"]) == pytest.approx((2.0, 20.0, 15.0, 10.0))
    assert s["%N2"] == pytest.approx(100 * 20 / 47, abs=1e-3)
    # shifts: W-N1, N1-N2, N2-W, W-N3, N3-REM, REM-W = 6 in 70 min
    assert s["Shifts/h"] == pytest.approx(6 / (70 / 60))


def test_gaps_are_unscored_time_not_sleep_and_not_shifts():
    y = night((W, 10), (N2, 20), (R, 20), (W, 10))
    epoch = np.arange(len(y))
    epoch[30:] += 8                                   # 8 epochs (4 min) missing between N2 and REM
    s = ss.night_statistics(y, epoch)
    assert s["TST"] == pytest.approx(20.0)            # the gap is not sleep
    assert s["WASO"] == pytest.approx(0.0)            # nor wake
    assert s["SE"] == pytest.approx(100 * 20 / 34, abs=1e-3)  # but it is time of the kept night
    assert s["REM latency"] == pytest.approx(14.0)    # wall-clock: 20 N2 + 8 gap epochs
    # W-N2 and REM-W only: N2 -> gap -> REM is not counted as a stage shift
    assert s["Shifts/h"] == pytest.approx(2 / (34 / 60))


def test_undefined_statistics_are_nan():
    awake = ss.night_statistics(np.zeros(30, int), np.arange(30))
    assert awake["TST"] == 0 and np.isnan(awake["SOL"]) and np.isnan(awake["REM latency"])
    no_rem = ss.night_statistics(night((W, 5), (N2, 10)), np.arange(15))
    assert np.isnan(no_rem["REM latency"]) and no_rem["REM"] == 0


def test_bad_night_input_is_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        ss.night_statistics(np.array([0, 1, 2]), np.array([0, 2, 2]))
    with pytest.raises(ValueError, match="stages must be"):
        ss.night_statistics(np.array([0, 7]), np.array([0, 1]))


def _run(model, seed, nights_true, nights_pred, subjects):
    y_true = np.concatenate(nights_true)
    y_pred = np.concatenate(nights_pred)
    rec = np.concatenate([np.full(len(t), f"R{i}") for i, t in enumerate(nights_true)])
    subj = np.concatenate([np.full(len(t), s) for t, s in zip(nights_true, subjects)])
    epoch = np.concatenate([np.arange(len(t)) for t in nights_true])
    arrays = {"y_true": y_true, "y_pred": y_pred, "recording": rec, "subject": subj, "epoch": epoch}
    record = {"protocol": {"kind": "subject-cv"}, "dataset": {"source": "surrogate"}}
    return SimpleNamespace(model=model, seed=seed, arrays=arrays, record=record)


def _nights(n, seed=0):
    rng = np.random.default_rng(seed)
    return [night((W, int(rng.integers(5, 30))), (N1, 3), (N2, int(rng.integers(20, 60))),
                  (N3, int(rng.integers(5, 30))), (W, int(rng.integers(0, 8))),
                  (R, int(rng.integers(5, 25))), (W, 10)) for _ in range(n)]


def test_agreement_perfect_and_biased_models():
    truth = _nights(8)
    subjects = [0, 0, 1, 1, 2, 2, 3, 3]
    # "late": one more epoch of wake at the start of each night, in place of N1 -> TST -0.5 min
    late = [np.where(np.arange(len(t)) == np.flatnonzero(t != W)[0], W, t) for t in truth]
    runs = [_run("perfect", 0, truth, truth, subjects), _run("late", 0, truth, late, subjects)]
    agree = ss.agreement(ss.per_night(runs), n_resamples=500).set_index(["model", "statistic"])
    p = agree.loc[("perfect", "TST")]
    assert (p["bias"], p["loa_low"], p["loa_high"], p["mae"]) == (0, 0, 0, 0)
    assert p["icc"] == pytest.approx(1.0) and p["n_nights"] == 8 and p["n_subjects"] == 4
    late_tst = agree.loc[("late", "TST")]
    assert late_tst["bias"] == pytest.approx(-0.5)
    assert late_tst["ci_low"] == late_tst["ci_high"] == pytest.approx(-0.5)  # no spread
    assert late_tst["loa_low"] == pytest.approx(-0.5) and late_tst["icc"] < 1
    assert agree.loc[("late", "SOL")]["bias"] == pytest.approx(0.5)


def test_bias_ci_resamples_subjects_and_is_seeded():
    truth = _nights(10, seed=1)
    rng = np.random.default_rng(3)
    pred = [np.where(rng.random(len(t)) < 0.15, N2, t) for t in truth]
    runs = [_run("m", 0, truth, pred, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])]
    nights = ss.per_night(runs)
    a = ss.agreement(nights, n_resamples=2000, seed=0)
    b = ss.agreement(nights, n_resamples=2000, seed=0)
    pd.testing.assert_frame_equal(a, b)
    row = a.set_index("statistic").loc["WASO"]
    assert row["ci_low"] <= row["bias"] <= row["ci_high"]
    # the CI comes from 5 subjects, not 10 nights: recompute with scipy on per-subject sums
    from scipy import stats
    g = ss.night_pairs(nights, "m", "WASO")
    d = (g["pred"] - g["true"]).to_numpy()
    sums = np.array([d[g["subject"] == s].sum() for s in range(5)])
    ref = stats.bootstrap((sums, np.full(5, 2.0)), lambda s, c, axis=-1: s.sum(axis) / c.sum(axis),
                          paired=True, vectorized=True, n_resamples=2000, method="percentile",
                          rng=np.random.default_rng(0))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (ref.confidence_interval.low, ref.confidence_interval.high))


def test_seed_average_of_predictions():
    truth = _nights(4)
    pred_a = [np.where(np.arange(len(t)) < 3, N2, t) for t in truth]  # 3 wake epochs -> N2
    runs = [_run("m", 0, truth, truth, [0, 1, 2, 3]), _run("m", 1, truth, pred_a, [0, 1, 2, 3])]
    row = ss.agreement(ss.per_night(runs), n_resamples=200).set_index("statistic").loc["TST"]
    assert row["bias"] == pytest.approx(0.75)  # (0 + 1.5 min) / 2 seeds


@pytest.mark.slow
def test_table_and_figures_written(tmp_path):
    truth = _nights(6, seed=2)
    noisy = [np.where(np.random.default_rng(i).random(len(t)) < 0.1, R, t) for i, t in enumerate(truth)]
    subjects = [0, 0, 1, 1, 2, 2]
    runs = [_run("ref", 0, truth, [np.full(len(t), N2) for t in truth], subjects),
            _run("good", 0, truth, noisy, subjects)]
    frame = pd.DataFrame({"model": ["ref", "good"]})
    table = SimpleNamespace(protocol="toy", runs=runs, reference="ref", frame=frame,
                            header=[("Dataset", "SURROGATE"), ("Protocol hash", "abc" * 10)])
    st = build_sleepstats(table, n_resamples=200)
    assert st.best == "good" and st.reference == "ref" and st.title.startswith("[SURROGATE")
    md = st.to_markdown()
    assert "good (best)" in md and "ref (ref.)" in md and "Shifts/h" in md
    paths = write_sleepstats({"toy": table}, tmp_path)
    names = {p.name for p in paths}
    assert {"toy-sleepstats.md", "toy-sleepstats.tex", "toy-sleepstats.csv",
            "bland-altman-tst.png", "bland-altman-rem-latency.png"} <= names
    csv = pd.read_csv(tmp_path / "toy-sleepstats.csv", comment="#")
    assert len(csv) == 2 * len(ss.STAT_NAMES)
    assert r"\begin{longtable}" in (tmp_path / "toy-sleepstats.tex").read_text()


def test_within_night_protocol_gets_no_sleepstats():
    run = _run("m", 0, _nights(1), _nights(1), [0])
    run.record["protocol"]["kind"] = "within-night"
    table = SimpleNamespace(protocol="blocks", runs=[run], reference=None,
                            frame=pd.DataFrame({"model": ["m"]}), header=[])
    assert build_sleepstats(table) is None


@pytest.mark.slow
def test_every_statistic_a_table_shows_is_cited(tmp_path, capsys):
    """Each statistic named in the tables (main table, contrasts, sleep-statistics agreement) has
    its reference in `sleepbench cite` and in the paper export's .bib."""
    from sleepbench.benchmark.cli import main
    from sleepbench.benchmark.reporting import build_tables, make_selection
    from sleepbench.benchmark.reporting.bibliography import STATISTIC_REFERENCES, bib_keys
    from sleepbench.benchmark.reporting.paper import table_bibtex
    from tests.test_tables import SUITE, _suite, make_results

    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    table = build_tables(root, selection=make_selection(suite=str(_suite(tmp_path, SUITE))))["quick"]
    truth = _nights(6, seed=2)
    runs = [_run("ref", 0, truth, truth, [0, 0, 1, 1, 2, 2]), _run("good", 0, truth, truth, [0, 0, 1, 1, 2, 2])]
    toy = SimpleNamespace(protocol="toy", runs=runs, reference="ref", frame=pd.DataFrame({"model": ["ref", "good"]}),
                          header=[("Dataset", "SURROGATE"), ("Protocol hash", "abc" * 10)])
    shown = table.to_markdown() + build_sleepstats(toy, n_resamples=50).to_markdown()
    assert main(["cite", "--models", "majority,cnn,vivit"]) == 0
    cited = bib_keys(capsys.readouterr().out)
    exported = bib_keys(table_bibtex(table))
    for statistic, key in STATISTIC_REFERENCES.items():
        assert statistic in shown, f"{statistic!r} is no longer shown: update STATISTIC_REFERENCES"
        assert key in cited and key in exported, f"{statistic} is shown but {key} is not cited"


def test_limits_of_agreement_and_icc_take_one_value_per_subject():
    """A subject's two nights are not independent: the Bland-Altman limits and the ICC use each
    subject's mean over its nights. Errors that cancel within every subject give zero-width limits
    (per-night limits would be +-1.96 x 10 min wide); the bias stays the mean over nights."""
    rows = []
    for s in range(4):
        for night, err in ((1, 10.0), (2, -10.0)):
            rows.append({"model": "m", "statistic": "TST", "recording": f"S{s}N{night}", "subject": s,
                         "seed": 0, "true": 300.0 + 20 * s + night, "pred": 300.0 + 20 * s + night + err})
    a = ss.agreement(pd.DataFrame(rows), n_resamples=200).set_index(["model", "statistic"]).loc[("m", "TST")]
    assert a["n_nights"] == 8 and a["n_subjects"] == 4
    assert a["bias"] == pytest.approx(0.0) and a["subject_bias"] == pytest.approx(0.0)
    assert a["loa_low"] == pytest.approx(0.0) and a["loa_high"] == pytest.approx(0.0)
    assert a["mae"] == pytest.approx(10.0)
    assert a["icc"] == pytest.approx(1.0)  # the subjects' means agree exactly
