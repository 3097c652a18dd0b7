"""AttnSleep (Eldele et al. 2021): module shapes, the reference parameter count, the authors' recipe
(class-aware loss weights, Adam with AMSGrad, the learning-rate drop after pass 10), learning,
determinism, and runs through the runner on the quick and real-night protocols."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleepbench.baselines.attnsleep import (
    LOSS_MU,
    REFERENCE_N_PARAMS,
    REFERENCE_N_USED_PARAMS,
    AttnSleep,
    AttnSleepModule,
    _CausalConv1d,
    _LayerNorm,
    attnsleep_class_weights,
)
from sleepbench.benchmark.registry import discover
from tests.support.synthetic import N_SAMPLES, macro_f1, synthetic_set

#: a budget that fits a test: a few small batches
TINY = dict(max_passes=1, steps_per_pass=2, batch_size=8)


def check_proba(p: np.ndarray, n: int) -> None:
    assert p.shape == (n, 5)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


@pytest.fixture(scope="module")
def syn():
    return synthetic_set(2, 60, seed=1), synthetic_set(1, 40, seed=2), synthetic_set(1, 40, seed=3)


def test_registered_as_a_deep_entry():
    info = discover()["attnsleep"]
    assert info.cls is AttnSleep and info.kind == "deep" and info.description
    (rep,) = AttnSleep.reported
    assert (rep.accuracy, rep.macro_f1, rep.kappa) == (0.844, 0.781, 0.79)
    assert "test fold" in rep.selection


def test_module_shapes():
    torch.manual_seed(0)
    mod = AttnSleepModule(1, N_SAMPLES).eval()
    assert mod.d_model == 80  # 64 (small kernels) + 16 (wide kernels) steps at 100 Hz, 30 s
    x = torch.randn(3, 2, 1, N_SAMPLES)
    with torch.no_grad():
        assert tuple(mod.features(x[:, 0]).shape) == (3, 30, 80)
        out = mod(x)
        assert tuple(out.shape) == (3, 2, 5)
        # each epoch on its own: an epoch's logits do not depend on its neighbour in the sequence
        np.testing.assert_allclose(out[:, 0].numpy(), mod(x[:, :1])[:, 0].numpy(), atol=1e-5)
    two = AttnSleepModule(2, N_SAMPLES).eval()  # channels are the first convolutions' inputs
    with torch.no_grad():
        assert tuple(two(torch.randn(2, 1, 2, N_SAMPLES)).shape) == (2, 1, 5)


def test_parameter_count_matches_the_authors_model():
    entry = AttnSleep()
    assert entry.n_params() is None  # before fit
    entry.module_ = entry.build_module(1, N_SAMPLES)
    assert abs(entry.n_params() - REFERENCE_N_PARAMS) <= 0.01 * REFERENCE_N_PARAMS
    assert entry.n_params() == REFERENCE_N_PARAMS
    assert entry.n_trainable_params() == REFERENCE_N_USED_PARAMS


def test_unused_blocks_get_no_gradient_and_everything_else_does():
    """The authors' module holds a query convolution and a LayerNorm that its forward pass never
    calls: kept for the count, no gradient; every other parameter gets one."""
    torch.manual_seed(0)
    mod = AttnSleepModule(1, N_SAMPLES).train()
    mod(torch.randn(4, 1, 1, N_SAMPLES) * 20).sum().backward()
    unused = {id(p) for p in mod.unused_parameters()}
    assert sum(p.numel() for p in mod.unused_parameters()) == REFERENCE_N_PARAMS - REFERENCE_N_USED_PARAMS
    for name, p in mod.named_parameters():
        assert (p.grad is None) == (id(p) in unused), name


def test_defaults_follow_the_authors_code():
    """config.json: Adam lr 1e-3, weight decay 1e-3, AMSGrad, batch 128, 100 epochs; trainer.py: lr
    1e-4 after epoch 10; utils/util.py: mu = [1.5, 2, 1.5, 1, 1.5] / K; model.py: 5 heads, 2 layers,
    d_ff 120, AFR 30 channels, dropout 0.1 (TCE) and 0.5 (MRCNN)."""
    p = AttnSleep().get_params()
    assert p["lr"] == 1e-3 and p["weight_decay"] == 1e-3 and p["amsgrad"] is True
    assert tuple(p["betas"]) == (0.9, 0.999)
    assert p["batch_size"] == 128 and p["max_passes"] == 100 and p["patience"] == 100
    assert p["lr_drop_pass"] == 10 and p["lr_after_drop"] == 1e-4
    assert tuple(p["class_weight_mu"]) == LOSS_MU == (1.5, 2.0, 1.5, 1.0, 1.5)
    assert (p["n_heads"], p["n_layers"], p["d_ff"], p["afr_channels"]) == (5, 2, 120, 30)
    assert (p["dropout"], p["cnn_dropout"]) == (0.1, 0.5)
    assert p["steps_per_pass"] is None
    assert AttnSleep().recipe().seq_len == 1  # one 30-s epoch per example


def test_class_weights_are_the_authors_formula():
    """w_k = round(mu_k/K * max(1, ln(mu_k/K * N / n_k)), 2), worked by hand for Sleep-EDF-20-like
    counts: only N1 (ln 6.03 = 1.80) passes the floor of 1."""
    counts = [8285, 2804, 17799, 5703, 7717]
    assert attnsleep_class_weights(counts) == [0.3, 0.72, 0.3, 0.2, 0.3]
    n = sum(counts)
    assert round(0.4 * np.log(0.4 * n / 2804), 2) == 0.72
    # a rare class is weighted up by the log of its rarity; a class with no epoch does not divide by 0
    assert attnsleep_class_weights([100, 1, 100, 100, 100]) == [0.3, round(0.4 * np.log(0.4 * 401), 2), 0.3, 0.2, 0.3]
    assert attnsleep_class_weights([100, 0, 100, 100, 100])[1] == 0.4
    with pytest.raises(ValueError, match="class_weight_mu"):
        attnsleep_class_weights(counts, mu=(1.0, 1.0))


def test_causal_convolution_sees_no_future_and_layer_norm_is_the_authors():
    torch.manual_seed(0)
    conv = _CausalConv1d(3, 7)
    x = torch.randn(2, 3, 20)
    y = x.clone()
    y[..., 12:] += 5.0  # change the future of step 11
    with torch.no_grad():
        a, b = conv(x), conv(y)
    assert a.shape == x.shape
    assert torch.equal(a[..., :12], b[..., :12]) and not torch.allclose(a[..., 12:], b[..., 12:])
    norm = _LayerNorm(6)
    z = torch.randn(4, 6)
    expected = (z - z.mean(-1, keepdim=True)) / (z.std(-1, unbiased=True, keepdim=True) + 1e-6)
    np.testing.assert_allclose(norm(z).detach().numpy(), expected.numpy(), atol=1e-6)


def test_initialisation_is_the_authors():
    """MRCNN and AFR convolutions N(0, 0.02), their BatchNorm weights N(1, 0.02) and biases 0; the
    causal convolutions keep PyTorch's default (uniform, bound 1/sqrt(fan_in))."""
    torch.manual_seed(0)
    mod = AttnSleepModule(1, N_SAMPLES)
    w = mod.small[5].weight  # 64 x 128 x 8
    w = w.detach()
    assert abs(float(w.std()) - 0.02) < 0.002 and abs(float(w.mean())) < 0.002
    bn = mod.wide[6]
    assert abs(float(bn.weight.detach().mean()) - 1.0) < 0.01 and float(bn.weight.detach().std()) < 0.04
    assert torch.all(bn.bias == 0)
    k = mod.layers[0].key_conv.conv.weight.detach()  # 30 x 30 x 7: default bound 1/sqrt(210)
    assert float(k.abs().max()) <= 1 / np.sqrt(210) + 1e-6 and float(k.std()) > 0.03


