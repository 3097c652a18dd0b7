"""FIN-ViViT entries: fusion shapes, controls (frozen, random, oracle), determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.registry import discover, make_entry
from models.features import relative_log_band_powers, shannon_entropy
from models.fin import FINConfig, load_fin, target_stats
from tests.synthetic import synthetic_set

#: A few-second FIN pre-training shared by these tests (cached in a per-session folder).
SMALL = dict(n_train=1200, n_valid=200, epochs=2, batch_size=64)
RECIPE = dict(max_epochs=2, steps_per_epoch=4, max_train_seconds=None, batch_size=8)
ENTRIES = ("fin-vivit", "fin-vivit-entropy", "fin-vivit-bandpower", "fin-vivit-frozen",
           "fin-vivit-random", "vivit-oracle")


@pytest.fixture(scope="module", autouse=True)
def fin_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SLEEPBENCH_CACHE", str(tmp_path_factory.mktemp("fin-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def syn():
    return synthetic_set(2, 60, seed=1), synthetic_set(1, 60, seed=2), synthetic_set(1, 60, seed=3)


def entry(name, **params):
    return make_entry(name, seed=0, params={"fin_config": SMALL, **RECIPE, **params})


def test_all_entries_registered_with_descriptions():
    entries = discover()
    for name in ENTRIES + ("vivit", "vivit-seed"):
        assert name in entries and entries[name].description


@pytest.mark.parametrize("name,extra", [("fin-vivit", 64), ("fin-vivit-entropy", 32),
                                        ("fin-vivit-bandpower", 32), ("vivit-oracle", 6)])
def test_fusion_head_width(name, extra):
    module = entry(name).build_module(1, 3000)
    assert module.vivit.head.in_features == module.vivit.d_model + extra
    x = torch.randn(2, 10, 1, 3000) * 30
    assert module(x).shape == (2, 10, 5)


def test_oracle_branch_is_the_standardised_exact_features():
    module = entry("vivit-oracle").build_module(1, 3000)
    x = torch.randn(1, 3, 1, 3000) * 30
    feats = module.branch(x)[0].numpy()
    eeg = x[0, :, 0].numpy()
    exact = np.concatenate([shannon_entropy(eeg)[:, None], relative_log_band_powers(eeg)], axis=1)
    mean = np.concatenate([target_stats("entropy")[0], target_stats("bandpower")[0]])
    std = np.concatenate([target_stats("entropy")[1], target_stats("bandpower")[1]])
    np.testing.assert_allclose(feats, (exact - mean) / std, rtol=1e-4, atol=1e-4)


def test_frozen_fins_do_not_change_and_finetuned_ones_do(syn):
    train, valid, _ = syn
    fresh = {k: load_fin(k, config=FINConfig(**SMALL)) for k in ("entropy", "bandpower")}
    frozen = entry("fin-vivit-frozen").fit(train, valid).module_
    tuned = entry("fin-vivit").fit(train, valid).module_
    for kind, fin in fresh.items():
        for (name, p0), p_frozen, p_tuned in zip(fin.named_parameters(),
                                                 frozen.branch.fins[kind].parameters(),
                                                 tuned.branch.fins[kind].parameters()):
            assert torch.equal(p0, p_frozen), (kind, name)
        assert any(not torch.equal(p0, p1) for p0, p1 in zip(fin.parameters(),
                                                             tuned.branch.fins[kind].parameters()))


def test_random_control_is_not_pretrained():
    pre = entry("fin-vivit").build_module(1, 3000).branch.fins["entropy"]
    rnd = entry("fin-vivit-random").build_module(1, 3000).branch.fins["entropy"]
    assert not torch.equal(pre.head.weight, rnd.head.weight)


@pytest.mark.parametrize("name", ["fin-vivit", "vivit-oracle"])
def test_fit_is_deterministic(syn, name):
    train, valid, test = syn
    a = entry(name).fit(train, valid).predict_proba(test)
    b = entry(name).fit(train, valid).predict_proba(test)
    assert a.shape == (len(test), 5)
    assert np.array_equal(a, b)
