"""What a table flags is data (benchmark.reporting.problems), never parsed from its wording; and
records of an older schema are refused, not read with guessed defaults."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from sleepbench.benchmark.reporting import html, paper, problems
from sleepbench.benchmark.reporting.display import display_frame, flagged_rows
from sleepbench.benchmark.reporting.problems import (
    LOST_DATA,
    MISSING_FOLDS,
    MISSING_SEEDS,
    MIXED_KERNEL_SETS,
    NO_VALIDATION,
    Problem,
)
from sleepbench.benchmark.reporting.records import load_records
from sleepbench.benchmark.reporting.tables import build_table, build_tables
from sleepbench.benchmark.store import SCHEMA
from sleepbench.errors import UserError
from tests.test_tables import ENV, QUICK, make_results, write_run

#: the kinds each model of :func:`flagged_results` has, in order
EXPECTED = {"majority": [MIXED_KERNEL_SETS], "cnn": [LOST_DATA], "vivit": [NO_VALIDATION],
            "tinysleepnet": [MISSING_FOLDS], "yasa": [MISSING_SEEDS], "clean": []}


def flagged_results(root):
    """Seeds 0 and 1: cnn lost training units, vivit trained without validation data,
    tinysleepnet lacks a fold, yasa a seed, majority (the reference) mixes CPU kernel sets."""
    make_results(root, models=("majority", "cnn", "vivit", "tinysleepnet", "clean"), seeds=(0, 1))
    make_results(root, models=("yasa",), seeds=(0,))
    fold = QUICK["folds"][1]
    write_run(root, "cnn", 0, 1, subjects={"train": fold["train"][:1], "valid": fold["valid"], "test": fold["test"]})
    write_run(root, "vivit", 0, 2, entry_report={"training": {"validation": "none", "passes_run": 3,
                                                              "best_pass": 3, "history": []}})
    for suffix in (".json", ".npz"):
        (root / f"runs/quick/tinysleepnet/seed-1/fold-0{suffix}").unlink()
    write_run(root, "majority", 1, 2, environment={**ENV, "cpu_kernel_set": "DEFAULT"})
    return root


#: every message reworded, with the words the old text searches looked for in the wrong places
REWORDED = {
    MISSING_FOLDS: "lacks seed(s) {seed} without validation: {folds}",
    MISSING_SEEDS: "{seeds} absent (lacks)",
    LOST_DATA: "trained without validation data? no: seed(s) {role} {units} {ids}",
    NO_VALIDATION: "no held-out set (seed(s) lacks nothing)",
    MIXED_KERNEL_SETS: "kernels {sets}: lacks seed(s), without validation",
}


#: declared contrasts: one computable, two with a flagged row
CONTRASTS = [("clean", "majority"), ("cnn", "majority"), ("clean", "vivit")]


def _tables(root):
    """The table with the reference's comparisons only, and with declared contrasts."""
    runs = load_records(root)["quick"]
    return build_table("quick", runs, "majority"), build_table("quick", runs, "majority", contrasts=CONTRASTS)


