"""FIN-ViViT entries: output fusion, controls (frozen, random, scratch, oracle, embed), the
fixed-front-end design, imitation report, parameter counts, fine-tuning groups, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleepbench.benchmark.registry import discover, make_entry
from sleepbench.models.features import relative_log_band_powers, shannon_entropy
from sleepbench.models.fin import FINConfig, target_stats
from sleepbench.models.fin_pretrain import load_fin
from tests.support.synthetic import synthetic_set

#: A few-second FIN pre-training shared by these tests (cached in a per-session folder).
SMALL = dict(n_train=1200, n_valid=200, epochs=2, batch_size=64)
RECIPE = dict(max_passes=2, steps_per_pass=4, batch_size=8)
ENTRIES = ("fin-vivit", "fin-vivit-entropy", "fin-vivit-bandpower", "fin-vivit-frozen",
           "fin-vivit-random", "fin-vivit-scratch", "fin-vivit-fixedfront", "fin-vivit-embed",
           "vivit-oracle")


#: FINs of other configurations pre-train into a cache of this module's own
pytestmark = pytest.mark.usefixtures("module_cache")


@pytest.fixture(scope="module")
def syn():
    return synthetic_set(2, 60, seed=1), synthetic_set(1, 60, seed=2), synthetic_set(1, 60, seed=3)


def entry(name, **params):
    return make_entry(name, seed=0, params={"fin_config": SMALL, **RECIPE, **params})


def test_all_entries_registered_with_descriptions():
    entries = discover()
    for name in ENTRIES + ("vivit", "vivit-seed"):
        assert name in entries and entries[name].description


@pytest.mark.parametrize("name,extra", [("fin-vivit", 6), ("fin-vivit-entropy", 1),
                                        ("fin-vivit-bandpower", 5), ("fin-vivit-frozen", 6),
                                        ("fin-vivit-random", 6), ("fin-vivit-scratch", 6),
                                        ("fin-vivit-fixedfront", 6), ("fin-vivit-embed", 64),
                                        ("vivit-oracle", 6)])
@pytest.mark.slow
def test_fusion_head_width(name, extra):
    module = entry(name).build_module(1, 3000)
    assert module.vivit.head.in_features == module.vivit.d_model + extra
    x = torch.randn(2, 10, 1, 3000) * 30
    assert module(x).shape == (2, 10, 5)


@pytest.mark.slow
def test_oracle_branch_is_the_standardised_exact_features():
    module = entry("vivit-oracle").build_module(1, 3000)
    x = torch.randn(1, 3, 1, 3000) * 30
    feats = module.branch(x)[0].numpy()
    eeg = x[0, :, 0].numpy()
    exact = np.concatenate([shannon_entropy(eeg)[:, None], relative_log_band_powers(eeg)], axis=1)
    mean = np.concatenate([target_stats("entropy")[0], target_stats("bandpower")[0]])
    std = np.concatenate([target_stats("entropy")[1], target_stats("bandpower")[1]])
    np.testing.assert_allclose(feats, (exact - mean) / std, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_output_fusion_is_the_standardised_fin_outputs():
    """The trunk receives each FIN's imitated feature, on the oracle's scale: only its feature for
    a single-FIN ablation."""
    x = torch.randn(1, 3, 1, 3000) * 30
    eeg = x[0, :, 0]
    for name, kinds in (("fin-vivit", ("entropy", "bandpower")), ("fin-vivit-bandpower", ("bandpower",))):
        branch = entry(name).build_module(1, 3000).branch
        with torch.no_grad():
            feats = branch(x)[0]
            outs = torch.cat([branch.fins[k](eeg) for k in kinds], dim=1)
        mean = np.concatenate([target_stats(k)[0] for k in kinds])
        std = np.concatenate([target_stats(k)[1] for k in kinds])
        torch.testing.assert_close(feats, (outs - torch.from_numpy(mean)) / torch.from_numpy(std))


def test_default_fins_are_raw_and_fixedfront_fins_are_version_5():
    """fin-vivit and its controls use the raw-signal FINs (version 6, no histogram or spectrum before
    their learned layers); only fin-vivit-fixedfront uses the fixed-front-end ones (version 5)."""
    from sleepbench.models.fin import FINModule, FixedFrontFIN

    for name in ("fin-vivit", "fin-vivit-random", "fin-vivit-scratch", "fin-vivit-frozen", "fin-vivit-embed"):
        module = make_entry(name, seed=0, params={"pretrained": False}).build_module(1, 3000)
        assert all(isinstance(f, FINModule) for f in module.branch.fins.values()), name
        assert not module.shares_spectrogram
    module = make_entry("fin-vivit-fixedfront", seed=0, params={"pretrained": False}).build_module(1, 3000)
    assert all(isinstance(f, FixedFrontFIN) for f in module.branch.fins.values())
    assert module.shares_spectrogram


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fin-vivit", "fin-vivit-embed", "fin-vivit-bandpower", "fin-vivit-entropy"])
def test_one_stft_serves_trunk_and_fixed_front_fins(name):
    """With the fixed-front-end FINs (``fin_front="fixed"``, as fin-vivit-fixedfront) FIN-ViViT
    computes the spectrogram once for the trunk and the FINs' spectral front end: the logits are
    those of the trunk and the FINs each computing their own, bit for bit."""
    module = entry(name, fin_front="fixed").build_module(1, 3000).eval()
    assert module.shares_spectrogram == (name != "fin-vivit-entropy")   # the entropy FIN reads no spectrum
    x = torch.randn(2, 10, 1, 3000) * 30
    with torch.no_grad():
        shared = module(x)
        separate = module.vivit(x, extra=module.branch(x))
    assert torch.equal(shared, separate)


@pytest.mark.slow
def test_frozen_and_oracle_differ_only_by_the_features():
    """Same trunk initialisation, same head width, same standardisation: only the imitation error
    separates fin-vivit-frozen from vivit-oracle."""
    frozen = entry("fin-vivit-frozen").build_module(1, 3000)
    oracle = entry("vivit-oracle").build_module(1, 3000)
    for (k, a), b in zip(frozen.vivit.state_dict().items(), oracle.vivit.state_dict().values()):
        assert torch.equal(a, b), k
    torch.testing.assert_close(frozen.branch.feat_mean, oracle.branch.feat_mean)
    torch.testing.assert_close(frozen.branch.feat_std, oracle.branch.feat_std)


@pytest.mark.slow
@pytest.mark.parametrize("control", ["fin-vivit-random", "fin-vivit-scratch"])
def test_controls_have_the_same_architecture(control):
    pre = entry("fin-vivit").build_module(1, 3000)
    rnd = entry(control).build_module(1, 3000)
    assert [(k, p.shape) for k, p in pre.named_parameters()] == [(k, p.shape) for k, p in rnd.named_parameters()]
    for (k, a), b in zip(pre.vivit.state_dict().items(), rnd.vivit.state_dict().values()):
        assert torch.equal(a, b), k                      # the same trunk: only the FINs differ
    assert rnd.branch.weights_sha256 == {"entropy": None, "bandpower": None}
    assert all(len(h) == 64 for h in pre.branch.weights_sha256.values())


def test_random_and_scratch_controls_differ_only_in_the_fin_recipe():
    """fin-vivit-random: fin-vivit's recipe (FINs at 0.01x lr, no decay); fin-vivit-scratch: the FIN
    layers at the trunk's lr and weight decay (the network trained from scratch)."""
    rnd = make_entry("fin-vivit-random", seed=0).build_module(1, 3000)
    scratch = make_entry("fin-vivit-scratch", seed=0).build_module(1, 3000)
    for (k, a), b in zip(rnd.state_dict().items(), scratch.state_dict().values()):
        assert torch.equal(a, b), k                      # same random initialisation
    _, fin_rnd = rnd.param_groups(1e-3, 0.05)
    assert fin_rnd["lr"] == pytest.approx(1e-5) and fin_rnd["weight_decay"] == 0.0
    _, fin_scratch = scratch.param_groups(1e-3, 0.05)
    assert fin_scratch["lr"] == pytest.approx(1e-3) and fin_scratch["weight_decay"] == 0.05


