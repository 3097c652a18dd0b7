"""sleepyco: SleePyCo (Lee et al. 2024) with the authors' two-stage recipe.

Small synthetic nights (tests/support/synthetic.py) keep the model tests short; the runner is driven
end to end on the quick protocol (surrogate data) and on real-night (skips without SC4001E0). The
model scores each epoch from a window of ``seq_len`` epochs joined into one signal, and its
Transformer reads up to 1,200 tokens a window at the authors' ``seq_len`` = 10, so every fit here
runs at ``seq_len`` 2 and ``depth`` 1 (the code paths are the same) and a tiny budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleepbench.baselines import sleepyco as spc
from sleepbench.benchmark.epochs import EpochSet
from sleepbench.benchmark.registry import discover, make_entry
from tests.support.spies import fit_spied, record_adams, snapshot_pretraining
from tests.support.synthetic import N_SAMPLES, SFREQ, macro_f1, synthetic_recording, synthetic_set

#: a tiny budget that still runs both stages (and their validations) end to end
TINY = dict(max_passes=1, pretrain_passes=1, steps_per_pass=2, pretrain_batch_size=8, batch_size=4,
            seq_len=2, depth=1)


def check_proba(p: np.ndarray, n: int) -> None:
    assert p.shape == (n, 5)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


# --- the module ------------------------------------------------------------------------------------

def test_module_shapes_and_layers():
    """[batch, seq_len, C, S] -> [batch, 3 levels, 5]; the pyramid of 10 x 3000 samples is 1200 /
    240 / 48 tokens (c3 / c4 / c5, pools of 5 rounding up), the authors' feature_len_dict."""
    torch.manual_seed(0)
    m = spc.SleePyCoModule(1, N_SAMPLES, seq_len=2, n_layers=1).eval()
    with torch.no_grad():
        out = m(torch.randn(2, 2, 1, N_SAMPLES))
        c5 = m.embed(torch.randn(3, 1, N_SAMPLES))
    assert tuple(out.shape) == (2, 3, 5) and tuple(c5.shape) == (3, 256, 5)
    assert spc.pyramid_lengths(10 * 3000) == (1200, 240, 48)
    assert spc.pyramid_lengths(3000) == (120, 24, 5)
    full = spc.SleePyCoModule(1, N_SAMPLES)
    assert len(full.head.pe) == 1200 and len(full.head.encoder.layers) == 6
    layer = full.head.encoder.layers[0]
    assert (layer.self_attn.num_heads, layer.linear1.out_features, layer.norm_first) == (8, 128, False)
    # the levels share the finest level's time axis: hop 25 (c5), 5 (c4), 1 (c3), centred
    assert torch.equal(full.head.position_code(48), full.head.pe[12::25])
    assert torch.equal(full.head.position_code(240), full.head.pe[2::5])
    assert torch.equal(full.head.position_code(1200), full.head.pe)
    assert [c.in_channels for c in full.lateral] == [256, 256, 192]
    convs = [mod for mod in full.backbone.modules() if isinstance(mod, torch.nn.Conv1d)]
    assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [192] * 3 + [256] * 6
    assert sum(isinstance(mod, spc.ChannelGate) for mod in full.backbone.modules()) == 5
    assert not any(isinstance(mod, torch.nn.Dropout) and mod.p > 0 for mod in full.modules())


def test_padded_pool_lets_zeros_into_the_max():
    """The authors' MaxPool1d: zero padding to a multiple of 5, the extra sample on the right."""
    x = -torch.ones(1, 1, 7)
    assert torch.equal(spc.PadMaxPool(5)(x), torch.tensor([[[0.0, 0.0]]]))
    assert torch.equal(spc.PadMaxPool(5)(-torch.ones(1, 1, 10)), -torch.ones(1, 1, 2))