@pytest.mark.slow
def test_rewording_the_messages_changes_no_flag(tmp_path, monkeypatch):
    root = flagged_results(tmp_path / "r")
    before = _tables(root)
    monkeypatch.setattr(problems, "MESSAGES", REWORDED)
    monkeypatch.setattr(problems, "IN_RECORD", "[{fold}/{seed}] {text} lacks seed(s)")
    after = _tables(root)

    for t in (*before, *after):  # the same rows flagged, with the same kinds
        assert {m: [p.kind for p in ps] for m, ps in t.problems.items()} == EXPECTED
    assert after[0].problems["cnn"][0].text.startswith("[1/0] trained without validation data? no")
    assert after[0].problems["cnn"][0].text != before[0].problems["cnn"][0].text

    for b, a in zip(before, after):
        # tables: every column but the messages themselves; the main table's flags and markers
        pd.testing.assert_frame_equal(b.frame.drop(columns="flags"), a.frame.drop(columns="flags"))
        for as_tex in (False, True):
            pd.testing.assert_frame_equal(display_frame(b, as_tex), display_frame(a, as_tex))
        assert b.summary() == a.summary()
        assert flagged_rows(b) == flagged_rows(a) == {
            "cnn": "flagged: lost data", "vivit": "flagged: no validation data",
            "tinysleepnet": "flagged: 2-3/3 folds per seed", "yasa": "flagged: 1/2 seeds"}
        # HTML page and paper export
        for part in (lambda t: html.main_frame(t)[0], lambda t: html.contrasts_frame_html(t)[0]):
            pd.testing.assert_frame_equal(part(b), part(a))
        assert html.main_frame(b)[1] == html.main_frame(a)[1]  # the rows' CSS classes
        assert paper.contrast_rows(b) == paper.contrast_rows(a)
        assert paper.main_table_tex(b) == paper.main_table_tex(a)
        assert paper.stats_table_tex(b) == paper.stats_table_tex(a)

    reference, declared = before
    rows = reference.frame.set_index("model").loc[list(EXPECTED)]
    assert list(rows["comparable"]) == [True, False, False, False, False, True]
    assert rows["delta_macro_f1"].notna().tolist() == [False, False, False, False, False, True]
    md = reference.to_markdown()
    for text in ("cnn (lost data)", "vivit (no validation data)", "tinysleepnet (2-3/3 folds per seed)",
                 "yasa (1/2 seeds)", "majority (ref.) [mixed CPU kernel sets]"):
        assert text in md and text in after[0].to_markdown(), text
    names, classes = html.main_frame(reference)
    assert {e for e, c in zip(names["Entry"], classes) if c == "incomplete"} == {"cnn", "vivit", "tinysleepnet", "yasa"}
    assert [c["model"] for c in paper.contrast_rows(reference)[0]] == ["clean"]
    c = declared.contrasts.set_index(["model", "reference"])
    assert c.loc[("cnn", "majority"), "note"] == "not compared (cnn: lost data or no validation)"
    assert c.loc[("clean", "vivit"), "note"] == "not compared (vivit: lost data or no validation)"
    assert pd.isna(c.loc[("clean", "majority"), "note"]) and c.loc[("clean", "majority"), "p_wilcoxon"] > 0
    # the header shows the messages (reworded), under the same headings
    head_before, head_after = dict(reference.header), dict(after[0].header)
    assert head_before.keys() == head_after.keys()
    lost = "Lost data or no validation (flagged, not comparable)"
    assert "seed 0 fold 1: train lacks units" in head_before[lost]
    assert "[1/0] trained without validation data? no: seed(s) train units" in head_after[lost]
    for key in ("Incomplete (flagged, not comparable)", "Mixed CPU kernel sets (flagged, still compared)"):
        assert head_before[key] == head_after[key]
    # the CSV's flags column lists the messages as written
    flags = pd.read_csv(io.StringIO(reference.to_csv()), comment="#").set_index("model")["flags"]
    assert flags["yasa"] == "seed(s) 1 missing" and flags["cnn"].startswith("seed 0 fold 1: train lacks units")
    assert flags["vivit"] == "seed 0 fold 2: trained without validation data"
    assert flags[["tinysleepnet", "majority", "clean"]].isna().all()


def test_a_problem_has_a_known_kind():
    assert Problem(LOST_DATA, "anything").kind == LOST_DATA
    with pytest.raises(ValueError, match="unknown problem kind 'lost'"):
        Problem("lost", "train lacks units 3")
    p = problems.problem(MISSING_SEEDS, seeds="1, 2").in_record(0, 2)
    assert p == Problem(MISSING_SEEDS, "seed 0 fold 2: seed(s) 1, 2 missing")


@pytest.mark.parametrize("schema", [1, None])
def test_a_record_of_an_older_schema_is_refused(tmp_path, capsys, schema):
    from sleepbench.benchmark.cli import main

    root = make_results(tmp_path / "r", models=("majority",), seeds=(0,))
    js = root / "runs/quick/majority/seed-0/fold-1.json"
    rec = json.loads(js.read_text())
    if schema is None:
        del rec["schema"]
    else:
        rec["schema"] = schema
    js.write_text(json.dumps(rec))
    with pytest.raises(UserError, match=f"{js} is a run record of schema {schema if schema is not None else 'none'}, "
                                        r"older than the current schema 2.*rerun `sleepbench run`"):
        build_tables(root)
    assert main(["tables", "--results", str(root)]) == 2
    err = capsys.readouterr().err
    assert str(js) in err and "sleepbench run" in err and len(err.strip().splitlines()) == 1


def test_a_record_of_a_newer_schema_is_skipped_with_a_warning(tmp_path, caplog):
    root = make_results(tmp_path / "r", models=("majority",), seeds=(0,))
    js = root / "runs/quick/majority/seed-0/fold-1.json"
    js.write_text(json.dumps({**json.loads(js.read_text()), "schema": 99}))
    t = build_tables(root)["quick"]
    assert "unknown record schema 99" in caplog.text
    assert [p.kind for p in t.problems["majority"]] == [MISSING_FOLDS]  # its fold shows as missing


def test_a_record_lacking_fields_of_its_schema_is_refused(tmp_path, capsys):
    """Schema 1 records made before a field existed (e.g. precision, the CPU kernel set)."""
    from sleepbench.benchmark.cli import main

    root = make_results(tmp_path / "r", models=("majority",), seeds=(0,))
    js = root / "runs/quick/majority/seed-0/fold-2.json"
    rec = json.loads(js.read_text())
    del rec["precision"], rec["environment"]["cpu_kernel_set"]
    js.write_text(json.dumps(rec))
    with pytest.raises(UserError, match=f"{js} is a run record of schema {SCHEMA} made by an older sleepbench, without "
                                        r"precision, environment.cpu_kernel_set, .*rerun `sleepbench run`"):
        build_tables(root)
    assert main(["tables", "--results", str(root)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
