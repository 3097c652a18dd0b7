"""sleepbench.benchmark.reporting tables and figures on fake run records written in the runner's schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from sleepbench.benchmark.metrics import epoch_metrics, grouped_metrics
from sleepbench.benchmark.protocols import load_protocol
from sleepbench.benchmark.reporting.records import MixedRecordsError
from sleepbench.benchmark.reporting.tables import build_tables, format_summary, write_tables
from sleepbench.benchmark.stats import paired_comparison
from sleepbench.benchmark.store import SCHEMA
from sleepbench.datasets.cache import CACHE_VERSION
from sleepbench.datasets.sleep_edf import STAGES

QUICK = load_protocol("quick")  # real name and hash: the expected folds come from the committed file
SKILL = {"majority": 0.0, "cnn": 0.75, "vivit": 0.85}  # share of epochs predicted right on purpose
ENV = {"python": "3.11", "packages": {"torch": "2.13.0", "numpy": "2.3.1", "scikit-learn": "1.7.0",
                                      "mne": "1.10.0"},
       "git_commit": "abc123", "platform": "x", "device": {"type": "cpu", "name": "x86_64"},
       "cpu_kernel_set": "AVX2"}


def write_run(root: Path, model: str, seed: int, fold: int, *, protocol: dict = QUICK,
              source: str = "surrogate", phash: str | None = None, kind: str | None = None,
              n_params: int = 1234, fit_s: float = 10.0, checksum: str = "a", params: dict | None = None,
              code_hash: str = "c0de", entry_report: dict | None = None, environment: dict | None = None,
              subjects: dict | None = None, n_trainable_params: int | None = None,
              precision: str = "fp32") -> None:
    """One fold record (json + npz) as the runner writes it (every field of the current record
    schema); predictions from a seeded rng."""
    test = protocol["folds"][fold]["test"]
    rng = np.random.default_rng([seed, fold, sum(map(ord, model))])
    parts = []
    for s in test:
        for night in (1, 2):
            n = 60 + 7 * s + night  # unequal nights, so pooled and per-subject numbers differ
            truth = np.random.default_rng([s, night]).choice(5, n, p=[0.25, 0.08, 0.4, 0.12, 0.15])
            parts.append((s, night, truth, f"SC4{s:02d}{night}E0"))
    y_true = np.concatenate([p[2] for p in parts])
    skill = SKILL.get(model, 0.8)
    if skill == 0:
        y_pred = np.full_like(y_true, 2)
    else:
        y_pred = np.where(rng.random(len(y_true)) < skill, y_true, rng.integers(0, 5, len(y_true)))
    subject = np.concatenate([np.full(len(p[2]), p[0]) for p in parts])
    night = np.concatenate([np.full(len(p[2]), p[1]) for p in parts])
    epoch = np.concatenate([np.arange(len(p[2])) for p in parts])
    recording = np.concatenate([np.full(len(p[2]), p[3]) for p in parts]).astype(str)
    base = root / "runs" / protocol["name"] / model / f"seed-{seed}" / f"fold-{fold}"
    base.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(base.with_suffix(".npz"), y_true=y_true, y_pred=y_pred,
                        proba=np.eye(5, dtype=np.float32)[y_pred], subject=subject, night=night,
                        epoch=epoch, recording=recording)
    record = {
        "schema": SCHEMA, "config_hash": "x" * 20,
        "protocol": {"name": protocol["name"], "version": protocol["version"],
                     "hash": phash or protocol["hash"], "title": protocol["title"],
                     "kind": kind or protocol["kind"]},
        "dataset": {"source": source, "channels": ["EEG Fpz-Cz"], "sfreq": 100.0, "epoch_sec": 30.0,
                    "wake_margin_min": 30.0, "checksums": {p[3]: [checksum, "h"] for p in parts}},
        "model": {"name": model, "params": {"seed": seed, **(params or {})}, "n_params": n_params,
                  "n_trainable_params": n_params if n_trainable_params is None else n_trainable_params,
                  "code_hash": code_hash, "description": "fake"},
        "identity": {"code_hash": code_hash, "code_files": {}, "cache_version": CACHE_VERSION},
        "entry_report": entry_report or {}, "prediction_context": "test epochs",
        "seed": seed, "fold": fold, "precision": precision,
        "subjects": subjects or {k: protocol["folds"][fold][k] for k in ("train", "valid", "test")},
        "metrics": {"pooled": epoch_metrics(y_true, y_pred),
                    "per_subject": grouped_metrics(y_true, y_pred, subject),
                    "per_night": grouped_metrics(y_true, y_pred, recording)},
        "n_test_epochs": int(len(y_true)), "timing": {"fit_s": fit_s + fold, "predict_s": 0.1},
        "environment": environment or ENV,
        "created": "2026-11-25T07:00:00+00:00",
    }
    base.with_suffix(".json").write_text(json.dumps(record))


def make_results(root: Path, models=("majority", "cnn"), seeds=(0, 1), folds=(0, 1, 2), **kw) -> Path:
    for m in models:
        for s in seeds:
            for f in folds:
                write_run(root, m, s, f, **kw)
    return root


def _npz(root, protocol, model, seed):
    files = sorted((root / "runs" / protocol / model / f"seed-{seed}").glob("fold-*.npz"))
    zs = [np.load(f) for f in files]
    return {k: np.concatenate([z[k] for z in zs]) for k in ("y_true", "y_pred", "subject")}


def _macro_f1(t, p):
    return f1_score(t, p, average="macro", labels=range(5), zero_division=0)


@pytest.fixture
def results(tmp_path) -> Path:
    return make_results(tmp_path / "results")


@pytest.mark.slow
def test_files_written_and_figures_are_png(results):
    paths = write_tables(results)
    tables = results / "tables"
    for suffix in (".md", ".tex", ".csv"):
        assert tables / f"quick{suffix}" in paths and (tables / f"quick{suffix}").stat().st_size > 0
    pngs = [p for p in paths if p.suffix == ".png"]
    names = {p.name for p in pngs}
    assert {"confusion-cnn.png", "confusion-majority.png", "per-class-f1.png"} <= names
    first_night = f"SC4{QUICK['folds'][0]['test'][0]:02d}1E0"
    assert f"hypnogram-{first_night}.png" in names
    for p in pngs:
        assert p.parent == tables / "figures" / "quick"
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_out_dir_overrides_tables_folder(results, tmp_path):
    paths = write_tables(results, out_dir=tmp_path / "elsewhere", figures=False)
    assert {p.parent for p in paths} == {tmp_path / "elsewhere"}
    assert not (results / "tables").exists()


@pytest.mark.slow
def test_csv_round_trips_with_numbers_computed_from_the_npz(results):
    write_tables(results, figures=False)
    df = pd.read_csv(results / "tables" / "quick.csv", comment="#").set_index("model")
    assert set(df.index) == {"majority", "cnn"}
    assert df.loc["majority", "reference"] and not df.loc["cnn", "reference"]  # no vivit -> majority
    subject_mf1 = {}
    for model in ("majority", "cnn"):
        per_seed = [_npz(results, "quick", model, s) for s in (0, 1)]
        acc = [accuracy_score(z["y_true"], z["y_pred"]) for z in per_seed]
        kap = [cohen_kappa_score(z["y_true"], z["y_pred"]) if model != "majority" else 0.0 for z in per_seed]
        mf1 = [_macro_f1(z["y_true"], z["y_pred"]) for z in per_seed]
        row = df.loc[model]
        assert row["accuracy"] == pytest.approx(np.mean(acc))
        assert row["accuracy_sd"] == pytest.approx(np.std(acc, ddof=1), abs=1e-12)
        assert row["kappa"] == pytest.approx(np.mean(kap), abs=1e-12)
        assert row["macro_f1"] == pytest.approx(np.mean(mf1))
        per_class = np.mean([f1_score(z["y_true"], z["y_pred"], average=None, labels=range(5),
                                      zero_division=0) for z in per_seed], axis=0)
        assert [row[f"f1_{s}"] for s in STAGES] == pytest.approx(per_class)
        # per subject: score per seed, averaged over seeds, then mean/sd over the 6 subjects
        subjects = sorted(set(per_seed[0]["subject"].tolist()))
        subject_mf1[model] = np.array([np.mean([_macro_f1(z["y_true"][z["subject"] == s],
                                                          z["y_pred"][z["subject"] == s])
                                                for z in per_seed]) for s in subjects])
        assert row["n_subjects"] == len(subjects) == 6
        assert row["subject_macro_f1_mean"] == pytest.approx(subject_mf1[model].mean())
        assert row["subject_macro_f1_sd"] == pytest.approx(subject_mf1[model].std(ddof=1))
        assert row["fit_s"] == pytest.approx(10 + 11 + 12)  # summed over folds, mean over seeds
        assert row["seeds"] == 2 and row["folds_found_min"] == row["folds_expected"] == 3
        assert row["complete"]
    cnn = df.loc["cnn"]
    d = subject_mf1["cnn"] - subject_mf1["majority"]
    assert cnn["n_pairs"] == 6  # subjects, not epochs
    assert cnn["delta_macro_f1"] == pytest.approx(d.mean())
    assert cnn["p_wilcoxon"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert cnn["p_exact"] == pytest.approx(2 / 64)  # cnn beats majority on all 6 subjects
    assert cnn["d_z"] == pytest.approx(d.mean() / d.std(ddof=1))
    ref = paired_comparison(subject_mf1["cnn"], subject_mf1["majority"], seed=0)
    assert (cnn["ci_low"], cnn["ci_high"]) == pytest.approx((ref.ci_low, ref.ci_high))
    assert cnn["ci_low"] < cnn["delta_macro_f1"] < cnn["ci_high"]
    assert np.isnan(df.loc["majority", "delta_macro_f1"])


def _tex_rows(tex: str) -> tuple[str, list[str]]:
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex).group(1)
    body = tex[tex.index(r"\toprule"):tex.index(r"\bottomrule")]
    rows = [ln for ln in body.splitlines() if ln.rstrip().endswith(r"\\")]
    return spec, rows


def _balanced(text: str) -> bool:
    depth = 0
    for m in re.finditer(r"(?<!\\)[{}]", text):
        depth += 1 if m.group() == "{" else -1
        if depth < 0:
            return False
    return depth == 0


@pytest.mark.slow
def test_latex_is_booktabs_with_consistent_columns(results):
    write_tables(results, figures=False)
    tex = (results / "tables" / "quick.tex").read_text()
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    spec, rows = _tex_rows(tex)
    assert len(rows) == 1 + 2  # header + two models
    for row in rows:
        assert len(re.findall(r"(?<!\\)&", row)) == len(spec) - 1
    assert _balanced(tex)
    assert tex.count(r"\begin{") == tex.count(r"\end{")
    assert QUICK["hash"] in tex and "SURROGATE" in tex
    assert "±" not in tex and "κ" not in tex  # pdflatex-safe: symbols become math


@pytest.mark.slow
def test_markdown_header_names_hash_and_says_surrogate(results):
    write_tables(results, figures=False)
    md = (results / "tables" / "quick.md").read_text()
    title = md.splitlines()[0]
    assert title.startswith("# ") and "surrogate" in title.lower()
    assert "SURROGATE" in md and QUICK["hash"] in md
    for text in ("EEG Fpz-Cz", "100 Hz", "30 s", "quick v1", "Test subjects:** 6", "abc123", "Seeds:** 0, 1"):
        assert text in md
    table = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert len(table) == 2 + 2 and "ΔMF1" in table[0] and "p (exact)" in table[0]
    assert "majority (ref.)" in md


@pytest.mark.slow
def test_real_source_is_not_labelled_surrogate_and_within_night_is_a_sanity_check(tmp_path):
    real = make_results(tmp_path / "real", models=("vivit", "cnn"), seeds=(0,), source="sleep-edf-cassette")
    md = build_tables(real)["quick"].to_markdown()
    assert "SURROGATE" not in md and "sleep-edf-cassette" in md
    assert "vivit (ref.)" in md and "±" in md  # subject spread still shown with one seed
    night = make_results(tmp_path / "night", seeds=(0,), kind="within-night")
    t = build_tables(night)["quick"]
    assert "within-night sanity check" in t.title.lower() and "not a benchmark" in t.title.lower()
    assert "MF1/block" in t.to_markdown()


@pytest.mark.slow
def test_a_protocol_mixing_dataset_sources_is_rejected(results):
    write_run(results, "vivit", 0, 0, source="sleep-edf-cassette")
    with pytest.raises(MixedRecordsError, match="dataset source"):
        write_tables(results)
    assert not (results / "tables").exists()  # nothing half-written


@pytest.mark.slow
def test_a_protocol_mixing_versions_or_files_is_rejected(tmp_path):
    root = make_results(tmp_path / "a", seeds=(0,))
    write_run(root, "vivit", 0, 0, phash="0" * 64)
    with pytest.raises(MixedRecordsError, match="protocol hash"):
        build_tables(root)
    root = make_results(tmp_path / "b", seeds=(0,))
    write_run(root, "vivit", 0, 0, checksum="changed")
    with pytest.raises(MixedRecordsError, match="checksums differ"):
        build_tables(root)


@pytest.mark.slow
def test_missing_folds_are_flagged(results):
    for seed in (0, 1):
        for suffix in (".json", ".npz"):
            (results / "runs/quick/cnn" / f"seed-{seed}" / f"fold-2{suffix}").unlink()
    write_tables(results, figures=False)
    md = (results / "tables" / "quick.md").read_text()
    assert "cnn (2/3 folds)" in md and "Incomplete" in md
    df = pd.read_csv(results / "tables" / "quick.csv", comment="#").set_index("model")
    assert not df.loc["cnn", "complete"] and df.loc["cnn", "folds_found_min"] == 2
    # an incomplete row is not compared (issue 13): no ΔMF1, CI or p-value
    assert "n_pairs" not in df or np.isnan(df.loc["cnn", "n_pairs"])
    assert "(2/3 folds)" in (results / "tables" / "quick.tex").read_text()


@pytest.mark.slow
def test_reference_choice_and_omitted_comparisons(tmp_path):
    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    assert build_tables(root)["quick"].reference == "vivit"
    t = build_tables(root, reference="cnn")["quick"]
    assert t.reference == "cnn" and t.frame.loc[t.frame["model"] == "vivit", "delta_macro_f1"].item() > 0
    none = build_tables(root, reference="absent")["quick"]
    assert none.reference is None and "delta_macro_f1" not in none.frame
    assert "ΔMF1" not in none.to_markdown() and "comparisons omitted" in none.to_markdown()
    summary = format_summary(build_tables(root))
    assert "vivit" in summary and "MF1" in summary and len(summary.splitlines()) == 4


# --- one row = one experiment (issue 11 item 2) -------------------------------------------------

@pytest.mark.parametrize("field, change", [
    ("resolved parameters (lr)", {"params": {"lr": 1e-4}}),
    ("code hash", {"code_hash": "other"}),
    ("FIN weights", {"entry_report": {"fin": {"weights": {"entropy": "e2", "bandpower": "b"}}}}),
    ("device", {"environment": {**ENV, "device": {"type": "cuda", "name": "NVIDIA H100"}}}),
    ("torch version", {"environment": {**ENV, "packages": {**ENV["packages"], "torch": "2.5.0"}}}),
    ("mne version", {"environment": {**ENV, "packages": {**ENV["packages"], "mne": "1.7.0"}}}),
    ("precision", {"precision": "bf16"}),
])
@pytest.mark.slow
def test_a_row_never_mixes_experiments(tmp_path, field, change):
    same = {"params": {"lr": 1e-3}, "entry_report": {"fin": {"weights": {"entropy": "e", "bandpower": "b"}}}}
    root = make_results(tmp_path / "r", models=("majority", "cnn"), seeds=(0,), **same)
    write_run(root, "cnn", 0, 2, **{**same, **change})  # one fold from another experiment
    with pytest.raises(MixedRecordsError) as err:
        build_tables(root)
    msg = str(err.value)
    assert f"model 'cnn': records differ in {field}" in msg
    assert "seed-0/fold-2.json" in msg and "seed-0/fold-0.json" in msg  # names the records


def test_a_row_mixing_cpu_kernel_sets_is_flagged_not_refused(tmp_path):
    """A heterogeneous cluster: one model's folds trained under two CPU kernel sets. Each record is a
    valid run of the same experiment, so the row stays (and is compared), but it says so."""
    root = make_results(tmp_path / "r", models=("majority", "cnn"), seeds=(0,),
                        environment={**ENV, "cpu_kernel_set": "AVX2"})
    write_run(root, "cnn", 0, 2, environment={**ENV, "cpu_kernel_set": "DEFAULT"})
    t = build_tables(root)["quick"]
    row = t.frame.set_index("model").loc["cnn"]
    assert row["complete"] and row["cpu_kernel_sets"] == "AVX2 (2 records), DEFAULT (1 record)"
    assert t.frame.set_index("model").loc["majority", "cpu_kernel_sets"] == "AVX2"
    md = t.to_markdown()
    assert "cnn [mixed CPU kernel sets]" in md and "majority [" not in md
    assert "Mixed CPU kernel sets (flagged, still compared):** cnn (AVX2 (2 records)" in md
    from sleepbench.benchmark.reporting.paper import main_table_tex

    assert "Trained under several CPU kernel sets" in main_table_tex(t)


@pytest.mark.slow
def test_records_of_one_model_may_differ_in_seed_only(tmp_path):
    root = make_results(tmp_path / "r", params={"lr": 1e-3})  # params carry each record's seed
    assert build_tables(root)["quick"].frame["complete"].all()


@pytest.mark.slow
def test_missing_seeds_are_flagged_and_not_compared(tmp_path):
    root = make_results(tmp_path / "r", models=("majority",), seeds=(0, 1))
    make_results(root, models=("cnn",), seeds=(0,))  # all folds of seed 0, seed 1 never ran
    t = build_tables(root)["quick"]
    row = t.frame.set_index("model").loc["cnn"]
    assert not row["complete"] and row["seeds"] == 1 and row["seeds_expected"] == 2
    assert np.isnan(row.get("delta_macro_f1", np.nan))
    md = t.to_markdown()
    assert "cnn (1/2 seeds)" in md and "Incomplete (flagged, not comparable):** cnn (1/2 seeds)" in md


@pytest.mark.slow
def test_lost_data_and_missing_validation_are_flagged(tmp_path):
    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    fold = QUICK["folds"][1]
    write_run(root, "cnn", 0, 1, subjects={"train": fold["train"][:1], "valid": fold["valid"],
                                           "test": fold["test"]})
    write_run(root, "vivit", 0, 2, entry_report={"training": {"validation": "none", "passes_run": 3,
                                                              "best_pass": 3, "history": []}})
    t = build_tables(root)["quick"]
    rows = t.frame.set_index("model")
    assert rows.loc["cnn", "complete"] and not rows.loc["cnn", "comparable"]  # all folds, but lost data
    assert not rows.loc["vivit", "comparable"]
    md = t.to_markdown()
    assert "cnn (lost data)" in md and "vivit (ref.) (no validation data)" in md
    header = dict(t.header)["Lost data or no validation (flagged, not comparable)"]
    lost = sorted(set(fold["train"]) - set(fold["train"][:1]))
    assert f"seed 0 fold 1: train lacks units {', '.join(map(str, lost))}" in header
    assert "seed 0 fold 2: trained without validation data" in header
    from sleepbench.benchmark.reporting.tables import row_flags

    flags = row_flags(t)  # what the figures mark (titles, faded bars, left out of the hypnogram)
    assert set(flags) == {"cnn", "vivit"} and "lost data" in flags["cnn"]
    # the reference is flagged: nothing is compared with it
    assert rows[["delta_macro_f1"]].isna().all().all() if "delta_macro_f1" in rows else True


def test_dirty_commit_is_flagged_in_the_header(tmp_path):
    root = make_results(tmp_path / "r", seeds=(0,), environment={**ENV, "git_commit": "abc123-dirty"})
    md = build_tables(root)["quick"].to_markdown()
    assert "abc123-dirty — UNCOMMITTED CHANGES" in md


# --- budgets, learning curves, provenance, params, imitation (issue 11 items 3-5, 16 items 2, 6) ---

def _training(passes, best, val=True):
    return {"training": {"budget": {"max_passes": 10, "steps_per_pass": 20, "batch_size": 16, "seq_len": 1},
                         "passes_run": passes, "best_pass": best, "validation": "valid" if val else "none",
                         "steps_run": 20 * passes,
                         "history": [{"pass": i + 1, "loss": 1.0 / (i + 1),
                                      "val_macro_f1": 0.3 + 0.05 * i} for i in range(passes)]}}


@pytest.mark.slow
def test_budget_passes_and_learning_curves(tmp_path):
    root = make_results(tmp_path / "r", models=("majority",), seeds=(0,))
    for fold, (passes, best) in enumerate([(6, 2), (10, 9), (8, 4)]):
        write_run(root, "vivit", 0, fold, entry_report=_training(passes, best))
    paths = write_tables(root)
    md = (root / "tables" / "quick.md").read_text()
    block = md[md.index("## Training of the deep entries"):]
    line = next(ln for ln in block.splitlines() if ln.startswith("| vivit"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1:6] == ["10 × 20 × 16 × 1", "6–10", "2–9", "160", "0"]
    assert "majority" not in block.split("##")[1]  # classic entries have no training block row
    curves = root / "tables" / "figures" / "quick" / "learning-curves.png"
    assert curves in paths and curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    tex = (root / "tables" / "quick.tex").read_text()
    assert r"10 $\times$ 20 $\times$ 16 $\times$ 1" in tex and "tab:quick-training" in tex


@pytest.mark.slow
def test_no_learning_curves_without_training_reports(results):
    assert not any(p.name == "learning-curves.png" for p in write_tables(results))


@pytest.mark.slow
def test_provenance_is_compiled_text_and_markdown_names_versions_and_device(results):
    write_tables(results, figures=False)
    tex = (results / "tables" / "quick.tex").read_text()
    compiled = "\n".join(ln for ln in tex.splitlines() if not ln.lstrip().startswith("%"))
    caption = re.search(r"\\caption\{(.*)\}\n\\label\{tab:quick\}", compiled).group(1)
    for text in ("SURROGATE", "Protocol quick v1", f"hash {QUICK['hash'][:12]}", "Seeds: 0, 1",
                 "6 test subjects", "test epochs", "Commit: abc123", "EEG Fpz-Cz"):
        assert text in caption, text
    assert "Acc, MF1 (macro-F1" in compiled  # the notes are compiled too
    md = (results / "tables" / "quick.md").read_text()
    assert "torch 2.13.0" in md and "scikit-learn 1.7.0" in md and "mne 1.10.0" in md
    assert "**Device(s):** cpu" in md


def test_params_show_trainable_and_total(tmp_path):
    root = make_results(tmp_path / "r", models=("majority",), seeds=(0,), n_params=0)
    make_results(root, models=("cnn",), seeds=(0,), n_params=150_700, n_trainable_params=109_300)
    t = build_tables(root)["quick"]
    rows = t.frame.set_index("model")
    assert rows.loc["cnn", "n_params"] == 150_700 and rows.loc["cnn", "n_trainable_params"] == 109_300
    assert "109.3k / 150.7k" in t.to_markdown()


def test_fin_imitation_block(tmp_path):
    root = make_results(tmp_path / "r", models=("majority",), seeds=(0,))
    for fold in range(3):
        imitation = {"entropy": {"before": {"r2": 0.97, "mae": 0.01}, "after": {"r2": 0.90 + 0.01 * fold, "mae": 0.02}},
                     "bandpower": {"before": {"r2": 0.80, "mae": 0.1}, "after": {"r2": 0.5, "mae": 0.2}}}
        write_run(root, "cnn", 0, fold, entry_report={"fin": {"weights": {"entropy": "e", "bandpower": "b"},
                                                               "imitation": imitation}})
    t = build_tables(root)["quick"]
    assert t.frame.set_index("model").loc["cnn", "r2_entropy_after"] == pytest.approx(0.91)
    md = t.to_markdown()
    block = md[md.index("## FIN imitation"):]
    assert "0.970 → 0.910" in block and "0.800 → 0.500" in block and "| majority" not in block


# --- declared contrasts (issue 16 item 5) and suites --------------------------------------------

def _suite(tmp_path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


SUITE = ("protocol: quick\nseeds: [0]\nreference: majority\nmodels:\n  majority: {}\n  cnn: {}\n"
         "  vivit: {}\ncontrasts:\n  - [cnn, majority]\n  - [vivit, majority]\n  - [vivit, cnn]\n")


@pytest.mark.slow
def test_declared_contrasts_with_holm(tmp_path):
    from statsmodels.stats.multitest import multipletests

    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    paths = write_tables(root, suite=str(_suite(tmp_path, SUITE)), figures=False)
    c = pd.read_csv(root / "tables" / "quick-contrasts.csv", comment="#")
    assert root / "tables" / "quick-contrasts.csv" in paths
    assert list(zip(c["model"], c["reference"])) == [("cnn", "majority"), ("vivit", "majority"), ("vivit", "cnn")]
    assert c["p_holm"].tolist() == pytest.approx(multipletests(c["p_wilcoxon"], method="holm")[1].tolist())
    assert c["p_exact_holm"].tolist() == pytest.approx(multipletests(c["p_exact"], method="holm")[1].tolist())
    main = pd.read_csv(root / "tables" / "quick.csv", comment="#").set_index("model")
    assert c.loc[2, "delta_macro_f1"] == pytest.approx(
        main.loc["vivit", "subject_macro_f1_mean"] - main.loc["cnn", "subject_macro_f1_mean"])
    md = (root / "tables" / "quick.md").read_text()
    assert ("## Contrasts (declared in suite s; Holm-adjusted over the 3 declared contrasts)" in md
            and "p (Holm)" in md and "not computed" not in md)
    assert "tab:quick-contrasts" in (root / "tables" / "quick.tex").read_text()


@pytest.mark.slow
def test_a_contrast_with_a_flagged_row_is_not_computed(tmp_path):
    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    for suffix in (".json", ".npz"):
        (root / "runs/quick/cnn/seed-0" / f"fold-2{suffix}").unlink()
    from sleepbench.benchmark.reporting import make_selection

    t = build_tables(root, selection=make_selection(suite=str(_suite(tmp_path, SUITE))))["quick"]
    c = t.contrasts.set_index(["model", "reference"])
    assert np.isnan(c.loc[("cnn", "majority"), "p_wilcoxon"]) and "2/3 folds" in c.loc[("cnn", "majority"), "note"]
    assert np.isnan(c.loc[("vivit", "cnn"), "p_holm"])
    # the two contrasts that could not be computed stay in the family with p = 1: Holm over
    # (p, 1, 1) is min(1, 3p), never the raw p a shrunken family of one would give
    p = c.loc[("vivit", "majority"), "p_wilcoxon"]
    assert c.loc[("vivit", "majority"), "p_holm"] == pytest.approx(min(1.0, 3 * p))
    md = t.to_markdown()
    assert "Holm-adjusted over the 3 declared contrasts; 2 not computed (p = 1 in the adjustment): cnn - majority" in md
    from sleepbench.benchmark.reporting.paper import stats_table_tex

    assert "Holm-adjusted over the 3 declared contrasts; 2 not computed" in stats_table_tex(t)


@pytest.mark.slow
def test_a_contrast_of_a_model_left_out_of_the_table_stays_in_the_family(tmp_path):
    """`tables --suite S --models a,b` (or --exclude) must not shrink the family the suite declares."""
    from sleepbench.benchmark.reporting import make_selection

    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    suite = str(_suite(tmp_path, SUITE))
    full = build_tables(root, selection=make_selection(suite=suite))["quick"].contrasts.set_index(
        ["model", "reference"])
    part = build_tables(root, selection=make_selection(suite=suite, exclude="cnn"))["quick"]
    c = part.contrasts.set_index(["model", "reference"])
    assert len(c) == 3 and "left out of the table" in c.loc[("cnn", "majority"), "note"]
    p = full.loc[("vivit", "majority"), "p_wilcoxon"]
    assert c.loc[("vivit", "majority"), "p_holm"] == pytest.approx(min(1.0, 3 * p))


def test_committed_suites_declare_the_fin_contrasts_and_reject_unknown_keys(tmp_path):
    from sleepbench.benchmark.suites import load_suite

    fin = [("fin-vivit", "vivit"), ("fin-vivit", "fin-vivit-random"), ("fin-vivit", "fin-vivit-scratch"),
           ("fin-vivit-entropy", "vivit"), ("fin-vivit-bandpower", "vivit"), ("fin-vivit-frozen", "vivit-oracle")]
    for name in ("quick", "full", "real-night"):
        suite = load_suite(name)
        assert suite["contrasts"][:6] == fin
        # the fixed-front-end design runs, but in no default contrast (issue 21)
        assert "fin-vivit-fixedfront" in suite["models"]
        assert all("fin-vivit-fixedfront" not in pair for pair in suite["contrasts"])
    with pytest.raises(ValueError, match=r"unknown top-level key\(s\) \['contrast'\]"):
        load_suite(str(_suite(tmp_path, SUITE.replace("contrasts:", "contrast:"))))
    with pytest.raises(ValueError, match="not in the suite's models"):
        load_suite(str(_suite(tmp_path, SUITE + "  - [tinysleepnet, cnn]\n")))


@pytest.mark.slow
def test_without_a_suite_the_protocols_suites_supply_the_contrasts(tmp_path):
    root = make_results(tmp_path / "r", models=("vivit", "fin-vivit", "fin-vivit-random"), seeds=(0,))
    t = build_tables(root)["quick"]
    from sleepbench.benchmark.suites import load_suite

    declared = [tuple(p) for p in load_suite("quick")["contrasts"]]
    assert list(zip(t.contrasts["model"], t.contrasts["reference"])) == declared  # the whole family
    computed = t.contrasts[t.contrasts["note"].isna()]
    assert list(zip(computed["model"], computed["reference"])) == [
        ("fin-vivit", "vivit"), ("fin-vivit", "fin-vivit-random")]  # the pairs whose models have records
    assert "quick" in t.contrasts_source


# --- selection and errors (issue 13 item 1) -----------------------------------------------------

@pytest.mark.slow
def test_cli_tables_selects_models_and_rejects_unknown_names(tmp_path, capsys):
    from sleepbench.benchmark.cli import main

    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    base = ["tables", "--results", str(root)]
    assert main([*base, "--models", "cnn,vivit"]) == 0
    out = capsys.readouterr().out
    assert "| vivit (ref.)" in out and "| cnn" in out and "| majority" not in out
    assert main([*base, "--exclude", "vivit"]) == 0
    out = capsys.readouterr().out
    assert "| majority (ref.)" in out and "| vivit" not in out
    assert main([*base, "--suite", str(_suite(tmp_path, SUITE)), "--exclude", "vivit"]) == 0
    assert "## Contrasts" in capsys.readouterr().out
    for args, phrase in (([*base, "--protocol", "quik"],
                          "no records of protocol 'quik'; protocols with records: quick"),
                         ([*base, "--models", "cnn,vivitt"], "vivitt have no records"),
                         ([*base, "--exclude", "nope"], "nope have no records"),
                         ([*base, "--reference", "vivitt"], "reference 'vivitt' has no records"),
                         (["tables", "--results", str(tmp_path / "absent")], "does not exist"),
                         (["tables", "--results", str(tmp_path)], "no run records under")):
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert phrase in err, (phrase, err)
    assert "models with records: cnn, majority, vivit" in (main([*base, "--models", "x"]), capsys.readouterr().err)[1]


@pytest.mark.slow
def test_records_scored_on_other_labels_or_preprocessing_are_rejected(tmp_path):
    root = make_results(tmp_path / "a", seeds=(0,))
    npz = root / "runs/quick/cnn/seed-0/fold-1.npz"
    z = dict(np.load(npz))
    z["y_true"] = np.roll(z["y_true"], 1)  # e.g. labels moved by a hypnogram-offset fix
    np.savez_compressed(npz, **z)
    with pytest.raises(MixedRecordsError, match="fold 1: .* scored different test epochs or labels"):
        build_tables(root)
    root = make_results(tmp_path / "b", seeds=(0,))
    rec = json.loads((js := root / "runs/quick/cnn/seed-0/fold-0.json").read_text())
    rec["identity"]["cache_version"] = 2
    js.write_text(json.dumps(rec))
    with pytest.raises(MixedRecordsError, match="CACHE_VERSION"):
        build_tables(root)


@pytest.mark.slow
def test_a_suite_table_refuses_records_made_with_other_suite_settings(tmp_path, capsys):
    from sleepbench.benchmark.cli import main

    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,),
                        params={"max_passes": 3})
    suite = _suite(tmp_path, SUITE.replace("  vivit: {}", "  vivit: {max_passes: 10}"))
    assert main(["tables", "--results", str(root), "--suite", str(suite)]) == 2
    err = capsys.readouterr().err
    assert "vivit: max_passes = 3 in" in err and "the suite sets 10" in err
    assert main(["tables", "--results", str(root), "--suite", str(suite), "--exclude", "vivit"]) == 0


@pytest.mark.slow
def test_kernel_spread_compares_one_seed_across_kernel_sets_beside_the_seed_sd(tmp_path):
    """tests.perf.kernel_spread (docs/reproducibility.md's table) on fake records: seeds 0-2 under
    one kernel set, seed 0 under another."""
    from sleepbench.benchmark.metrics import epoch_metrics
    from tests.perf.kernel_spread import seed_scores, spread_table

    own = make_results(tmp_path / "own", models=("cnn",), seeds=(0, 1, 2),
                       environment={**ENV, "cpu_kernel_set": "AVX2"})
    other = make_results(tmp_path / "other", models=("cnn",), seeds=(0,),
                         environment={**ENV, "cpu_kernel_set": "DEFAULT"})
    a = seed_scores(own, "quick")["cnn"]
    assert sorted(a) == [0, 1, 2] and a[0][2] == ["AVX2"] and a[0][3] == 3
    yt = np.concatenate([np.load(f)["y_true"] for f in sorted((own / "runs/quick/cnn/seed-1").glob("*.npz"))])
    yp = np.concatenate([np.load(f)["y_pred"] for f in sorted((own / "runs/quick/cnn/seed-1").glob("*.npz"))])
    assert a[1][0] == pytest.approx(epoch_metrics(yt, yp)["accuracy"])
    table = spread_table(own, other)
    row = next(ln for ln in table.splitlines() if ln.startswith("| cnn "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    sd = 100 * np.std([a[s][0] for s in (0, 1, 2)], ddof=1)
    assert cells[3] == "+0.00" and cells[4] == f"{sd:.2f}" and cells[-1] == "AVX2 vs DEFAULT"


@pytest.mark.slow
def test_a_contrast_of_rows_made_by_different_shared_code_is_flagged(tmp_path):
    """Edit the shared ViViT trunk, rerun only `vivit`: `cnn` vs `vivit` then compares two trunks.
    The records say so (identity.code_files), and the contrast is flagged in every export."""
    from sleepbench.benchmark.reporting import make_selection
    from sleepbench.benchmark.reporting.html import contrasts_frame_html
    from sleepbench.benchmark.reporting.paper import stats_table_tex

    root = make_results(tmp_path / "r", models=("majority", "cnn", "vivit"), seeds=(0,))
    files = {"sleepbench.benchmark.training": "t1", "sleepbench.models.vivit": "v1"}
    for model, trunk in (("majority", None), ("cnn", "v1"), ("vivit", "v2")):  # vivit rerun after an edit
        for js in (root / "runs/quick" / model / "seed-0").glob("*.json"):
            rec = json.loads(js.read_text())
            code = ({"sleepbench.benchmark.training": "t1"} if trunk is None
                    else {**files, "sleepbench.models.vivit": trunk})
            rec["identity"] = {**rec["identity"], "code_files": code}
            js.write_text(json.dumps(rec))
    t = build_tables(root, selection=make_selection(suite=str(_suite(tmp_path, SUITE))))["quick"]
    c = t.contrasts.set_index(["model", "reference"])
    assert (c.loc[("vivit", "cnn"), "shared_code"]
            == "made by different versions of shared code: sleepbench.models.vivit")
    assert not isinstance(c.loc[("vivit", "majority"), "shared_code"], str)  # share only the harness
    assert not isinstance(c.loc[("cnn", "majority"), "shared_code"], str)
    assert np.isfinite(c.loc[("vivit", "cnn"), "p_wilcoxon"])  # flagged, still computed
    assert "FLAGGED: made by different versions of shared code: sleepbench.models.vivit" in t.to_markdown()
    tex = stats_table_tex(t)
    assert r"$^\ddagger$" in tex and "FLAGGED, made by different versions of shared code" in tex
    frame, _ = contrasts_frame_html(t)
    assert frame["Note"].str.contains("FLAGGED").sum() == 1


# --- reported by the authors: a block of its own, never a measured row ----------------------------

PUBLISHED_SUITE = ("protocol: quick\nseeds: [0]\nreference: majority\nmodels:\n  majority: {}\n"
                   "  toy-published: {}\ncontrasts:\n  - [toy-published, majority]\n")


def _published_figures():
    from tests.support.toy_entries import TOY_REPORTED

    return TOY_REPORTED


@pytest.mark.slow
def test_reported_block_is_written_apart_and_never_enters_the_measured_table(tmp_path, toy_plugin, monkeypatch):
    """An entry declaring its authors' figures gets a "reported by the authors" block in every
    table format, after the measured table; the measured rows, their CSV, the reference comparison
    and the declared contrasts are exactly those of the same records without the declaration."""
    from sleepbench.benchmark.registry import discover
    from sleepbench.benchmark.reporting import make_selection

    figures = _published_figures()
    root = make_results(tmp_path / "r", models=("majority", "toy-published"), seeds=(0,))
    suite = str(_suite(tmp_path, PUBLISHED_SUITE))
    paths = write_tables(root, suite=suite, figures=False)
    out = root / "tables"
    assert out / "quick-reported.csv" in paths
    # Markdown: the block last, under its own heading, after the notes of the measured table
    md = (out / "quick.md").read_text()
    measured, block = md.split("## Reported by the authors (not measured here)")
    assert "not measured here" in block and "authors' own protocol" in block
    for text in ("97.31", "96.42", "0.9553", "[doe2024toy]", "Doe 2024, Table 2", "20-fold subject-wise CV",
                 "30 min before and after sleep", "Sleep-EDF Expanded 2013, SC subjects 0-19",
                 "best validation macro-F1", "figures of a toy", "Doe 2024, Table 3", "Sleep-EDF-78", "90.0"):
        assert text in block, text
    assert not any(text in measured for text in ("97.31", "96.42", "0.955", "doe2024toy", "Doe 2024"))
    # the CSV of measured rows: measured numbers only; the figures in a file of their own
    main = pd.read_csv(out / "quick.csv", comment="#")
    assert sorted(main["model"]) == ["majority", "toy-published"]
    numbers = main.select_dtypes("number").to_numpy(dtype=float).ravel()
    assert not np.isin(np.round(numbers, 4), list(figures.values())).any()
    assert "doe2024toy" not in (out / "quick.csv").read_text()
    rep = pd.read_csv(out / "quick-reported.csv", comment="#")
    assert list(rep["model"]) == ["toy-published"] * 2 and list(rep["cite"]) == ["doe2024toy"] * 2
    assert rep.loc[0, ["accuracy", "macro_f1", "kappa"]].tolist() == list(figures.values())
    assert np.isnan(rep.loc[1, "macro_f1"]) and rep.loc[1, "accuracy"] == 0.9
    assert "not measured here" in (out / "quick-reported.csv").read_text().splitlines()[1]
    contrasts = (out / "quick-contrasts.csv").read_text()
    assert not any(f"{v}" in contrasts for v in figures.values())
    # LaTeX: a float of its own, after the measured ones, citing its sources
    tex = (out / "quick.tex").read_text()
    assert tex.index(r"\label{tab:quick}") < tex.index(r"\label{tab:quick-reported}")
    reported_float = tex[tex.index(r"% sleepbench: reported by the authors"):]
    assert r"\cite{doe2024toy}" in reported_float and "97.31 & 96.42 & 0.9553" in reported_float
    assert "97.31" not in tex[:tex.index(r"% sleepbench: reported by the authors")]
    assert _balanced(tex) and tex.count(r"\begin{") == tex.count(r"\end{")
    # the measured table is the same with or without the declaration
    with_block = build_tables(root, selection=make_selection(suite=suite))["quick"]
    monkeypatch.setattr(discover()["toy-published"].cls, "reported", ())
    without = build_tables(root, selection=make_selection(suite=suite))["quick"]
    assert without.reported is None and with_block.reported is not None
    pd.testing.assert_frame_equal(with_block.frame, without.frame)
    pd.testing.assert_frame_equal(with_block.contrasts, without.contrasts)
    assert with_block.notes == without.notes and with_block.provenance == without.provenance


@pytest.mark.slow
def test_no_reported_block_without_an_entry_that_declares_one(results):
    """majority and an unregistered model: no block, no file, no float."""
    paths = write_tables(results, figures=False)
    out = results / "tables"
    assert not (out / "quick-reported.csv").exists() and all("reported" not in p.name for p in paths)
    assert "Reported by the authors" not in (out / "quick.md").read_text()
    assert "reported" not in (out / "quick.tex").read_text()


def test_reported_figures_are_fractions_named_when_wrong():
    """A figure as a percentage, or a number as text, is refused naming the field; None is allowed."""
    from sleepbench.benchmark.registry import Reported

    fields = dict(source="Doe 2024", cite="doe2024", dataset="Sleep-EDF-20", accuracy=0.82, macro_f1=0.76,
                  kappa=None, folds="20-fold CV", wake_trimming="30 min", data_version="2013", selection="best")
    assert Reported(**fields).kappa is None
    with pytest.raises(ValueError, match=r"macro_f1 = 76\.0 is not a fraction in \[0, 1\] \(write 82 % as 0\.82\)"):
        Reported(**{**fields, "macro_f1": 76.0})
    with pytest.raises(ValueError, match=r"kappa = -0\.1 is not a fraction"):
        Reported(**{**fields, "kappa": -0.1})
    with pytest.raises(ValueError, match=r"accuracy = '0\.82' is not a number"):
        Reported(**{**fields, "accuracy": "0.82"})
    with pytest.raises(ValueError, match=r"cite = 'doe2024, roe2025' is not one BibTeX key"):
        Reported(**{**fields, "cite": "doe2024, roe2025"})


@pytest.mark.slow  # imports the entry (torch)
def test_tinysleepnet_declares_its_published_sleep_edf_20_figures():
    """Supratak & Guo 2020 (the authors' README table): Sleep-EDF-v1, Fpz-Cz, 20-fold CV: 85.4 / 80.5 / 0.80."""
    from sleepbench.baselines.tinysleepnet import TinySleepNet
    from sleepbench.benchmark.reporting.bibliography import BIBTEX, keys_for

    (r,) = TinySleepNet.reported
    assert (r.accuracy, r.macro_f1, r.kappa) == (0.854, 0.805, 0.80)
    assert r.cite == "supratak2020tinysleepnet" in BIBTEX and "Fpz-Cz" in r.dataset
    assert "20-fold" in r.folds and "30 min" in r.wake_trimming
    assert keys_for(["tinysleepnet"]).count("supratak2020tinysleepnet") == 1
