"""The surrogate dataset: real EDF files in the sleep-cassette format, read by the same reader."""

from __future__ import annotations

import json

import edfio
import numpy as np
import pytest

from sleepbench.datasets import hypnogram_model as hm
from sleepbench.datasets.inventory import read_surrogate_manifest
from sleepbench.datasets.sleep_edf import UNSCORED, SleepEDF
from sleepbench.datasets.surrogate import PSG_SIGNALS, SurrogateSpec, generate, stage_sequence

from .conftest import REAL_PSG


def test_labels_read_back_equal_the_generated_sequence(small_surrogate, tmp_path):
    manifest = read_surrogate_manifest(small_surrogate)
    spec = SurrogateSpec(**manifest["spec"])
    ds = SleepEDF(small_surrogate, cache_dir=tmp_path, wake_margin_min=0)
    assert ds.source == "surrogate" and len(ds) == 6
    for rec in ds:
        codes, origin = stage_sequence(rec.subject, rec.night, spec, {})
        assert origin == "markov" and len(codes) == 180  # 1.5 h
        hyp = small_surrogate / "sleep-cassette" / rec.meta["hypnogram"]
        assert np.array_equal(hm.read_rk_sequence(hyp), codes)
        aasm = hm.RK_TO_AASM[codes]
        assert np.array_equal(rec.y, aasm[aasm != UNSCORED])
        assert np.array_equal(rec.onsets, 30.0 * np.flatnonzero(aasm != UNSCORED))


@pytest.mark.slow
def test_real_hypnograms_drive_the_stage_sequences(real_dir, tmp_path):
    spec = SurrogateSpec(subjects=2, nights=2, hours=None, seed=1, hypnogram_dir=str(real_dir))
    manifest = generate(tmp_path / "s", spec, progress=False)
    assert manifest["stages_source"]["SC4001E0"] == "SC4001EC-Hypnogram.edf (real)"
    ds = SleepEDF(tmp_path / "s", cache_dir=tmp_path / "c")
    real = SleepEDF(real_dir, subjects=[0], cache_dir=tmp_path / "c")
    # the surrogate of night SC4001 carries the real night's labels after the same trimming
    assert np.array_equal(ds.load("SC4001E0", signals=False).y, real.load("SC4001E0").y)


def test_files_mimic_the_sleep_cassette_format(small_surrogate):
    psg = edfio.read_edf(small_surrogate / "sleep-cassette" / "SC4001E0-PSG.edf")
    assert psg.data_record_duration == 30
    assert [(s.label, s.sampling_frequency) for s in psg.signals] == \
        [(label, float(rate)) for label, rate, *_ in PSG_SIGNALS]
    assert "Surrogate" in psg.patient.name
    hyp = edfio.read_edf(small_surrogate / "sleep-cassette" / "SC4001EC-Hypnogram.edf")
    assert not hyp.signals and {a.text for a in hyp.annotations} <= set(hm.RK_TEXTS)


def test_header_fields_equal_the_real_file(real_dir, small_surrogate):
    real = edfio.read_edf(REAL_PSG, lazy_load_data=True)
    fake = edfio.read_edf(small_surrogate / "sleep-cassette" / "SC4001E0-PSG.edf", lazy_load_data=True)
    fields = ("label", "sampling_frequency", "physical_dimension", "physical_min", "physical_max",
              "digital_min", "digital_max", "transducer_type", "prefiltering")
    for r, f in zip(real.signals, fake.signals, strict=True):
        assert [getattr(r, k) for k in fields] == [getattr(f, k) for k in fields]


def test_generation_is_deterministic(small_surrogate, tmp_path):
    again = generate(tmp_path, SurrogateSpec(subjects=3, nights=2, hours=1.5, seed=7), progress=False)
    first = json.loads((small_surrogate / "SURROGATE.json").read_text())["records"]
    assert [r.psg_sha1 for r in again["records"]] == [r["psg_sha1"] for r in first]
    other = generate(tmp_path / "o", SurrogateSpec(subjects=1, nights=1, hours=1.5, seed=8), progress=False)
    assert other["records"][0].psg_sha1 != first[0]["psg_sha1"]


def test_transition_model_reproduces_real_stage_proportions():
    model = hm.load_model()
    rng = np.random.default_rng(0)
    seqs = [hm.RK_TO_AASM[hm.sample(1080, rng, model)] for _ in range(40)]
    frac = np.bincount(np.concatenate(seqs)[np.concatenate(seqs) >= 0], minlength=5) / sum(
        (s >= 0).sum() for s in seqs)
    # Sleep-EDF-20 after 30-min trimming: W ~19%, N1 ~7%, N2 ~42%, N3 ~13%, REM ~18%
    assert 0.10 < frac[0] < 0.35 and 0.02 < frac[1] < 0.15 and 0.30 < frac[2] < 0.55
    assert 0.05 < frac[3] < 0.22 and 0.10 < frac[4] < 0.28
    # N3 is front-loaded and REM back-loaded, as in real nights
    early = np.concatenate([s[:360] for s in seqs])
    late = np.concatenate([s[-360:] for s in seqs])
    assert (early == 3).mean() > 2 * (late == 3).mean()
    assert (late == 4).mean() > (early == 4).mean()


def test_model_fit_is_reproducible_from_the_real_hypnograms(real_dir):
    paths = sorted(real_dir.rglob("*-Hypnogram.edf"))
    fitted = hm.fit(paths)
    committed = hm.load_model()
    assert fitted["n_nights"] == committed["n_nights"] == 39
    np.testing.assert_allclose(fitted["transitions"], committed["transitions"], atol=1e-6)
