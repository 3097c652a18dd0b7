"""Bad inputs: a corpus of damaged recordings built from surrogate (and the real) files.

Every bad recording must give one error line naming its file and the problem; ``prepare`` and
``run`` go on with the others and list what they left out; the exit status is non-zero only when
nothing usable remains; a user error never prints a traceback.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sleepbench.datasets.inventory import read_surrogate_manifest, sha1_of, write_surrogate_manifest
from sleepbench.datasets.sleep_edf import RecordingError, SleepEDF, bad_signal_epochs, read_recording

from .conftest import REAL_HYP, REAL_PSG, REPO

#: (subject, night) -> (damage, phrase the error must contain); None: the recording must work.
CORPUS = {
    (0, 1): ("truncated_psg", "truncated"),
    (0, 2): ("record_count_lies", "header declares"),
    (1, 1): ("missing_channel", "not found"),
    (1, 2): ("hypnogram_too_long", "of another recording"),
    (2, 1): ("hypnogram_of_other_night", "of another recording"),
    (2, 2): ("hypnogram_without_stages", "no sleep-stage annotations"),
    (3, 1): ("eeg_at_200_hz", None),
    (3, 2): ("eeg_at_128_hz", None),
    (4, 1): ("flat_stretch", None),
    (4, 2): ("psg_not_edf", "not an EDF file"),
}


def _rewrite_eeg(path: Path, change) -> None:
    """Rewrite ``path`` with its Fpz-Cz channel replaced by ``change(signal) -> EdfSignal | None``."""
    import edfio

    edf = edfio.read_edf(path)
    signals = []
    for s in edf.signals:
        new = change(s) if s.label == "EEG Fpz-Cz" else s
        if new is not None:
            signals.append(new)
    edfio.Edf(signals, patient=edf.patient, recording=edf.recording, starttime=edf.starttime,
              data_record_duration=edf.data_record_duration).write(path)


def _eeg_like(s, data, rate):
    import edfio

    return edfio.EdfSignal(np.clip(data, s.physical_min, s.physical_max), rate, label=s.label,
                           physical_dimension=s.physical_dimension,
                           physical_range=(s.physical_min, s.physical_max),
                           digital_range=(s.digital_min, s.digital_max))


def _resampled(rate):
    from scipy.signal import resample_poly

    return lambda s: _eeg_like(s, resample_poly(s.data, rate, 100), rate)


def _write_hypnogram(path: Path, like: Path, annotations) -> None:
    import edfio

    ref = edfio.read_edf(like)
    edfio.Edf([], patient=ref.patient, recording=ref.recording, starttime=ref.starttime,
              annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations]).write(path)


def damage(kind: str, psg: Path, hyp: Path, other_hyp: Path) -> None:
    if kind == "truncated_psg":
        data = psg.read_bytes()
        psg.write_bytes(data[: int(len(data) * 0.6)])
    elif kind == "record_count_lies":  # field "number of data records": bytes 236-243 (EDF spec)
        data = bytearray(psg.read_bytes())
        data[236:244] = f"{int(data[236:244]) + 100:<8d}".encode()
        psg.write_bytes(bytes(data))
    elif kind == "missing_channel":
        _rewrite_eeg(psg, lambda s: None)
    elif kind == "hypnogram_too_long":  # another, longer night's scoring, same start time
        _write_hypnogram(hyp, hyp, [(0, 600, "Sleep stage W"), (600, 4 * 3600, "Sleep stage 2")])
    elif kind == "hypnogram_of_other_night":
        shutil.copyfile(other_hyp, hyp)
    elif kind == "hypnogram_without_stages":
        _write_hypnogram(hyp, hyp, [(0, 30, "Lights off"), (60, 30, "Movement time")])
    elif kind == "eeg_at_200_hz":
        _rewrite_eeg(psg, _resampled(200))
    elif kind == "eeg_at_128_hz":
        _rewrite_eeg(psg, _resampled(128))
    elif kind == "flat_stretch":  # electrode off for 20 min in the middle of the night
        def flat(s):
            data = s.data.copy()
            mid = len(data) // 2
            data[mid - 60_000: mid + 60_000] = 0.0
            return _eeg_like(s, data, 100)
        _rewrite_eeg(psg, flat)
    elif kind == "psg_not_edf":
        psg.write_text("subject,stage\n0,W\n")
    else:
        raise ValueError(kind)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Six subjects x two nights x 1 h of surrogate data, untouched."""
    from sleepbench.datasets.surrogate import SurrogateSpec, generate

    out = tmp_path_factory.mktemp("pristine")
    generate(out, SurrogateSpec(subjects=6, nights=2, hours=1.0, seed=11), n_jobs=2, progress=False)
    return out