def test_parameter_count_matches_the_authors_model():
    """2,365,003 (their MainModel, built from their code): backbone 1,543,621, pyramid 90,496,
    classifier 730,886 with its unused template layer (99,584), which is never trained."""
    m = spc.SleePyCoModule(1, N_SAMPLES)
    n = sum(p.numel() for p in m.parameters())
    assert n == spc.REFERENCE_PARAMS == 2_365_003
    assert abs(n - spc.REFERENCE_PARAMS) / spc.REFERENCE_PARAMS < 0.01
    assert sum(p.numel() for p in m.backbone.parameters()) == 1_543_621
    assert sum(p.numel() for p in m.lateral.parameters()) == 90_496
    assert sum(p.numel() for p in m.head.parameters()) == 730_886
    assert sum(p.numel() for p in m.unused_parameters()) == 99_584
    assert sum(p.numel() for p in spc.ProjectionHead().parameters()) == 49_408


def test_defaults_follow_the_authors_configs():
    """Sleep-EDF-2013 configs: stage 1 batch 1024, lr 5e-4, temperature 0.07; stage 2 sequences of
    10, batch 64, lr 5e-4; L2 1e-4; 500 epochs and patience 20 in both; 6 encoder layers."""
    p = discover()["sleepyco"].cls().get_params()
    assert p["seq_len"] == 10 and p["batch_size"] == 64 and p["pretrain_batch_size"] == 1024
    assert p["lr"] == 5e-4 and p["pretrain_lr"] == 5e-4 and p["weight_decay"] == 1e-4
    assert p["temperature"] == 0.07 and p["depth"] == 6
    assert p["max_passes"] == 500 and p["patience"] == 20 and p["steps_per_pass"] is None
    assert p["pretrain_passes"] is None and p["pretrain_patience"] is None
    e = discover()["sleepyco"].cls()
    assert (e.n_pretrain_passes(), e.n_pretrain_patience()) == (500, 20)
    e = make_entry("sleepyco", 0, {"max_passes": 10, "patience": 4})
    assert (e.n_pretrain_passes(), e.n_pretrain_patience()) == (10, 4)
    e = make_entry("sleepyco", 0, {"pretrain_passes": 3, "pretrain_patience": 2})
    assert (e.n_pretrain_passes(), e.n_pretrain_patience()) == (3, 2)
    r = discover()["sleepyco"].cls.reported[0]
    assert (r.accuracy, r.macro_f1, r.kappa) == (0.868, 0.812, 0.820)


# --- the recipe's pieces -----------------------------------------------------------------------

def _supcon_by_hand(z: np.ndarray, y: np.ndarray, t: float) -> float:
    """Khosla et al. (2020) eq. 2, one anchor at a time."""
    out = []
    for i in range(len(z)):
        others = [j for j in range(len(z)) if j != i]
        denom = np.log(sum(np.exp(z[i] @ z[j] / t) for j in others))
        pos = [j for j in others if y[j] == y[i]]
        out.append(-np.mean([z[i] @ z[j] / t - denom for j in pos]))
    return float(np.mean(out))


def test_supervised_contrastive_loss():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((12, 4))
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = np.tile(rng.integers(0, 3, 6), 2)  # two views of six epochs
    got = float(spc.supcon_loss(torch.tensor(z), torch.tensor(y), 0.07))
    assert got == pytest.approx(_supcon_by_hand(z, y, 0.07), rel=1e-9)
    # all views alike -> every anchor's positives are as likely as its negatives
    same = torch.nn.functional.normalize(torch.ones(4, 3), dim=1)
    assert float(spc.supcon_loss(same, torch.tensor([0, 1, 0, 1]))) == pytest.approx(np.log(3))


