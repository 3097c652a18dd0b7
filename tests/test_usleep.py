"""U-Sleep (Perslev et al. 2021): the module's shapes and parameter count against the authors' layer
rules, the authors' defaults, preprocessing, class-balanced sampler, augmentation and sliding-window
prediction, learning, determinism and the runner end to end. Small ``depth`` keeps fits fast."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from sleepbench.benchmark.epochs import EpochSet
from sleepbench.benchmark.registry import discover
from tests.support.synthetic import N_SAMPLES, SFREQ, macro_f1, synthetic_recording, synthetic_set

#: a tiny configuration for fits: the code paths are those of depth 12
TINY = dict(depth=2, seq_len=5, batch_size=4, steps_per_pass=2, max_passes=1)


def make(**params):
    return discover()["usleep"].cls(**params)


@pytest.fixture(scope="module")
def syn():
    return synthetic_set(3, 60, seed=1), synthetic_set(1, 60, seed=2), synthetic_set(1, 60, seed=3)


# --- architecture ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_module_shapes_and_the_authors_padding_on_100_hz():
    """35 epochs of 3000 samples: odd lengths are padded at the start before pooling (105000 ...
    13125 -> 13126 ...), the decoder crops back, and the classifier pools one score per epoch."""
    from sleepbench.baselines.usleep import USleepModule

    mod = USleepModule(1, N_SAMPLES).eval()
    seen = []
    for blk in mod.encoder:
        blk["bn"].register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    mod.bottom["bn"].register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    with torch.no_grad():
        out = mod(torch.randn(1, 35, 1, N_SAMPLES))
    assert tuple(out.shape) == (1, 35, 5)
    assert seen == [105000, 52500, 26250, 13125, 6563, 3282, 1641, 821, 411, 206, 103, 52, 26]
    assert [b["conv"].out_channels for b in mod.encoder] == [6, 9, 11, 15, 20, 28, 40, 55, 77, 108, 152, 214]
    assert mod.bottom["conv"].out_channels == 302
    assert [b["conv"].out_channels for b in mod.decoder] == [214, 152, 108, 77, 55, 40, 28, 20, 15, 11, 9, 6]
    with torch.no_grad():  # any number of epochs, and the authors' 128 Hz two-channel input
        assert tuple(mod(torch.randn(2, 3, 1, N_SAMPLES)).shape) == (2, 3, 5)
        assert tuple(USleepModule(2, 3840, depth=12).eval()(torch.randn(1, 2, 2, 3840)).shape) == (1, 2, 5)


@pytest.mark.slow
def test_parameter_count_matches_the_authors_model():
    """Within 1 % of the authors' count (here: equal), at one channel and at their two channels."""
    from sleepbench.baselines.usleep import REFERENCE_PARAMS_1CH, REFERENCE_PARAMS_2CH, USleepModule

    for ch, ref in ((1, REFERENCE_PARAMS_1CH), (2, REFERENCE_PARAMS_2CH)):
        n = sum(p.numel() for p in USleepModule(ch, N_SAMPLES).parameters())
        assert abs(n - ref) <= 0.01 * ref, (ch, n, ref)
        assert n == ref
    assert REFERENCE_PARAMS_2CH + 5014 == 3_119_351  # + Keras' BatchNorm moving statistics: "3.1 M"
    entry = make()
    entry.module_ = entry.build_module(1, N_SAMPLES)
    assert entry.n_params() == REFERENCE_PARAMS_1CH


def test_defaults_follow_the_authors_hparams():
    """utime/bin/defaults/usleep/hparams.yaml: Adam (AMSGrad) lr 1e-7, batch 64, margin 17 (35
    epochs), depth 12, kernel 9, complexity factor 1.67, balanced sampling, RegionalErase and
    ChannelDropout at 0.1, 12000 epochs with patience 200; clipping at 20 IQR."""
    p = make().get_params()
    assert p["lr"] == 1e-7 and p["amsgrad"] is True
    assert p["batch_size"] == 64 and p["seq_len"] == 35
    assert p["depth"] == 12 and p["kernel_size"] == 9 and p["complexity_factor"] == 1.67
    assert p["init_filters"] == 5 and p["balanced_sampling"] is True
    assert p["erase_prob"] == 0.1 and (p["erase_min"], p["erase_max"]) == (0.001, 0.33)
    assert p["channel_dropout_prob"] == 0.1 and p["channel_dropout_fraction"] == 0.5
    assert p["max_passes"] == 12000 and p["patience"] == 200 and p["steps_per_pass"] is None
    assert p["clip_iqr"] == 20.0