@pytest.mark.slow
def test_fin_parameter_groups():
    module = entry("fin-vivit", lr=1e-3, weight_decay=0.05).build_module(1, 3000)
    trunk, fin = module.param_groups(1e-3, 0.05)
    assert fin["lr"] == pytest.approx(1e-5) and fin["weight_decay"] == 0.0
    assert sum(p.numel() for p in fin["params"]) == sum(p.numel() for p in module.branch.fins.parameters())
    assert len(trunk["params"]) + len(fin["params"]) == len(list(module.parameters()))
    frozen = entry("fin-vivit-frozen").build_module(1, 3000)
    assert len(frozen.param_groups(1e-3, 0.05)) == 1     # nothing of the FINs trains


@pytest.mark.slow
def test_parameter_counts(syn):
    train, valid, _ = syn
    rec = dict(max_passes=1, steps_per_pass=1)
    tuned = entry("fin-vivit", **rec).fit(train, valid)
    frozen = entry("fin-vivit-frozen", **rec).fit(train, valid)
    oracle = entry("vivit-oracle", **rec).fit(train, valid)
    n_fin = sum(p.numel() for p in frozen.module_.branch.fins.parameters())
    assert tuned.n_trainable_params() == tuned.n_params() == frozen.n_params()
    assert frozen.n_trainable_params() == frozen.n_params() - n_fin == oracle.n_params()