@pytest.fixture(scope="module")
def corpus(pristine, tmp_path_factory):
    """The pristine set with the damage of CORPUS done to it; the manifest's SHA-1s are those of
    the damaged files (a dataset damaged at its source), so the reader itself must notice."""
    out = tmp_path_factory.mktemp("corpus") / "data"
    shutil.copytree(pristine, out)
    manifest = read_surrogate_manifest(out)
    by_key = {(r.subject, r.night): r for r in manifest["records"]}
    files = out / "sleep-cassette"
    for (subject, night), (kind, _) in CORPUS.items():
        rec = by_key[(subject, night)]
        other = by_key[(subject, 3 - night)]
        damage(kind, files / rec.psg, files / rec.hypnogram, pristine / "sleep-cassette" / other.hypnogram)
    manifest["records"] = [r.__class__(**{**r.__dict__, "psg_sha1": sha1_of(files / r.psg),
                                          "hypnogram_sha1": sha1_of(files / r.hypnogram)})
                           for r in manifest["records"]]
    write_surrogate_manifest(out, manifest)
    return out, by_key


@pytest.mark.slow
def test_each_bad_recording_is_refused_with_one_line_naming_file_and_problem(corpus, tmp_path):
    data, by_key = corpus
    ds = SleepEDF(data, subjects=range(6), cache_dir=tmp_path)
    failed = ds.prepare(progress=False)
    expected = {by_key[k].name: phrase for k, (_, phrase) in CORPUS.items() if phrase}
    assert sorted(failed) == sorted(expected)
    for name, phrase in expected.items():
        message = ds.failed[name]
        assert phrase in message and "\n" not in message, message
        assert name[:6] in message  # the file: SC4ssN + E0-PSG.edf or Ex-Hypnogram.edf
    usable = {r.name for r in ds.records}
    assert usable == {r.name for k, r in by_key.items() if k not in CORPUS or not CORPUS[k][1]}


@pytest.mark.parametrize("key", [(3, 1), (3, 2)])
def test_eeg_at_another_rate_is_resampled_to_the_same_epochs(corpus, pristine, tmp_path, key):
    data, by_key = corpus
    name = by_key[key].name
    got = SleepEDF(data, subjects=[key[0]], cache_dir=tmp_path / "c").load(name)
    ref = SleepEDF(pristine, subjects=[key[0]], cache_dir=tmp_path / "p").load(name)
    assert got.x.shape == ref.x.shape and got.x.shape[2] == 3000
    assert np.array_equal(got.y, ref.y) and np.array_equal(got.onsets, ref.onsets)
    r = np.corrcoef(got.x.ravel(), ref.x.ravel())[0, 1]
    assert r > 0.97, f"resampled EEG correlates {r:.3f} with the original"


def test_flat_stretch_drops_only_its_epochs(corpus, pristine, tmp_path):
    data, by_key = corpus
    name = by_key[(4, 1)].name
    got = SleepEDF(data, subjects=[4], cache_dir=tmp_path / "c").load(name)
    ref = SleepEDF(pristine, subjects=[4], cache_dir=tmp_path / "p").load(name)
    n_bad = got.meta["n_bad_signal_epochs"]
    assert 30 <= n_bad <= 41  # 20 min = 40 epochs, less any unscored or trimmed among them
    assert len(got.y) == len(ref.y) - n_bad
    kept = np.isin(ref.onsets, got.onsets)
    assert np.array_equal(ref.y[kept], got.y) and np.array_equal(ref.x[kept], got.x)