def test_augmentations():
    """transform.py's chain: seeded; p = 0 leaves the epoch alone; at p = 1 each step acts."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 1, N_SAMPLES)).astype(np.float32) * 20
    a = spc.augment(x, np.random.default_rng(3))
    assert a.dtype == np.float32 and a.shape == x.shape and not np.array_equal(a, x)
    assert np.array_equal(a, spc.augment(x, np.random.default_rng(3)))
    assert np.array_equal(spc.augment(x, np.random.default_rng(3), p=0.0), x)
    # every step at p = 1: the zeroed stretch survives the later steps only as a constant-free
    # segment; the output differs from the input everywhere a step acted
    b = spc.augment(x, np.random.default_rng(4), p=1.0)
    assert np.all(np.isfinite(b)) and np.abs(b - x).mean() > 1.0


def test_training_windows_end_inside_each_night():
    """Stage 2 trains on every whole window of seq_len epochs (stride 1), labelled by its last."""
    data = EpochSet([synthetic_recording(n, seed=i) for i, n in enumerate((5, 1, 3))], SFREQ, ("EEG Fpz-Cz",))
    e = make_entry("sleepyco", 0, {"seq_len": 3})
    assert e._targets(data).tolist() == [2, 3, 4, 8]


# --- fitting ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spied_fit():
    """One tiny fit with the optimisers, the batches and the weights after each stage recorded."""
    train = EpochSet([synthetic_recording(n, seed=20 + i) for i, n in enumerate((10, 7))], SFREQ, ("EEG Fpz-Cz",))
    valid, test = synthetic_set(1, 6, seed=2), synthetic_set(1, 6, seed=3)
    log = {"adam": [], "calls": [], "snap": {}}
    mp = pytest.MonkeyPatch()
    record_adams(mp, log, lambda g: (g["lr"], g["weight_decay"], sum(p.numel() for p in g["params"])))
    snapshot_pretraining(mp, spc.SleePyCo, log)
    real_forward = spc.SleePyCoModule.forward

    def forward(self, x):
        if self.training:
            log["calls"].append((tuple(x.shape[:2]), self.backbone.training))
        return real_forward(self, x)

    mp.setattr(spc.SleePyCoModule, "forward", forward)
    params = dict(TINY)
    return fit_spied(mp, "sleepyco", params, train, valid), log, (train, valid, test), params


@pytest.mark.slow
def test_two_stages_with_their_optimisers(spied_fit):
    """Stage 1: Adam 5e-4, L2 1e-4 on the backbone + a projection head of its own; only the
    backbone changes. Stage 2: Adam 5e-4, L2 1e-4 on the pyramid convs and the Transformer; the
    backbone, BatchNorm statistics included, stays as stage 1 left it."""
    m, log, _, _ = spied_fit
    backbone, head = 1_543_621, 49_408
    rest = sum(p.numel() for p in m.module_.parameters()) - backbone
    assert log["adam"] == [[(5e-4, 1e-4, backbone + head)], [(5e-4, 1e-4, rest)]]
    init, pre = log["snap"]["init"], log["snap"]["pretrained"]
    final = m.module_.state_dict()
    changed = {k for k in init if not torch.equal(init[k], pre[k])}
    assert changed and all(k.startswith("backbone.") for k in changed)
    assert any("running_mean" in k for k in changed)  # stage 1 trains BatchNorm
    assert all(torch.equal(pre[k], final[k]) for k in pre if k.startswith("backbone."))
    assert any(not torch.equal(pre[k], final[k]) for k in pre if k.startswith(("lateral.", "head.")))
    assert all(torch.equal(pre[k], final[k]) for k in pre if k.startswith("head.unused_layer."))
    assert m.n_params() == sum(p.numel() for p in m.module_.parameters())
    assert m.n_trainable_params() == m.n_params() - sum(p.numel() for p in m.module_.unused_parameters())


@pytest.mark.slow
def test_budget_of_each_stage(spied_fit):
    """steps_per_pass caps both stages; stage-2 batches are windows of seq_len epochs, the backbone
    in inference mode; stage 1 selects on its validation loss."""
    m, log, (train, _, _), params = spied_fit
    pt = m.training_["pretraining"]
    assert pt["passes_run"] == 1 and pt["steps_per_pass"] == 2 and pt["steps_run"] == 2
    assert pt["batch_size"] == 8 and pt["validation"] == "valid" and pt["best_pass"] == 1
    assert np.isfinite(pt["history"][0]["val_loss"])
    assert log["calls"] == [((4, 2), False)] * 2
    t = m.training_
    assert t["budget"] == {"max_passes": 1, "steps_per_pass": 2, "batch_size": 4, "seq_len": 2}
    assert t["passes_run"] == 1 and t["steps_run"] == 2 and t["validation"] == "valid"


@pytest.mark.slow
def test_deterministic_on_cpu(spied_fit):
    """The same seed twice: byte-identical probabilities (the spies change nothing); every epoch
    scored, a night's first from a zero-padded window."""
    m, _, (train, valid, test), params = spied_fit
    a = m.predict_proba(test)
    b = make_entry("sleepyco", 0, params).fit(train, valid).predict_proba(test)
    check_proba(a, len(test))
    assert np.array_equal(a, b)