@pytest.mark.slow
def test_report_measures_imitation_before_and_after(syn):
    train, valid, test = syn
    for name, kinds in (("fin-vivit", ("entropy", "bandpower")), ("fin-vivit-frozen", ("entropy", "bandpower")),
                        ("fin-vivit-entropy", ("entropy",))):
        e = entry(name).fit(train, valid)
        e.predict_proba(test)
        rep = e.report(test)
        assert "training" in rep or rep.keys() == {"fin"}  # merged with DeepEntry's own report
        fin = rep["fin"]
        assert set(fin["weights"]) == set(kinds) == set(fin["imitation"])
        assert all(len(h) == 64 for h in fin["weights"].values())
        for kind, parts in fin["imitation"].items():
            assert set(parts) == {"before", "after"}
            for part in parts.values():
                assert set(part) == {"r2", "mae"} and np.isfinite(part["r2"]) and part["mae"] >= 0
            if name == "fin-vivit-frozen":
                assert parts["before"] == parts["after"]
            else:
                assert parts["before"] != parts["after"]
    rnd = entry("fin-vivit-random").fit(train, valid)
    assert set(rnd.report(test)["fin"]["weights"].values()) == {"random-init"}
    oracle = entry("vivit-oracle").fit(train, valid)
    assert "fin" not in oracle.report(test)


@pytest.mark.slow
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


@pytest.mark.slow
def test_random_control_is_not_pretrained():
    pre = entry("fin-vivit").build_module(1, 3000).branch.fins["entropy"]
    rnd = entry("fin-vivit-random").build_module(1, 3000).branch.fins["entropy"]
    assert not torch.equal(pre.head.weight, rnd.head.weight)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fin-vivit", "vivit-oracle"])
def test_fit_is_deterministic(syn, name):
    train, valid, test = syn
    a = entry(name).fit(train, valid).predict_proba(test)
    b = entry(name).fit(train, valid).predict_proba(test)
    assert a.shape == (len(test), 5)
    assert np.array_equal(a, b)