def test_nan_and_flat_epochs_are_found():
    """EDF stores integers, so NaN cannot come from a file; the check guards any other reader."""
    x = np.random.default_rng(0).normal(0, 20, (8, 2, 3000)).astype(np.float32)
    x[2, 1, 100] = np.nan
    x[5, 0] = 3.0  # flat channel
    x[6, 1, :1500] = 0.0  # half flat: still a signal
    assert np.flatnonzero(bad_signal_epochs(x)).tolist() == [2, 5]


def _cli(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "sleepbench", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_cli_prepare_goes_on_lists_what_it_skipped_and_exits_zero(corpus, tmp_path):
    data, by_key = corpus
    out = _cli("data", "prepare", "--data-dir", data, "--cache-dir", tmp_path)
    assert out.returncode == 0, out.stderr
    skipped = [line for line in out.stderr.splitlines() if line.startswith("sleepbench: skipped")]
    assert len(skipped) == sum(1 for _, phrase in CORPUS.values() if phrase)
    assert "Traceback" not in out.stderr, out.stderr
    assert "prepared 5 recording(s)" in out.stdout


@pytest.mark.slow
def test_cli_exits_nonzero_only_when_nothing_usable_remains(corpus, tmp_path):
    data, by_key = corpus
    empty = tmp_path / "empty"
    empty.mkdir()
    out = _cli("data", "prepare", "--data-dir", empty, "--cache-dir", tmp_path)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "no EDF files" in out.stderr and str(empty) in out.stderr
    # only bad recordings: each named, then a non-zero exit
    only_bad = tmp_path / "only-bad"
    shutil.copytree(data, only_bad)
    bad = [by_key[k] for k in ((0, 1), (4, 2))]
    manifest = read_surrogate_manifest(only_bad)
    manifest["records"] = bad
    write_surrogate_manifest(only_bad, manifest)
    out = _cli("data", "prepare", "--data-dir", only_bad, "--cache-dir", tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert all(r.psg in out.stderr for r in bad)


@pytest.mark.slow
def test_run_goes_on_without_the_bad_recordings_and_lists_them(corpus, toy_plugin, tmp_path):
    """The quick protocol on the corpus, with subject 5's PSGs also deleted: subjects 0-2 and 5
    are unusable, so of the three folds only the first (train 4, test 3) has data. It runs; the
    others are reported without data; the summary names every recording left out; exit 0."""
    data, by_key = corpus
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    for night in (1, 2):
        (copy / "sleep-cassette" / by_key[(5, night)].psg).unlink()
    out = _cli("run", "--protocol", "quick", "--models", "toy-prior", "--data-dir", copy,
               "--cache-dir", tmp_path / "cache", "--results", tmp_path / "results",
               env={"SLEEPBENCH_PLUGINS": str(toy_plugin)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "1 done" in out.stdout and "2 without usable data" in out.stdout
    assert "9 recording(s) left out" in out.stdout
    assert all(by_key[k].psg in out.stdout or by_key[k].hypnogram in out.stdout
               for k, (_, phrase) in CORPUS.items() if phrase)
    assert all(by_key[(5, n)].name in out.stdout for n in (1, 2))


def test_real_night_truncated_or_lying_or_not_edf(real_dir, tmp_path):
    """The same checks on copies of the real PSG (read directly: the SHA-1 check of a real
    folder would already refuse these files as corrupt)."""
    cases = {"truncated_psg": "truncated", "record_count_lies": "header declares",
             "psg_not_edf": "not an EDF file"}
    for kind, phrase in cases.items():
        psg = tmp_path / f"{kind}-PSG.edf"
        shutil.copyfile(REAL_PSG, psg)
        psg.chmod(0o644)
        damage(kind, psg, REAL_HYP, REAL_HYP)
        with pytest.raises(RecordingError, match=phrase) as err:
            read_recording(psg, REAL_HYP)
        assert str(psg) in str(err.value) and "\n" not in str(err.value)
