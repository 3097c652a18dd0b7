"""A surrogate Sleep-EDF dataset, written as real EDF/EDF+ files in the sleep-cassette format.

Why: no machine here can download PhysioNet, yet the whole pipeline must run end to end on many
subjects. The surrogate files carry the sleep-cassette study's file names, channel labels, rates,
physical ranges, 30-s data records and hypnogram annotation texts, so they go through exactly the
same reader (:mod:`sleepbench.datasets.sleep_edf`) as the real data. They are never presented as Sleep-EDF:
the folder carries a manifest (``SURROGATE.json``) that makes every consumer label it "surrogate",
and each file's patient field says ``Surrogate``.

Stage sequences are the real hypnograms when a folder of them is given, else a stage-transition
model fitted to them (:mod:`sleepbench.datasets.hypnogram_model`); signals follow AASM rules
(:mod:`sleepbench.datasets.surrogate_signals`). A subject keeps one :class:`SubjectProfile` over both nights.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sleepbench.errors import UserError

from . import hypnogram_model as hm
from .inventory import (
    Record,
    index_edf_files,
    sha1_of,
    sleep_cassette_records,
    sleep_telemetry_records,
    write_surrogate_manifest,
)
from .surrogate_signals import SubjectProfile, synthesize_night

#: Header fields of the real sleep-cassette PSG signals (SC4001E0-PSG.edf), in file order:
#: label, rate (Hz), unit, physical range, digital range, transducer, prefiltering.
PSG_SIGNALS = (
    ("EEG Fpz-Cz", 100, "uV", (-192, 192), (-2048, 2047), "Ag-AgCl electrodes",
     "HP:0.5Hz LP:100Hz [enhanced cassette BW]"),
    ("EEG Pz-Oz", 100, "uV", (-197, 196), (-2048, 2047), "Ag-AgCl electrodes",
     "HP:0.5Hz LP:100Hz [enhanced cassette BW]"),
    ("EOG horizontal", 100, "uV", (-1009, 1009), (-2048, 2047), "Ag-AgCl electrodes",
     "HP:0.5Hz LP:100Hz [enhanced cassette BW]"),
    ("Resp oro-nasal", 1, "", (-2048, 2047), (-2048, 2047), "Oral-nasal thermistors",
     "HP:0.03Hz LP:0.9Hz"),
    ("EMG submental", 1, "uV", (-5, 5), (-2500, 2500), "Ag-AgCl electrodes",
     "HP:16Hz Rectification LP:0.7Hz"),
    ("Temp rectal", 1, "DegC", (34, 40), (-2849, 2731), "Rectal thermistor", ""),
    ("Event marker", 1, "", (-2047, 2048), (-2047, 2048), "Marker button", "Hold during 2 seconds"),
)
#: Sleep-telemetry PSG signals, after PhysioNet's description of the study: EEG Fpz-Cz, EEG Pz-Oz,
#: horizontal EOG and submental EMG at 100 Hz, the event marker at 1 Hz. The real ST headers'
#: physical ranges and filter texts could not be read offline: the shared channels take the
#: cassette's, the 100-Hz EMG a +-100 uV range.
PSG_SIGNALS_ST = PSG_SIGNALS[:3] + (
    ("EMG submental", 100, "uV", (-100, 100), (-2048, 2047), "Ag-AgCl electrodes", "HP:16Hz"),
    ("Event marker", 1, "", (-2047, 2048), (-2047, 2048), "Marker button", ""),
)
#: Manifest ``study`` of surrogate nights written in the sleep-telemetry layout.
TELEMETRY_STUDY = "surrogate-ST"
EPOCH_SEC = 30.0
GENERATOR_VERSION = 2  # 2: signals calibrated against SC4001E0 (datasets.surrogate_signals)


@dataclass(frozen=True)
class SurrogateSpec:
    """What to generate. ``hours=None`` keeps each night's sleep period +- 30 min."""

    subjects: int = 20
    nights: int = 2
    hours: float | None = 10.0
    seed: int = 0
    hypnogram_dir: str | None = None
    #: also write both nights (placebo and temazepam) of sleep-telemetry subjects 0..n-1, with
    #: ST's file names, channels and rates (``sleep-telemetry/``); stage sequences from the model
    telemetry_subjects: int = 0


