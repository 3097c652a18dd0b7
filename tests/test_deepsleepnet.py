"""deepsleepnet: DeepSleepNet (Supratak et al. 2017) with the authors' two-stage recipe.

Small synthetic nights (tests/support/synthetic.py) keep the model tests short; the runner is driven
end to end on the quick protocol (surrogate data) and on real-night (skips without SC4001E0). The
model has 22.6 M parameters, so every fit here runs at a tiny budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleepbench.baselines import deepsleepnet as dsn
from sleepbench.benchmark.epochs import EpochSet
from sleepbench.benchmark.registry import discover, make_entry
from tests.support.spies import fit_spied, record_adams, snapshot_pretraining
from tests.support.synthetic import N_SAMPLES, SFREQ, macro_f1, synthetic_recording, synthetic_set

#: a tiny budget that still runs both stages (and a validation) end to end
TINY = dict(max_passes=1, pretrain_passes=1, steps_per_pass=2, pretrain_batch_size=16, batch_size=3,
            seq_len=5, precise_bn_epochs=16)


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    return dsn.DeepSleepNetModule(1, N_SAMPLES).eval()


def check_proba(p: np.ndarray, n: int) -> None:
    assert p.shape == (n, 5)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


# --- the module ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_module_shapes_and_layers(module):
    """[batch, seq_len, C, S] -> [batch, seq_len, 5]; 3072 CNN features at 100 Hz (TF "SAME":
    3000 -> 500 -> 63 -> 16 x 128 and 3000 -> 60 -> 15 -> 8 x 128); the first convs are the authors'
    fs/2 stride fs/16 and fs x 4 stride fs/2; each LSTM direction is its own 2-layer stack."""
    with torch.no_grad():
        out = module(torch.zeros(2, 3, 1, N_SAMPLES))
    assert tuple(out.shape) == (2, 3, 5)
    assert module.n_features == 16 * 128 + 8 * 128 == 3072
    small, large = module.small[1], module.large[1]
    assert (small.kernel_size, small.stride, small.out_channels) == ((50,), (6,), 64)
    assert (large.kernel_size, large.stride, large.out_channels) == ((400,), (50,), 64)
    for lstm in (module.lstm_fw, module.lstm_bw):
        assert (lstm.input_size, lstm.hidden_size, lstm.num_layers, lstm.dropout) == (3072, 512, 2, 0.5)
        assert lstm.weight_ih_l1.shape[1] == 512  # layer 2 sees its own direction only (TF MultiRNNCell)
        assert torch.all(lstm.bias_ih_l0[512:1024] + lstm.bias_hh_l0[512:1024] == 1.0)  # forget bias
    assert module.shortcut[0].out_features == 1024 and module.shortcut[0].bias is None
    bns = module.batch_norms()
    assert len(bns) == 9 and all(bn.eps == 1e-5 and bn.momentum == 1e-3 for bn in bns)
    assert module.l2_weights()[0] is small.weight


@pytest.mark.slow
def test_parameter_count_matches_the_authors_graph(module):
    n = sum(p.numel() for p in module.parameters())
    assert n == 22_647_685
    assert abs(n - dsn.REFERENCE_PARAMS) / dsn.REFERENCE_PARAMS < 0.01
    assert sum(p.numel() for p in module.cnn_parameters()) == 331_776 + 272_256


@pytest.mark.slow
def test_state_is_carried_across_sequences_in_both_directions(module):
    """predict_night = consecutive 25-epoch sequences with both directions' states carried
    (predict.py); without the carried state, or with only the forward one, the output differs."""
    night = torch.from_numpy(synthetic_recording(30, seed=4).x)
    with torch.no_grad():
        whole = module.predict_night(night, seq_len=25)
        first, state = module.forward_stateful(night[None, :25])
        second, _ = module.forward_stateful(night[None, 25:], state)
        fresh = module(night[None, 25:])[0]
        fw_only, _ = module.forward_stateful(night[None, 25:], (state[0], None))
    assert whole.shape == (30, 5)  # the short last sequence is scored too
    np.testing.assert_allclose(torch.cat([first[0], second[0]]).numpy(), whole.numpy(), atol=1e-5)
    assert not np.allclose(fresh.numpy(), whole[25:].numpy(), atol=1e-4)
    assert not np.allclose(fw_only[0].numpy(), whole[25:].numpy(), atol=1e-4)


# --- the recipe's pieces -----------------------------------------------------------------------

def test_defaults_follow_the_authors_code():
    """train.py / trainer.py: pre-training 100 epochs of batch 100 at lr 1e-4; fine-tuning 200
    epochs of 10 rows x 25 epochs, lr 1e-6 (CNN) and 1e-4 (rest), clipping 10; L2 1e-3."""
    p = discover()["deepsleepnet"].cls().get_params()
    assert p["seq_len"] == 25 and p["batch_size"] == 10 and p["pretrain_batch_size"] == 100
    assert p["max_passes"] == 200 and p["pretrain_passes"] is None
    assert discover()["deepsleepnet"].cls().n_pretrain_passes() == 100
    assert p["lr"] == 1e-4 and p["cnn_lr"] == 1e-6 and p["pretrain_lr"] == 1e-4
    assert p["weight_decay"] == 1e-3 and p["grad_clip"] == 10.0 and p["dropout"] == 0.5
    assert p["patience"] == 200  # the authors never stop early
    assert p["steps_per_pass"] is None
    assert make_entry("deepsleepnet", 0, {"max_passes": 10}).n_pretrain_passes() == 5
    assert make_entry("deepsleepnet", 0, {"max_passes": 1}).n_pretrain_passes() == 1
    assert make_entry("deepsleepnet", 0, {"pretrain_passes": 3}).n_pretrain_passes() == 3
    r = discover()["deepsleepnet"].cls.reported[0]
    assert (r.accuracy, r.macro_f1, r.kappa) == (0.820, 0.769, None)


def test_oversampling_replicates_minority_classes():
    """utils.get_balance_class_oversample: every class to the largest one's count, by whole
    repeats plus a random top-up of distinct epochs; an absent class stays absent."""
    y = np.array([0] * 10 + [1] * 3 + [2] * 4 + [4] * 10)
    idx = dsn.oversample(y, np.random.default_rng(0))
    assert np.array_equal(np.bincount(y[idx], minlength=5), [10, 10, 10, 0, 10])
    ones = np.flatnonzero(y == 1)
    counts = np.bincount(idx, minlength=len(y))[ones]
    assert sorted(counts) == [3, 3, 4]  # 3 whole repeats, then one epoch drawn at random
    assert np.array_equal(np.bincount(idx, minlength=len(y))[y == 0], np.ones(10))


def test_nights_are_cut_into_rows_as_the_authors():
    """utils.iterate_batch_seq_minibatches: 10 rows of n // 10 epochs, 25 a step; shorter nights
    (an error in the authors' code) get fewer rows, or one row of the whole night."""
    assert dsn.night_rows(1000, 10, 25) == (10, 100, 4)
    assert dsn.night_rows(1049, 10, 25) == (10, 104, 4)
    assert dsn.night_rows(120, 10, 25) == (4, 30, 1)
    assert dsn.night_rows(20, 10, 25) == (1, 20, 1)
    assert dsn.night_rows(0, 10, 25) == (0, 0, 0)


# --- fitting ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spied_fit():
    """One tiny fit with the optimisers, the clipping and the stateful calls recorded."""
    train = EpochSet([synthetic_recording(n, seed=20 + i) for i, n in enumerate((20, 12))], SFREQ, ("EEG Fpz-Cz",))
    valid, test = synthetic_set(1, 20, seed=2), synthetic_set(1, 20, seed=3)
    log = {"adam": [], "clip": [], "states": [], "snap": {}}
    mp = pytest.MonkeyPatch()
    record_adams(mp, log, lambda g: (g["lr"], g["betas"], g["eps"], sum(p.numel() for p in g["params"])))
    snapshot_pretraining(mp, dsn.DeepSleepNet, log)
    real_clip = torch.nn.utils.clip_grad_norm_

    def clip(params, max_norm, *a, **kw):
        log["clip"].append(max_norm)
        return real_clip(params, max_norm, *a, **kw)

    real_stateful = dsn.DeepSleepNetModule.forward_stateful

    def stateful(self, x, state=None):
        if self.training:
            log["states"].append((state is not None, tuple(x.shape[:2])))
        return real_stateful(self, x, state)

    mp.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    mp.setattr(dsn.DeepSleepNetModule, "forward_stateful", stateful)
    params = dict(TINY, steps_per_pass=None, pretrain_batch_size=32, batch_size=2, seq_len=5, max_passes=1)
    return fit_spied(mp, "deepsleepnet", params, train, valid), log, (train, valid, test), params


@pytest.mark.slow
def test_two_stages_with_their_optimisers(spied_fit):
    """Pre-training: Adam 1e-4 on the CNNs + a softmax layer of its own (3072 x 5 + 5), no clipping,
    only the CNNs change. Fine-tuning: one Adam, 1e-6 on the CNNs and 1e-4 on the rest, clipped at
    10; the pre-training head is not part of the model."""
    m, log, _, _ = spied_fit
    cnn = 331_776 + 272_256
    rest = 22_647_685 - cnn
    assert log["adam"] == [[(1e-4, (0.9, 0.999), 1e-8, cnn + 3072 * 5 + 5)],
                           [(1e-6, (0.9, 0.999), 1e-8, cnn), (1e-4, (0.9, 0.999), 1e-8, rest)]]
    n_finetune_steps = m.training_["steps_run"]
    assert log["clip"] == [10.0] * n_finetune_steps
    init, pre = log["snap"]["init"], log["snap"]["pretrained"]
    changed = {k for k in init if not torch.equal(init[k], pre[k])}
    assert changed and all(k.startswith(("small.", "large.")) for k in changed)
    assert any(k.startswith("small.1.") for k in changed) and any(k.startswith("large.1.") for k in changed)
    assert m.n_params() == 22_647_685
    pt = m.training_["pretraining"]
    # the training epochs oversampled to (classes present) x (the largest count), batches of 32,
    # an incomplete last batch dropped
    assert pt["passes_run"] == 1 and pt["steps_per_pass"] == pt["oversampled_epochs"] // 32 > 0
    _, counts = np.unique(spied_fit[2][0].y, return_counts=True)
    assert pt["oversampled_epochs"] == len(counts) * counts.max()


@pytest.mark.slow
def test_fine_tuning_walks_each_night_with_the_state_carried(spied_fit):
    """Each night in order: rows walked side by side, zero state at the night's first step and the
    previous step's state after; a pass covers sum over nights of their steps (night_rows)."""
    m, log, (train, _, _), params = spied_fit
    plan = [dsn.night_rows(n, 2, 5) for n in (20, 12)]
    assert plan == [(2, 10, 2), (2, 6, 1)]
    assert log["states"] == [(False, (2, 5)), (True, (2, 5)), (False, (2, 5))]
    t = m.training_
    assert t["budget"] == {"max_passes": 1, "steps_per_pass": 3, "batch_size": 2, "seq_len": 5}
    assert t["passes_run"] == 1 and t["steps_run"] == 3 and t["validation"] == "valid"
    assert m.module_.bn_sample is None and not m.module_.training


@pytest.mark.slow
def test_deterministic_on_cpu(spied_fit):
    """The same seed twice: byte-identical probabilities (the spies change nothing)."""
    m, _, (train, valid, test), params = spied_fit
    a = m.predict_proba(test)
    b = make_entry("deepsleepnet", 0, params).fit(train, valid).predict_proba(test)
    check_proba(a, len(test))
    assert np.array_equal(a, b)


@pytest.mark.slow
def test_learns_on_synthetic_nights():
    """A short run (raised learning rates, for time) beats an untrained copy clearly: three
    pre-training passes, then one fine-tuning pass."""
    train, valid, test = synthetic_set(3, 100, seed=11), synthetic_set(1, 40, seed=2), synthetic_set(1, 60, seed=3)
    params = dict(pretrain_passes=3, pretrain_batch_size=32, steps_per_pass=6, max_passes=1, batch_size=4,
                  seq_len=10, lr=1e-3, cnn_lr=1e-4, pretrain_lr=1e-3, precise_bn_epochs=64)
    m = make_entry("deepsleepnet", 0, params).fit(train, valid)
    pre = [h["loss"] for h in m.training_["pretraining"]["history"]]
    assert pre[2] < pre[1] < pre[0]
    trained = macro_f1(test.y, m.predict(test))
    from sleepbench.benchmark.training import seed_everything

    seed_everything(0)  # the same initial weights as the trained model's
    untrained = make_entry("deepsleepnet", 0, params)
    untrained.module_ = untrained.build_module(1, N_SAMPLES)
    assert trained > 0.4  # 0.48 here, from 0.08 untrained
    assert macro_f1(test.y, untrained.predict(test)) < trained - 0.2


# --- through the runner ----------------------------------------------------------------------------

def _run_one(protocol, tmp_path, **kw):
    from tests.support.runner import assert_both_stages_ran, fold0_record

    rec = fold0_record("deepsleepnet", TINY, protocol, tmp_path, **kw)
    assert rec["model"]["n_params"] == 22_647_685
    assert_both_stages_ran(rec, steps=2)  # TINY: steps_per_pass = 2, one pass
    print(protocol, rec["timing"])
    return rec


@pytest.mark.slow
def test_runs_through_the_runner_on_quick(quick_cache, tmp_path):
    _run_one("quick", tmp_path, cache_dir=quick_cache)


@pytest.mark.slow
def test_runs_through_the_runner_on_the_real_night(real_dir, tmp_path):
    _run_one("real-night", tmp_path, data_dir=real_dir, cache_dir=tmp_path / "cache")