# --- preprocessing, sampling, augmentation ---------------------------------------------------------

def test_scaling_is_clipping_then_sklearn_robust_scaler_per_recording():
    from sklearn.preprocessing import RobustScaler

    rec = synthetic_recording(20, seed=3, n_channels=2)
    x = rec.x.copy()
    x[5, 0, :10] = 1e5  # an artefact, clipped at 20 x IQR
    data = EpochSet([replace(rec, x=x)], SFREQ, ("EEG Fpz-Cz", "EEG Pz-Oz"))
    got = make().scaled(data, 0, 20)
    flat = x.transpose(1, 0, 2).reshape(2, -1).T.astype(np.float64)
    iqr = np.subtract(*np.percentile(flat, [75, 25], axis=0))
    want = RobustScaler().fit_transform(np.clip(flat, -20 * iqr, 20 * iqr))
    np.testing.assert_allclose(got.transpose(1, 0, 2).reshape(2, -1).T, want, rtol=1e-4, atol=1e-4)


def _sampler(seq_len, balanced=True, n=(80, 50)):
    entry = make(seq_len=seq_len, balanced_sampling=balanced)
    recs = []
    for i, k in enumerate(n):
        y = np.zeros(k, np.int64)
        y[: k // 2] = 2  # N2-heavy nights, N1 rare, REM absent
        y[k // 2: k // 2 + 3] = 1
        y[k // 2 + 3:] = 0 if i == 0 else 3
        recs.append((np.arange(k, dtype=np.float32)[:, None, None] * np.ones((1, 1, 4), np.float32), y))
    by_class = [[np.flatnonzero(y == c) for c in range(5)] for _, y in recs]
    classes = np.array([c for c in range(5) if any(len(b[c]) for b in by_class)])
    return entry, recs, by_class, classes


def test_balanced_sampler_draws_classes_uniformly_and_windows_inside_a_recording():
    """seq_len 1: the sampled epoch's class is uniform over the classes present (REM, absent, is
    left out); seq_len 35: windows are 35 consecutive epochs of one recording, shifted at its edges."""
    entry, recs, by_class, classes = _sampler(1)
    rng = np.random.default_rng(0)
    ys = np.array([entry._window(rng, recs, by_class, classes)[1][0] for _ in range(4000)])
    freq = np.bincount(ys, minlength=5) / len(ys)
    np.testing.assert_allclose(freq[:4], 0.25, atol=0.03)
    assert freq[4] == 0
    entry, recs, by_class, classes = _sampler(35)
    starts = set()
    for _ in range(500):
        x, y = entry._window(rng, recs, by_class, classes)
        assert x.shape == (35, 1, 4) and y.shape == (35,)
        s = int(x[0, 0, 0])
        np.testing.assert_array_equal(x[:, 0, 0], np.arange(s, s + 35))  # consecutive epochs
        starts.add(s)
    assert min(starts) == 0 and max(starts) == 80 - 35  # shifted to fit at both edges
    entry, recs, by_class, classes = _sampler(1, balanced=False)
    ys = np.array([entry._window(rng, recs, by_class, classes)[1][0] for _ in range(4000)])
    assert np.bincount(ys, minlength=5)[2] / len(ys) > 0.4  # unbalanced: N2 as often as in the data


def test_regional_erase_and_channel_dropout():
    """RegionalErase replaces one (wrapping) region of 0.1 % to 33 % of the window by noise of s.d.
    0.01 around the window's mean; ChannelDropout replaces one of two channels; none with one channel."""
    rng = np.random.default_rng(1)
    entry = make(erase_prob=1.0, channel_dropout_prob=0.0)
    fracs = []
    for _ in range(50):
        w = rng.normal(size=(5, 2, 100)).astype(np.float32) + 3.0
        before = w.copy()
        entry._augment(rng, w)
        changed = np.any(w != before, axis=1).reshape(-1)  # per time step, over the continuous signal
        assert np.all(changed == np.all(w != before, axis=1).reshape(-1))  # all channels at once
        fracs.append(changed.mean())
        if changed.sum() >= 50:
            assert abs(w.transpose(0, 2, 1).reshape(-1, 2)[changed].std() - 0.01) < 0.005
    assert max(fracs) <= 0.33 and np.mean(np.array(fracs) > 0) > 0.8  # int(fraction x length) may be 0
    entry = make(erase_prob=0.0, channel_dropout_prob=1.0)
    w = rng.normal(size=(5, 2, 100)).astype(np.float32)
    before = w.copy()
    entry._augment(rng, w)
    dropped = [c for c in range(2) if np.any(w[:, c] != before[:, c])]
    assert len(dropped) == 1 and w[:, dropped[0]].std() < 0.02
    w1 = rng.normal(size=(5, 1, 100)).astype(np.float32)
    before = w1.copy()
    entry._augment(rng, w1)
    np.testing.assert_array_equal(w1, before)  # one channel: nothing to drop


# --- training and prediction -----------------------------------------------------------------------

@pytest.mark.slow
def test_sliding_window_prediction_averages_every_window(syn):
    """Stride 1 (test): every window of seq_len epochs, softmax averaged per epoch; stride seq_len
    (validation): consecutive windows plus one aligned to the end."""
    _, _, test = syn
    entry = make(depth=1, seq_len=7)
    torch.manual_seed(0)
    entry.module_ = entry.build_module(1, N_SAMPLES).eval()
    x = torch.from_numpy(entry.scaled(test, 0, 60))
    with torch.no_grad():
        p = [torch.softmax(entry.module_(x[None, s:s + 7]), -1)[0].numpy() for s in range(54)]
    want = np.zeros((60, 5))
    cnt = np.zeros(60)
    for s, q in enumerate(p):
        want[s:s + 7] += q
        cnt[s:s + 7] += 1
    np.testing.assert_allclose(entry.predict_proba(test), want / cnt[:, None], atol=1e-5)
    val = entry._proba(test, stride=7)
    starts = list(range(0, 54, 7)) + [53]
    want = np.zeros((60, 5))
    cnt = np.zeros(60)
    for s in starts:
        want[s:s + 7] += p[s]
        cnt[s:s + 7] += 1
    np.testing.assert_allclose(val, want / cnt[:, None], atol=1e-5)


@pytest.mark.slow
def test_a_pass_is_the_authors_epoch_and_the_report_says_so(syn):
    train, valid, _ = syn
    m = make(depth=1, seq_len=10, batch_size=8, max_passes=2, patience=5).fit(train, valid)
    t = m.report(valid)["training"]
    assert t["budget"]["steps_per_pass"] == math.ceil(int(180 / 10) / 8) == 3
    assert t["passes_run"] == 2 and t["steps_run"] == 6 and t["validation"] == "valid"


@pytest.mark.slow
def test_is_deterministic(syn):
    train, valid, test = syn
    params = dict(seed=0, **{**TINY, "erase_prob": 0.5, "depth": 1, "seq_len": 3})
    runs = [make(**params).fit(train, valid).predict_proba(test) for _ in range(2)]
    assert runs[0].shape == (60, 5)
    np.testing.assert_allclose(runs[0].sum(1), 1.0, atol=1e-5)
    assert np.array_equal(runs[0], runs[1])


@pytest.mark.slow
def test_learns_on_synthetic_data():
    """A shallow U-Sleep at a test learning rate (the authors' 1e-7 is for millions of steps). Its
    BatchNorm averages (Keras momentum 0.99) need many short steps before evaluation is fair."""
    train, valid, test = synthetic_set(4, 80, seed=11), synthetic_set(1, 60, seed=2), synthetic_set(1, 80, seed=3)
    m = make(seed=0, depth=3, seq_len=3, batch_size=4, lr=1e-2, max_passes=3, patience=8).fit(train, valid)
    losses = [h["loss"] for h in m.training_["history"]]
    assert losses[-1] < losses[0]
    assert macro_f1(test.y, m.predict(test)) > 0.5


# --- the runner end to end -------------------------------------------------------------------------

@pytest.mark.slow
def test_runs_through_the_runner_on_quick(quick_cache, tmp_path):
    from tests.support.runner import fold0_record

    params = {**TINY, "depth": 1, "steps_per_pass": 1, "seq_len": 2}  # stride-1 prediction costs seq_len
    fold0_record("usleep", params, "quick", tmp_path, cache_dir=quick_cache)


@pytest.mark.slow
def test_runs_through_the_runner_on_the_real_night(real_dir, tmp_path):
    from tests.support.runner import fold0_record

    params = {**TINY, "depth": 1, "steps_per_pass": 1}
    fold0_record("usleep", params, "real-night", tmp_path, data_dir=real_dir, cache_dir=tmp_path / "cache")
