"""Training budgets are counted in passes and steps, never in seconds (issue 11).

A wall-clock budget makes a record depend on the machine and on how many jobs ran beside it, so no
registered entry may default to one and no suite may set one.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from sleepbench.benchmark.registry import discover
from sleepbench.benchmark.suites import available, load_suite


def _wall_clock(names) -> list[str]:
    """Names of parameters that would bound training by elapsed time (a result would then depend
    on the machine's speed)."""
    return [n for n in names if "second" in n or "time" in n]


def test_no_entry_or_recipe_can_bound_training_by_wall_clock():
    from dataclasses import fields

    from sleepbench.benchmark.training import TrainRecipe

    entries = discover()
    assert "tinysleepnet" in entries and "vivit" in entries
    assert not _wall_clock(f.name for f in fields(TrainRecipe))
    for name, info in entries.items():
        assert not _wall_clock(inspect.signature(info.cls.__init__).parameters), name


# --- the training report of deep entries -----------------------------------------------------------

class _TinyDeep:
    """A small deep entry (a per-epoch linear model on a few summary numbers), built lazily so the
    registry only sees it inside these tests."""

    @staticmethod
    def make(**params):
        import torch
        from torch import nn

        from sleepbench.benchmark.training import DeepEntry

        class Module(nn.Module):
            """[batch, seq_len, C, n] -> logits [batch, seq_len, 5] from log-variance per channel."""

            def __init__(self, n_channels):
                super().__init__()
                self.linear = nn.Linear(n_channels, 5)

            def forward(self, x):
                return self.linear(torch.log(x.var(dim=-1) + 1.0))

        class TinyDeep(DeepEntry):
            def __init__(self, seed=0, max_passes=6, batch_size=8, seq_len=4, patience=2, lr=5e-2,
                         steps_per_pass=None):
                super().__init__(seed=seed, max_passes=max_passes, batch_size=batch_size,
                                 seq_len=seq_len, patience=patience, lr=lr,
                                 steps_per_pass=steps_per_pass)

            def build_module(self, n_channels, n_samples):
                return Module(n_channels)

        return TinyDeep(**params)


def _check_training_report(training, max_passes, batch_size, seq_len):
    assert set(training) >= {"budget", "passes_run", "best_pass", "validation", "history", "steps_run"}
    assert training["budget"]["max_passes"] == max_passes
    assert training["budget"]["batch_size"] == batch_size and training["budget"]["seq_len"] == seq_len
    assert training["budget"]["steps_per_pass"] >= 1
    assert 1 <= training["passes_run"] <= max_passes == training["budget"]["max_passes"]
    assert 1 <= training["best_pass"] <= training["passes_run"]
    assert [h["pass"] for h in training["history"]] == list(range(1, training["passes_run"] + 1))
    assert all(np.isfinite(h["loss"]) for h in training["history"])
    json.dumps(training)  # JSON-able as it is stored in the record


@pytest.mark.slow
def test_report_has_budget_history_and_best_pass():
    from tests.support.synthetic import synthetic_set

    train, valid, test = synthetic_set(3, 60, seed=1), synthetic_set(1, 60, seed=2), synthetic_set(1, 40, seed=3)
    entry = _TinyDeep.make(max_passes=6, patience=2).fit(train, valid)
    entry.predict_proba(test)
    training = entry.report(test)["training"]
    _check_training_report(training, 6, 8, 4)
    assert training["validation"] == "valid"
    f1s = [h["val_macro_f1"] for h in training["history"]]
    assert all(0.0 <= f <= 1.0 for f in f1s)
    # the best pass is the first maximum of the validation macro-F1, and its weights are the model's
    assert training["best_pass"] == int(np.argmax(f1s)) + 1
    # early stopping: training ran until ``patience`` passes brought nothing better, or to the end
    assert (training["passes_run"] == 6 or training["passes_run"] - training["best_pass"] == 2)
    # one pass shows every training epoch once: ceil(windows / batch) steps, windows = epochs / seq_len
    assert training["budget"]["steps_per_pass"] == -(-(3 * (60 // 4)) // 8)
    assert training["steps_run"] == sum(1 for _ in training["history"]) * training["budget"]["steps_per_pass"]


def test_no_validation_data_trains_the_full_budget_without_early_stopping():
    """A fold whose validation set is empty must not early-stop on its own training loss."""
    from sleepbench.benchmark.epochs import EpochSet
    from tests.support.synthetic import synthetic_set

    train, test = synthetic_set(3, 60, seed=1), synthetic_set(1, 40, seed=3)
    empty = EpochSet([], train.sfreq, train.channels)
    entry = _TinyDeep.make(max_passes=5, patience=1).fit(train, empty)
    training = entry.report(test)["training"]
    _check_training_report(training, 5, 8, 4)
    assert training["validation"] == "none"
    assert training["passes_run"] == 5 and training["best_pass"] == 5  # full budget, final weights
    assert all(h["val_macro_f1"] is None for h in training["history"])


# --- one budget rule per suite ---------------------------------------------------------------------

@pytest.mark.parametrize("suite", available())
def test_suite_states_one_budget_rule_for_every_deep_entry(suite):
    """Budgets follow from the suite's rule (P passes, patience K), not from numbers per model: every
    deep entry gets the same passes and patience, and no cap on steps per pass, so a pass is one
    look at every training epoch whatever the entry's batch and sequence length."""
    from sleepbench.benchmark.registry import make_entry

    s = load_suite(suite)
    assert s.get("budget_rule"), f"suite {suite} does not state its budget rule"
    entries = discover()
    budgets = {}
    for model, params in s["models"].items():
        if entries[model].kind != "deep":
            continue
        recipe = make_entry(model, 0, params).recipe()
        assert recipe.steps_per_pass is None, f"{suite}: {model} caps steps per pass"
        budgets[model] = (recipe.max_passes, recipe.patience)
    if suite == "published":
        # each published entry at its authors' budget (they may differ): TinySleepNet's config/sleepedf.py
        assert budgets == {"tinysleepnet": (200, 50), "deepsleepnet": (200, 200), "attnsleep": (100, 100),
                           "usleep": (12000, 200), "sleepyco": (500, 20)}, budgets
        return
    assert "vivit" in budgets
    assert len(set(budgets.values())) == 1, f"{suite}: budgets differ between deep entries: {budgets}"


def test_published_suite_holds_the_entries_that_declare_their_authors_figures():
    """The published suite runs Sleep-EDF-20 with three seeds, declares no contrasts, and each of its
    entries declares what its authors published (the tables show it apart, "reported by the authors")."""
    s = load_suite("published")
    assert s["protocol"] == "sleepedf-20" and s["seeds"] == [0, 1, 2] and s["contrasts"] == []
    entries = discover()
    for model in s["models"]:
        reported = entries[model].cls.reported
        # a figure the paper does not print for Sleep-EDF-20 stays None, and the note says why
        assert reported and all(r.accuracy is not None or r.macro_f1 is not None or r.note
                                for r in reported), model
    assert load_suite("full")["models"]["tinysleepnet"] == s["models"]["tinysleepnet"]  # one experiment


def test_a_renamed_budget_key_is_an_error_naming_the_new_one(tmp_path):
    """"epoch" means a 30-s window only: a suite or a parameter that still says max_epochs or
    steps_per_epoch is refused with the new name, never silently ignored."""
    from sleepbench.benchmark.registry import make_entry

    suite = tmp_path / "old.yaml"
    suite.write_text("protocol: quick\nseeds: [0]\nmodels:\n  tinysleepnet: {max_epochs: 3, steps_per_epoch: 2}\n")
    with pytest.raises(ValueError, match=r"old.yaml: model 'tinysleepnet': .*max_epochs is now max_passes, "
                                         r"steps_per_epoch is now steps_per_pass"):
        load_suite(str(suite))
    with pytest.raises(ValueError, match="max_epochs is now max_passes"):
        make_entry("vivit", 0, {"max_epochs": 1})