def test_fit_refuses_another_sampling_rate():
    from sleepbench.benchmark.epochs import EpochSet

    train = synthetic_set(1, 10, seed=1)
    other = EpochSet(train.recordings, 50.0, train.channels)  # 3000 samples would be 60 s at 50 Hz
    with pytest.raises(ValueError, match="30-s epochs at 100 Hz"):
        AttnSleep(**TINY).fit(other, train)


class _RecordingAdam(torch.optim.Adam):
    """Adam that records its arguments and the learning rate of every step."""

    made: list = []

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.kwargs, self.step_lrs = kwargs, []
        _RecordingAdam.made.append(self)

    def step(self, closure=None):
        self.step_lrs.append(self.param_groups[0]["lr"])
        return super().step(closure)


@pytest.mark.slow
def test_optimiser_schedule_and_class_weights_in_training(syn, monkeypatch):
    """Adam with AMSGrad, the authors' betas and weight decay; lr 1e-3 up to ``lr_drop_pass``, then
    1e-4; every pass respects ``steps_per_pass``; the loss weights come from the training labels."""
    train, _, test = syn
    valid = synthetic_set(1, 15, seed=4)
    _RecordingAdam.made = []
    monkeypatch.setattr(torch.optim, "Adam", _RecordingAdam)
    m = AttnSleep(seed=0, max_passes=3, patience=10, steps_per_pass=2, batch_size=4, lr_drop_pass=2).fit(train, valid)
    (opt,) = _RecordingAdam.made
    assert opt.kwargs == {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-3, "amsgrad": True}
    assert opt.step_lrs == [1e-3] * 4 + [1e-4] * 2
    assert [AttnSleep().pass_lr(n) for n in (1, 10, 11, 100)] == [1e-3, 1e-3, 1e-4, 1e-4]
    assert AttnSleep(lr_drop_pass=None).pass_lr(50) == 1e-3
    report = m.report(test)
    assert report["attnsleep"]["lr_per_pass"] == [1e-3, 1e-3, 1e-4]
    assert report["attnsleep"]["class_weights"] == attnsleep_class_weights(np.bincount(train.y, minlength=5))
    training = report["training"]
    assert training["passes_run"] == 3 and training["steps_run"] == 6 and training["validation"] == "valid"
    assert training["budget"] == {"max_passes": 3, "steps_per_pass": 2, "batch_size": 4, "seq_len": 1}


