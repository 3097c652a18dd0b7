"""ViViT module and entries (``models/vivit.py``): shapes, amplitude kept, fusion path, determinism, fits.

Most tests use small synthetic recordings (stage-dependent spectra made with numpy); one fit runs
on the surrogate Sleep-EDF set when its generator is available. No timing assertions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sleepbench.benchmark.epochs import EpochSet
from sleepbench.benchmark.registry import discover, make_entry
from sleepbench.models.vivit import LOG_STD, ViViT, ViViTModule, ViViTSeed
from tests.support.synthetic import N_SAMPLES, SFREQ, macro_f1, synthetic_set  # noqa: F401


def raw(batch: int, seq_len: int, n_channels: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 20, (batch, seq_len, n_channels, N_SAMPLES))
                            .astype(np.float32))


# --- module ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["context", "seed"])
@pytest.mark.parametrize("attention", ["factorised", "joint"])
@pytest.mark.parametrize("pool", ["mean", "cls"])
def test_shapes(layout, attention, pool):
    module = ViViTModule(2, N_SAMPLES, SFREQ, layout=layout, seq_len=6, attention=attention, pool=pool).eval()
    with torch.inference_mode():
        for seq_len in (6, 3, 1):  # shorter windows: the harness's short-recording path
            x = raw(3, seq_len, 2)
            assert module(x).shape == (3, seq_len, 5)
            assert module.epoch_embedding(x).shape == (3, seq_len, module.d_model)
        with pytest.raises(ValueError):
            module(raw(1, 2, 3))  # wrong channel count
        if layout == "context":
            with pytest.raises(ValueError):
                module(raw(1, 7, 2))  # longer than the positional table


def test_context_seq_len_one_and_spectrogram_grid():
    module = ViViTModule(1, N_SAMPLES, SFREQ, layout="context", seq_len=1).eval()
    with torch.inference_mode():
        assert module(raw(4, 1)).shape == (4, 1, 5)
        video = module.video(raw(2, 1))
    assert video.shape == (2, 1, 1, 60, 30)  # [S, C, frames, 0.5-30 Hz in 0.5-Hz bins, 30 s]
    np.testing.assert_allclose(module.spectrogram.freqs[[0, -1]], [0.5, 30.0])
    seed = ViViTModule(1, N_SAMPLES, SFREQ, layout="seed")
    assert seed.video(raw(2, 1)).shape == (2, 1, 12, 38, 5)  # 12 windows of 256 samples
    starts = seed.window_index[:, 0].numpy()
    assert starts[0] == 0 and starts[-1] + 256 == N_SAMPLES  # the whole epoch, not its first 20 s
    with pytest.raises(ValueError):
        ViViTModule(layout="context", tubelet=(2, 20, 5))  # would merge epochs


def test_tubelet_embedding_equals_conv3d():
    for layout in ("context", "seed"):
        module = ViViTModule(2, N_SAMPLES, SFREQ, layout=layout, seq_len=4,
                             tubelet=(1, 7, 4) if layout == "context" else (5, 7, 3))
        video = module.video(raw(2, 4, 2))
        with torch.no_grad():
            torch.testing.assert_close(module.tubelet_tokens(video), module.tubelet_conv(video),
                                       rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layout", ["context", "seed"])
def test_amplitude_is_kept(layout):
    """No per-epoch normalisation: doubling the signal shifts every feature by log10(4) / LOG_STD."""
    x = raw(2, 3)
    exact = ViViTModule(1, N_SAMPLES, SFREQ, layout=layout, seq_len=3, log_offset=1e-9)
    with torch.no_grad():
        v1, v2 = exact.video(x), exact.video(2 * x)
    np.testing.assert_allclose((v2 - v1).numpy(), math.log10(4.0) / LOG_STD, atol=1e-4)
    assert float(v1.std()) > 0.3  # features are not squashed to a constant range
    module = ViViTModule(1, N_SAMPLES, SFREQ, layout=layout, seq_len=3)  # default offset 1e-3 µV²/Hz
    with torch.no_grad():
        d = (module.video(2 * x) - module.video(x)).numpy()
    assert abs(np.median(d) - math.log10(4.0) / LOG_STD) < 1e-3 and np.mean(np.abs(d - np.median(d)) < 1e-2) > 0.97
    with torch.no_grad():
        assert not torch.allclose(module(x), module(2 * x))


def test_extra_fusion_path():
    module = ViViTModule(1, N_SAMPLES, SFREQ, layout="context", seq_len=5, extra_dim=7).eval()
    x, extra = raw(3, 5), torch.randn(3, 5, 7)
    with torch.no_grad():
        out = module(x, extra)
        assert out.shape == (3, 5, 5)
        assert not torch.allclose(out, module(x, torch.zeros_like(extra)))  # extra reaches the head
        expected = module.head(torch.cat([module.epoch_embedding(x), extra], dim=-1))
        torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError):
        module(x)  # extra is required when extra_dim > 0
    with pytest.raises(ValueError):
        ViViTModule(seq_len=5)(x, extra)  # and refused when extra_dim == 0


def test_default_parameter_counts_under_one_million():
    for name in ("vivit", "vivit-seed"):
        entry = make_entry(name, seed=0)
        for n_channels in (1, 3):
            module = entry.build_module(n_channels, N_SAMPLES)
            n = sum(p.numel() for p in module.parameters())
            assert 20_000 < n <= 1_000_000, (name, n_channels, n)


# --- entries ---------------------------------------------------------------------------------------

def test_registered_with_recipe_parameters():
    entries = discover()
    assert entries["vivit"].cls is ViViT and entries["vivit-seed"].cls is ViViTSeed
    assert entries["vivit"].kind == "deep"
    params = ViViT().get_params()
    for key in ("seed", "layout", "seq_len", "attention", "d_model", "depth", "heads", "tubelet",
                "dropout", "max_passes", "batch_size", "lr", "weight_decay", "patience",
                "class_weight", "steps_per_pass"):
        assert key in params
    assert ViViT().recipe().seq_len == ViViT().seq_len > 1
    assert ViViTSeed().recipe().seq_len == 1 and ViViTSeed().layout == "seed"
    entry = make_entry("vivit", seed=1, params={"attention": "joint", "seq_len": 4})
    assert entry.build_module(1, N_SAMPLES).attention == "joint"


def test_subclass_builds_fusion_module():
    class Fused(ViViT):  # what fin-vivit does: the same trunk with a wider head
        def build_module(self, n_channels, n_samples):
            return self.build_vivit(n_channels, n_samples, extra_dim=4)

    module = Fused(seq_len=3).build_module(1, N_SAMPLES)
    assert module.extra_dim == 4 and module.head.in_features == module.d_model + 4


@pytest.fixture(scope="module")
def syn():
    return synthetic_set(3, 120, seed=1), synthetic_set(1, 120, seed=2), synthetic_set(2, 120, seed=3)


QUICK = dict(max_passes=3, steps_per_pass=6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vivit", "vivit-seed"])
def test_fit_is_deterministic(syn, name):
    train, valid, test = syn
    a = make_entry(name, seed=3, params=dict(QUICK, max_passes=2)).fit(train, valid).predict_proba(test)
    b = make_entry(name, seed=3, params=dict(QUICK, max_passes=2)).fit(train, valid).predict_proba(test)
    assert a.shape == (len(test), 5)
    np.testing.assert_allclose(a.sum(1), 1.0, atol=1e-5)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("name,params", [("vivit", {}), ("vivit-seed", {}),
                                         ("vivit", {"attention": "joint", "seq_len": 5})])
@pytest.mark.slow
def test_short_fit_beats_chance_on_synthetic(syn, name, params):
    train, valid, test = syn
    entry = make_entry(name, seed=0, params=dict(QUICK, **params)).fit(train, valid)
    f1 = macro_f1(test.y, entry.predict(test))
    assert f1 > 0.4, f1
    assert entry.n_params() <= 1_000_000


def test_multichannel_fit(syn):
    train, valid, test = (synthetic_set(2, 60, seed=s, n_channels=2) for s in (4, 5, 6))
    entry = make_entry("vivit", seed=0, params=dict(QUICK, max_passes=1)).fit(train, valid)
    assert entry.predict_proba(test).shape == (len(test), 5)


@pytest.mark.slow
@pytest.mark.parametrize("name,batch_size", [("vivit", 8), ("vivit-seed", 256)])
def test_short_fit_beats_chance_on_surrogate(small_surrogate, tmp_path, name, batch_size):
    """Train on 1.5 subjects (4.5 h), validate on another night, test on an unseen subject."""
    from sleepbench.datasets.sleep_edf import SleepEDF

    recs = {(r.subject, r.night): r for r in SleepEDF(small_surrogate, cache_dir=tmp_path)}
    assert len(recs) == 6
    train = EpochSet([recs[0, 1], recs[0, 2], recs[1, 1]], SFREQ, ("EEG Fpz-Cz",))
    valid = EpochSet([recs[1, 2]], SFREQ, ("EEG Fpz-Cz",))
    test = EpochSet([recs[2, 1], recs[2, 2]], SFREQ, ("EEG Fpz-Cz",))
    entry = make_entry(name, seed=0, params=dict(max_passes=8,
                                                    batch_size=batch_size)).fit(train, valid)
    pred = entry.predict(test)
    f1, acc = macro_f1(test.y, pred), float(np.mean(pred == test.y))
    assert f1 > 0.3, (f1, acc)  # chance macro-F1 is <= 0.2


# --- input scaling: fitted on the fold's training epochs, never on a test night ----------------------

@pytest.mark.parametrize("name", ["vivit", "vivit-seed"])
def test_input_scaling_is_fitted_on_the_training_data_only(name):
    """The spectrogram scaling is a fitted attribute computed from ``train`` alone: changing the
    test subject's signals (here: scaled x10 and shifted in spectrum) leaves it unchanged; changing
    the training data changes it; and on the training data the features come out standardised."""
    from sleepbench.models.vivit import fit_input_scaling

    train, valid = synthetic_set(2, 40, seed=1), synthetic_set(1, 20, seed=2)
    test = synthetic_set(1, 20, seed=3)
    recipe = dict(max_passes=1, steps_per_pass=1)
    a = make_entry(name, seed=0, params=recipe).fit(train, valid)
    a.predict_proba(test)
    scaling = dict(a.input_scaling_)
    assert set(scaling) == {"log_offset", "log_mean", "log_std"} and scaling["log_offset"] > 0
    test.x[:] = 10 * np.roll(test.x, 7, axis=-1) + 3.0     # the test subject's signals change
    b = make_entry(name, seed=0, params=recipe).fit(train, valid)
    b.predict_proba(test)
    assert b.input_scaling_ == scaling
    spec = b.module_.spectrogram
    assert (spec.log_offset, spec.log_mean, spec.log_std) == tuple(scaling[k] for k in
                                                                   ("log_offset", "log_mean", "log_std"))
    louder = make_entry(name, seed=0, params=recipe).fit(_scaled(train, 4.0), valid)
    assert louder.input_scaling_["log_mean"] == pytest.approx(scaling["log_mean"] + math.log10(16.0), abs=0.05)
    probe = b.module_
    with torch.no_grad():
        x = torch.from_numpy(train.x)                      # 80 epochs: every one the fit saw
        v = probe.video(x.reshape(8, 10, 1, -1) if name == "vivit" else x[:, None])
    assert abs(float(v.mean())) < 0.01 and abs(float(v.std()) - 1) < 0.01
    assert fit_input_scaling(probe, train.x) == scaling


def _scaled(epoch_set, gain):
    import copy

    out = copy.deepcopy(epoch_set)
    out.x[:] = out.x * gain
    return out