@pytest.mark.slow
def test_learns_on_synthetic_nights(monkeypatch):
    """A short run (raised stage-2 learning rate, for time) learns: its stage-2 loss falls pass
    after pass and it beats an untrained copy. The frozen backbone runs on BatchNorm's running
    statistics, which four stage-1 steps at the authors' momentum (0.1) leave near their initial
    values (the inference output then collapses to one point); here they follow the last batch
    (momentum 1), as hundreds of steps at the authors' budget make them do."""
    real_build = spc.SleePyCo.build_module

    def build(self, n_channels, n_samples):
        module = real_build(self, n_channels, n_samples)
        for bn in module.modules():
            if isinstance(bn, torch.nn.BatchNorm1d):
                bn.momentum = 1.0
        return module

    monkeypatch.setattr(spc.SleePyCo, "build_module", build)
    train, valid, test = synthetic_set(2, 40, seed=11), synthetic_set(1, 30, seed=2), synthetic_set(1, 30, seed=3)
    params = dict(pretrain_passes=1, pretrain_batch_size=16, steps_per_pass=4, max_passes=4, batch_size=16,
                  seq_len=2, depth=1, lr=2e-3)
    m = make_entry("sleepyco", 0, params).fit(train, valid)
    losses = [h["loss"] for h in m.training_["history"]]
    assert losses[3] < losses[2] < losses[1] < losses[0]
    assert max(h["val_macro_f1"] for h in m.training_["history"]) > 0.4  # 0.55 here
    trained = macro_f1(test.y, m.predict(test))
    from sleepbench.benchmark.training import seed_everything

    seed_everything(0)  # the same initial weights as the trained model's
    untrained = make_entry("sleepyco", 0, params)
    untrained.module_ = untrained.build_module(1, N_SAMPLES)
    assert macro_f1(test.y, untrained.predict(test)) < trained - 0.1  # 0.17 vs 0.31 here


# --- through the runner ----------------------------------------------------------------------------

def _run_one(protocol, tmp_path, params=TINY, **kw):
    from tests.support.runner import assert_both_stages_ran, fold0_record

    rec = fold0_record("sleepyco", params, protocol, tmp_path, **kw)
    assert rec["model"]["n_params"] == sum(p.numel() for p in spc.SleePyCoModule(1, N_SAMPLES, 2, n_layers=1)
                                           .parameters())
    assert_both_stages_ran(rec, steps=2)  # TINY: steps_per_pass = 2, one pass
    print(protocol, rec["timing"])
    return rec


@pytest.mark.slow
def test_runs_through_the_runner_on_quick(quick_cache, tmp_path):
    """Windows of one epoch: the quick fold's validation and test nights are scored window by window
    every pass, the model's dearest part on a CPU."""
    _run_one("quick", tmp_path, params={**TINY, "seq_len": 1}, cache_dir=quick_cache)


@pytest.mark.slow
def test_runs_through_the_runner_on_the_real_night(real_dir, tmp_path):
    _run_one("real-night", tmp_path, data_dir=real_dir, cache_dir=tmp_path / "cache")