@pytest.mark.slow
def test_is_deterministic(syn):
    train, valid, test = syn
    runs = [AttnSleep(seed=0, **TINY).fit(train, valid).predict_proba(test) for _ in range(2)]
    check_proba(runs[0], len(test))
    assert np.array_equal(runs[0], runs[1])
    other = AttnSleep(seed=1, **TINY).fit(train, valid).predict_proba(test)
    assert not np.array_equal(runs[0], other)


@pytest.mark.slow
def test_learns_on_synthetic_nights():
    """90 steps of 8 epochs lift the test macro-F1 well above the untrained model's. The MRCNN's
    dropout is off here: with it (0.5, before BatchNorm layers) the BatchNorm running statistics
    need more steps than a unit test affords before eval-mode predictions stop collapsing. The sizes
    leave a margin on any ATen kernel set: over seeds 0-2 and the AVX512, AVX2 and default kernel sets
    the trained macro-F1 is 0.60-1.00 (0.96 at seed 0 on each); the selection on one 60-epoch
    validation night makes it vary this much."""
    from sleepbench.benchmark.training import seed_everything

    train, valid, test = synthetic_set(4, 60, seed=11), synthetic_set(1, 60, seed=2), synthetic_set(2, 60, seed=3)
    m = AttnSleep(seed=0, max_passes=3, patience=3, batch_size=8, cnn_dropout=0.0).fit(train, valid)
    losses = [h["loss"] for h in m.training_["history"]]
    assert losses[-1] < losses[0] and m.training_["steps_run"] == 90
    assert not m.module_.training
    trained = macro_f1(test.y, m.predict(test))
    seed_everything(0)  # the same initial weights as the trained model's
    untrained = AttnSleep(seed=0, cnn_dropout=0.0)
    untrained.module_ = untrained.build_module(1, N_SAMPLES)
    assert trained > 0.45 and trained > macro_f1(test.y, untrained.predict(test)) + 0.3


# --- end to end through the runner --------------------------------------------------------------------

def _run_protocol(protocol, tmp_path, **kw):
    """Fold 0 of ``protocol`` through the runner at the TINY budget (one fold: predicting a quick
    fold's validation and test subjects already takes most of this test's time on one thread)."""
    from tests.support.runner import fold0_record

    rec = fold0_record("attnsleep", TINY, protocol, tmp_path, **kw)
    assert rec["model"]["n_params"] == REFERENCE_N_PARAMS
    assert rec["model"]["n_trainable_params"] == REFERENCE_N_USED_PARAMS
    report = rec["entry_report"]
    assert report["training"]["passes_run"] == 1 and len(report["attnsleep"]["class_weights"]) == 5
    return rec


@pytest.mark.slow
def test_runs_through_the_runner_on_quick(quick_cache, tmp_path):
    rec = _run_protocol("quick", tmp_path, cache_dir=quick_cache)
    assert rec["protocol"]["name"] == "quick"


@pytest.mark.slow
def test_runs_through_the_runner_on_the_real_night(real_dir, tmp_path):
    rec = _run_protocol("real-night", tmp_path, data_dir=real_dir, cache_dir=tmp_path / "cache")
    assert rec["protocol"]["name"] == "real-night"