def file_names(subject: int, night: int) -> tuple[str, str]:
    """Sleep-cassette names for a subject/night: the real ones where the night exists."""
    for rec in sleep_cassette_records():
        if (rec.subject, rec.night) == (subject, night):
            return rec.psg, rec.hypnogram
    if not 0 <= subject <= 99:
        raise UserError(f"surrogate subject {subject} outside 0-99 (sleep-cassette naming)")
    return f"SC4{subject:02d}{night}E0-PSG.edf", f"SC4{subject:02d}{night}EC-Hypnogram.edf"


def stage_sequence(subject: int, night: int, spec: SurrogateSpec,
                   real: dict[str, Path]) -> tuple[np.ndarray, str]:
    """R&K code sequence for one night and where it came from."""
    n_epochs = None if spec.hours is None else int(round(spec.hours * 3600 / EPOCH_SEC))
    hyp_name = file_names(subject, night)[1]
    if hyp_name in real:
        return hm.crop_night(hm.read_rk_sequence(real[hyp_name]), n_epochs), f"{hyp_name} (real)"
    rng = np.random.default_rng([spec.seed, subject, night, 1])
    model = hm.load_model()
    if n_epochs is None:
        n_epochs = int(round(rng.normal(model["night_epochs_mean"], model["night_epochs_sd"])))
    return hm.sample(max(n_epochs, 120), rng, model), "markov"


def annotations_of(codes: np.ndarray) -> list[tuple[float, float, str]]:
    """Run-length encode R&K codes into (onset, duration, text) annotations."""
    change = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], change])
    stops = np.concatenate([change, [len(codes)]])
    return [(s * EPOCH_SEC, (e - s) * EPOCH_SEC, hm.RK_TEXTS[codes[s]]) for s, e in zip(starts, stops)]


def write_night(out_dir: Path, subject: int, night: int, codes: np.ndarray,
                profile: SubjectProfile, seed: int) -> tuple[str, str]:
    """Synthesise one night and write its PSG (EDF) and hypnogram (EDF+) files."""
    import edfio

    psg_name, hyp_name = file_names(subject, night)
    rng = np.random.default_rng([seed, subject, night, 2])
    signals = synthesize_night(hm.RK_TO_SIGNAL[codes], profile, rng)
    patient = edfio.Patient(code="X", sex="F" if subject % 2 else "M", name=f"Surrogate_S{subject:02d}")
    recording = edfio.Recording(startdate=datetime.date(1989, 4, 24) + datetime.timedelta(days=night - 1))
    start = datetime.time(22, 0)
    edf = edfio.Edf(
        [edfio.EdfSignal(np.clip(signals[label], *prange), rate, label=label, physical_dimension=unit,
                         physical_range=prange, digital_range=drange, transducer_type=tt,
                         prefiltering=pf)
         for label, rate, unit, prange, drange, tt, pf in PSG_SIGNALS],
        patient=patient, recording=recording, starttime=start, data_record_duration=EPOCH_SEC)
    edf.write(out_dir / psg_name)
    hyp = edfio.Edf([], patient=patient, recording=recording, starttime=start,
                    annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations_of(codes)])
    hyp.write(out_dir / hyp_name)
    return psg_name, hyp_name


def write_telemetry_night(out_dir: Path, rec: Record, codes: np.ndarray, profile: SubjectProfile,
                          seed: int) -> tuple[str, str]:
    """One night in the sleep-telemetry layout: ST's real file names (``ST7011J0-PSG.edf``,
    ``ST7011JP-Hypnogram.edf``), :data:`PSG_SIGNALS_ST`, a hospital night from 23:00."""
    import edfio

    rng = np.random.default_rng([seed, 1000 + rec.subject, rec.night, 2])
    signals = synthesize_night(hm.RK_TO_SIGNAL[codes], profile, rng)
    # the cassette's EMG is a 1-Hz envelope; telemetry records the EMG itself at 100 Hz
    envelope = np.repeat(np.abs(signals["EMG submental"]), 100) * 8.0
    signals = dict(signals, **{"EMG submental": envelope * rng.standard_normal(envelope.size)})
    patient = edfio.Patient(code="X", sex="F" if rec.subject % 2 else "M",
                            name=f"Surrogate_ST{rec.subject:02d}")
    recording = edfio.Recording(startdate=datetime.date(1994, 3, 7) + datetime.timedelta(days=7 * rec.night))
    start = datetime.time(23, 0)
    edf = edfio.Edf(
        [edfio.EdfSignal(np.clip(signals[label], *prange), rate, label=label, physical_dimension=unit,
                         physical_range=prange, digital_range=drange, transducer_type=tt,
                         prefiltering=pf)
         for label, rate, unit, prange, drange, tt, pf in PSG_SIGNALS_ST],
        patient=patient, recording=recording, starttime=start, data_record_duration=EPOCH_SEC)
    edf.write(out_dir / rec.psg)
    hyp = edfio.Edf([], patient=patient, recording=recording, starttime=start,
                    annotations=[edfio.EdfAnnotation(o, d, t) for o, d, t in annotations_of(codes)])
    hyp.write(out_dir / rec.hypnogram)
    return rec.psg, rec.hypnogram


