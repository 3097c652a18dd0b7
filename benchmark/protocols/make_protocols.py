"""Generate the committed protocol files (run once; the output is deterministic).

    python -m benchmark.protocols.make_protocols

Rules: both nights of a subject always go together (folds are lists of subjects); every subject is
tested exactly once; each fold's validation subjects are a fixed, seeded draw from its training
subjects and are used only for early stopping / model selection.
"""

from __future__ import annotations

import json

import numpy as np

from sleepbench.datasets.inventory import sleep_cassette_records

from . import PROTOCOL_DIR, content_hash

VERSION = 1
PREP = {"channels": ["EEG Fpz-Cz"], "sfreq": 100.0, "wake_margin_min": 30.0}


def subject_folds(subjects: list[int], n_folds: int, n_valid: int, seed: int) -> list[dict]:
    """Split ``subjects`` into ``n_folds`` test groups (seeded shuffle, sizes differ by at most 1)."""
    rng = np.random.default_rng(seed)
    order = [int(s) for s in rng.permutation(subjects)]
    groups = [sorted(g.tolist()) for g in np.array_split(np.array(order), n_folds)]
    folds = []
    for k, test in enumerate(groups):
        rest = [s for s in subjects if s not in test]
        valid = sorted(int(s) for s in rng.choice(rest, size=n_valid, replace=False))
        train = [s for s in rest if s not in valid]
        folds.append({"fold": k, "train": train, "valid": valid, "test": test})
    return folds


def protocol(name: str, title: str, dataset: dict, subjects: list[int], folds: list[dict],
             kind: str = "subject-cv", **extra) -> dict:
    p = {"name": name, "version": VERSION, "kind": kind, "title": title, "dataset": dataset,
         "prep": PREP, "subjects": subjects, "folds": folds, **extra}
    p["hash"] = content_hash(p)
    return p


def build() -> list[dict]:
    sc_subjects = sorted({r.subject for r in sleep_cassette_records()})
    surrogate = lambda n, hours: {"type": "surrogate", "spec": {  # noqa: E731
        "subjects": n, "nights": 2, "hours": hours, "seed": 0, "hypnogram_dir": None}}
    return [
        protocol("sleepedf-20", "Sleep-EDF-20 (SC subjects 0-19, 39 nights), leave-one-subject-out",
                 {"type": "sleep-edf", "study": "cassette"}, list(range(20)),
                 subject_folds(list(range(20)), 20, 2, seed=20)),
        protocol("sleepedf-78", "Sleep-EDF-78 (all 78 SC subjects, 153 nights), 10-fold subject-wise CV",
                 {"type": "sleep-edf", "study": "cassette"}, sc_subjects,
                 subject_folds(sc_subjects, 10, 7, seed=78)),
        protocol("surrogate-20", "Surrogate 20 subjects x 2 nights x 10 h, 10-fold subject-wise CV",
                 surrogate(20, 10.0), list(range(20)), subject_folds(list(range(20)), 10, 2, seed=2020)),
        protocol("quick", "Quick check: surrogate 6 subjects x 2 nights x 4 h, 3-fold subject-wise CV",
                 surrogate(6, 4.0), list(range(6)), subject_folds(list(range(6)), 3, 1, seed=6)),
        protocol("real-night", "Within-night sanity check on the real night SC4001E0: 5 contiguous "
                 "blocks, train on 3, validate on 1, test on 1", {"type": "sleep-edf", "study": "cassette",
                 "recording": "SC4001E0"}, list(range(5)),
                 [{"fold": k, "train": [b for b in range(5) if b not in (k, (k + 1) % 5)],
                   "valid": [(k + 1) % 5], "test": [k]} for k in range(5)],
                 kind="within-night", n_blocks=5),
        *(cross_study(cond) for cond in ("placebo", "temazepam")),
    ]


def cross_study(condition: str) -> dict:
    """Train on Sleep-EDF-20 (cassette subjects 0-19, 2 of them for validation), test on the 22
    telemetry subjects' ``condition`` night: one fold; test units are 100 + telemetry subject."""
    from sleepbench.datasets.inventory import sleep_telemetry_records
    from sleepbench.datasets.studies import TEST_UNIT_OFFSET

    sc = list(range(20))
    st = [TEST_UNIT_OFFSET + s for s in sorted({r.subject for r in sleep_telemetry_records()})]
    valid = sorted(int(s) for s in np.random.default_rng(2020).choice(sc, size=2, replace=False))
    name = "sleepedf-sc-to-st" + ("" if condition == "placebo" else f"-{condition}")
    return protocol(
        name, f"Cross-study: train on Sleep-EDF-20 (cassette, home), test on the telemetry study's "
        f"{condition} nights (22 subjects, hospital)",
        {"type": "sleep-edf", "study": "cassette", "test_study": "telemetry",
         "test_condition": condition}, sc + st,
        [{"fold": 0, "train": [s for s in sc if s not in valid], "valid": valid, "test": st}],
        kind="cross-study", test_unit_offset=TEST_UNIT_OFFSET)


def main() -> None:
    for p in build():
        (PROTOCOL_DIR / f"{p['name']}.json").write_text(json.dumps(p, indent=1) + "\n")
        print(f"{p['name']}: {len(p['folds'])} folds, hash {p['hash'][:12]}")


if __name__ == "__main__":
    main()