def _generate_telemetry(out_dir: Path, rec: Record, spec: SurrogateSpec) -> dict:
    rng = np.random.default_rng([spec.seed, 1000 + rec.subject, rec.night, 1])
    model = hm.load_model()
    # a whole night from the transition model, then its sleep period (+- margin) cut to ``hours``
    night = int(round(rng.normal(model["night_epochs_mean"], model["night_epochs_sd"])))
    codes = hm.sample(max(night, 120), rng, model)
    n_epochs = None if spec.hours is None else int(round(spec.hours * 3600 / EPOCH_SEC))
    codes = hm.crop_night(codes, n_epochs, margin=60 if n_epochs is None else min(60, n_epochs // 4))
    profile = SubjectProfile.draw(np.random.default_rng([spec.seed, 1000 + rec.subject]))
    psg, hyp = write_telemetry_night(out_dir, rec, codes, profile, spec.seed)
    return {"record": Record(TELEMETRY_STUDY, rec.subject, rec.night, psg, sha1_of(out_dir / psg),
                             hyp, sha1_of(out_dir / hyp)),
            "stages_source": "markov", "n_epochs": int(len(codes))}


def _generate_one(out_dir: Path, subject: int, night: int, spec: SurrogateSpec,
                  real: dict[str, Path]) -> dict:
    codes, origin = stage_sequence(subject, night, spec, real)
    profile = SubjectProfile.draw(np.random.default_rng([spec.seed, subject]))
    psg, hyp = write_night(out_dir, subject, night, codes, profile, spec.seed)
    return {"record": Record("surrogate", subject, night, psg, sha1_of(out_dir / psg), hyp,
                             sha1_of(out_dir / hyp)),
            "stages_source": origin, "n_epochs": int(len(codes))}


def generate(out_dir, spec: SurrogateSpec = SurrogateSpec(), n_jobs: int = 1,
             progress: bool = True) -> dict:
    """Write a surrogate dataset into ``out_dir/sleep-cassette`` and its manifest into ``out_dir``.

    Deterministic: the same spec gives byte-identical files. Returns the manifest.
    """
    from dataclasses import asdict

    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    files_dir = out_dir / "sleep-cassette"
    files_dir.mkdir(parents=True, exist_ok=True)
    real = index_edf_files(Path(spec.hypnogram_dir)) if spec.hypnogram_dir else {}
    if spec.hypnogram_dir and not any(n.endswith("-Hypnogram.edf") for n in real):
        raise UserError(f"{spec.hypnogram_dir}: no *-Hypnogram.edf files")
    jobs = [(s, n) for s in range(spec.subjects) for n in range(1, spec.nights + 1)]
    st_jobs = [r for r in sleep_telemetry_records() if r.subject < spec.telemetry_subjects]
    if spec.telemetry_subjects > len({r.subject for r in sleep_telemetry_records()}):
        raise UserError(f"telemetry_subjects={spec.telemetry_subjects}: the telemetry study has 22")
    if st_jobs:
        (out_dir / "sleep-telemetry").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        [delayed(_generate_one)(files_dir, s, n, spec, real) for s, n in jobs]
        + [delayed(_generate_telemetry)(out_dir / "sleep-telemetry", r, spec) for r in st_jobs])
    done = list(tqdm(results, total=len(jobs) + len(st_jobs), unit="night", desc="surrogate",
                     disable=not progress))
    manifest = {
        "dataset": "surrogate", "generator_version": GENERATOR_VERSION, "spec": asdict(spec),
        "note": "Synthetic signals in the Sleep-EDF sleep-cassette format"
                + (" and (sleep-telemetry/) the sleep-telemetry format" if st_jobs else "")
                + "; NOT Sleep-EDF data.",
        "records": [d["record"] for d in done],
        "stages_source": {d["record"].name: d["stages_source"] for d in done},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_surrogate_manifest(out_dir, manifest)
    return manifest
