"""PhysioNet Sleep-EDF Expanded on MNE: fetching, reading, 30-s labels, wake trimming, the dataset.

Preprocessing rule (one rule, applied to every recording; see also the README):

1. Signals: only the wanted channels are read (``mne.io.read_raw_edf(include=...)``), in µV,
   float32, resampled with MNE when they are not at the target rate (default 100 Hz).
2. Epochs: a 30-s grid aligned to the hypnogram's first annotation; an epoch exists only if all
   of its samples lie inside the signal, so scoring that runs past the end of the PSG (SC4001EC
   scores 86,400 s for 79,500 s of signal) is cut to the signal.
3. Labels: the stage scored at the epoch's onset, mapped to AASM classes W, N1, N2, N3 (= R&K
   stages 3 + 4), REM (Iber et al., 2007). ``Sleep stage ?``, ``Movement time`` and unscored time
   are never a label: those epochs are dropped.
4. Wake trimming: at most ``wake_margin_min`` minutes (default 30, i.e. 60 epochs) are kept before
   the first and after the last epoch scored N1/N2/N3/REM; 0 keeps the whole recording. This is the
   convention of DeepSleepNet (Supratak et al., 2017) and most Sleep-EDF papers since.

5. Bad signal: an epoch with a non-finite sample, or a channel flat over the whole epoch
   (peak-to-peak under ``FLAT_UV`` µV: a disconnected electrode), is dropped like an unscored one
   and counted in the recording's metadata.

Trimming is applied to the grid before unscored epochs are dropped, so the margins are measured in
wall-clock time.

Before any of this the files are checked, and a recording that fails is refused with a
:class:`RecordingError` naming the file and the problem: a PSG that is not EDF, is truncated or
whose header's record count disagrees with its size (MNE would size the data from the file and read
a short night silently); a missing channel; a hypnogram that is not EDF+, has no stage annotation,
starts more than a minute apart from the PSG, or scores sleep after the PSG has ended (the hypnogram
of another recording). A smaller start difference is applied: annotation onsets are shifted by
(hypnogram start - PSG start), so the 30-s grid follows the hypnogram's own epochs.
"""

from __future__ import annotations

import datetime
import logging
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from sleepbench.errors import UserError

from .cache import atomic_write_bytes, cached_sha1, config_key, default_cache_dir, load_arrays, save_arrays
from .inventory import Inventory, Record, read_surrogate_manifest, records_for, surrogate_records, take_inventory

log = logging.getLogger(__name__)

STAGES = ("W", "N1", "N2", "N3", "REM")
#: R&K annotation text -> AASM class index; anything else (``?``, movement) is unscored.
STAGE_OF_ANNOTATION = {
    "Sleep stage W": 0, "Sleep stage 1": 1, "Sleep stage 2": 2,
    "Sleep stage 3": 3, "Sleep stage 4": 3, "Sleep stage R": 4,
}
UNSCORED = -1
#: A channel whose peak-to-peak amplitude over a whole epoch is below this (µV) is flat.
FLAT_UV = 0.5
#: Sleep scored after the end of the PSG beyond this (s) means the hypnogram is another night's.
MAX_SLEEP_AFTER_END_SEC = 300.0
#: Hypnogram and PSG headers must agree on the start time within this (s).
MAX_START_OFFSET_SEC = 60.0
CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal")


class RecordingError(UserError):
    """A recording that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class PrepConfig:
    """How a recording is turned into labelled epochs (part of every cache key)."""

    channels: tuple[str, ...] = ("EEG Fpz-Cz",)
    sfreq: float = 100.0
    epoch_sec: float = 30.0
    wake_margin_min: float = 30.0  # 0 keeps everything

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or not self.channels:
            raise UserError(f"channels {unknown or '[]'} not available; choose from {CHANNELS}")


@dataclass
class Recording:
    """One prepared night: ``x`` [n_epochs, n_channels, n_samples] µV, ``y`` [n_epochs] in 0..4."""

    name: str
    subject: int
    night: int
    x: np.ndarray
    y: np.ndarray
    onsets: np.ndarray  # epoch onsets, seconds from the PSG start
    meta: dict = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        return {s: int(np.sum(self.y == i)) for i, s in enumerate(STAGES)}


def epoch_labels(onsets: np.ndarray, durations: np.ndarray, descriptions, n_signal_sec: float,
                 epoch_sec: float = 30.0, mapping: dict[str, int] = STAGE_OF_ANNOTATION,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Label a 30-s grid with the stage scored at each epoch's onset.

    Returns ``(epoch_onsets, labels)`` for every epoch lying wholly inside the signal; labels are
    ``mapping[description]`` (default 0..4 for W, N1, N2, N3, REM) or ``UNSCORED`` for any other
    text and for time no annotation covers.
    """
    order = np.argsort(onsets, kind="stable")
    onsets, durations = np.asarray(onsets, float)[order], np.asarray(durations, float)[order]
    codes = np.array([mapping.get(str(descriptions[i]), UNSCORED) for i in order], dtype=np.int64)
    start = onsets[0] % epoch_sec if len(onsets) else 0.0
    n_epochs = int(np.floor((n_signal_sec - start) / epoch_sec + 1e-9))
    grid = start + epoch_sec * np.arange(max(n_epochs, 0))
    idx = np.searchsorted(onsets, grid, side="right") - 1
    inside = (idx >= 0) & (grid < onsets[np.clip(idx, 0, None)] + durations[np.clip(idx, 0, None)] - 1e-9)
    labels = np.where(inside, codes[np.clip(idx, 0, None)], UNSCORED)
    return grid, labels.astype(np.int8)


def trim_wake(labels: np.ndarray, margin_epochs: int) -> slice:
    """Slice of the grid kept: ``margin_epochs`` before the first and after the last sleep epoch."""
    sleep = np.flatnonzero((labels >= 1) & (labels <= 4))
    if margin_epochs <= 0:
        return slice(0, len(labels))
    if sleep.size == 0:
        return slice(0, 0)
    return slice(max(0, sleep[0] - margin_epochs), min(len(labels), sleep[-1] + margin_epochs + 1))


def _one_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def check_edf(path: Path):
    """Refuse a file that is not a complete EDF/EDF+ file; returns its (lazily read) header.

    MNE sizes the data from the file length, so a truncated file, or one whose header declares more
    or fewer data records than it holds, would be read as a shorter night without a word. edfio
    reads the header alone and reports both cases; we turn them into errors.
    """
    import edfio

    path = Path(path)
    if path.stat().st_size == 0:
        raise RecordingError(f"{path}: empty file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            header = edfio.read_edf(path, lazy_load_data=True)
        except Exception as exc:  # edfio raises ValueError, UnicodeDecodeError, ... on garbage
            raise RecordingError(f"{path}: not an EDF file ({_one_line(exc)})") from exc
    messages = [str(w.message) for w in caught]
    counts = next((m for m in map(re.compile(r"indicates (-?\d+) data records, but file contains "
                                             r"(\d+)").search, messages) if m), None)
    if any("Incomplete data record" in m for m in messages):
        declared = f"declares {counts[1]} data records but " if counts else ""
        raise RecordingError(f"{path}: truncated: the header {declared}the file ends inside "
                             f"data record {int(counts[2]) + 1 if counts else '?'}")
    if counts:
        raise RecordingError(f"{path}: the header declares {counts[1]} data records but the file "
                             f"holds {counts[2]}")
    return header


def _start(header) -> datetime.datetime | None:
    try:
        return datetime.datetime.combine(header.startdate, header.starttime)
    except (ValueError, TypeError, AttributeError):  # anonymised or malformed start
        return None


def bad_signal_epochs(x: np.ndarray, flat_uv: float = FLAT_UV) -> np.ndarray:
    """Epochs to drop, ``x`` [n_epochs, n_channels, n_samples] µV: any non-finite sample, or a
    channel flat over the whole epoch (peak-to-peak < ``flat_uv``, a disconnected electrode)."""
    finite = np.isfinite(x).all(axis=(1, 2))
    with np.errstate(invalid="ignore"):
        flat = (np.ptp(np.where(np.isfinite(x), x, 0.0), axis=2) < flat_uv).any(axis=1)
    return ~finite | flat


def read_recording(psg: Path, hypnogram: Path, config: PrepConfig = PrepConfig()):
    """Read one night into labelled epochs following the module's preprocessing rule.

    Returns ``(x, y, onsets, n_bad_signal)`` (epochs dropped for bad signal); raises
    :class:`RecordingError` naming the file and
    the problem.
    """
    import mne

    psg, hypnogram = Path(psg), Path(hypnogram)
    psg_header = check_edf(psg)
    hyp_header = check_edf(hypnogram)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = mne.io.read_raw_edf(psg, include=list(config.channels), preload=False,
                                      verbose="error")
    except Exception as exc:  # MNE raises several types for unreadable files
        raise RecordingError(f"{psg}: not a readable EDF file ({_one_line(exc)})") from exc
    missing = [c for c in config.channels if c not in raw.ch_names]
    if missing:
        raise RecordingError(f"{psg}: channel(s) {missing} not found (file has "
                             f"{[s.label for s in psg_header.signals]})")
    raw.pick(list(config.channels))
    if abs(raw.info["sfreq"] - config.sfreq) > 1e-6:
        raw.load_data(verbose="error").resample(config.sfreq, verbose="error")
    try:
        annot = mne.read_annotations(hypnogram)
    except Exception as exc:
        raise RecordingError(f"{hypnogram}: not a readable hypnogram ({_one_line(exc)})") from exc
    if not any(d in STAGE_OF_ANNOTATION for d in annot.description):
        raise RecordingError(f"{hypnogram}: no sleep-stage annotations "
                             f"({len(annot)} annotation(s), none of {sorted(STAGE_OF_ANNOTATION)})")
    t_psg, t_hyp = _start(psg_header), _start(hyp_header)
    shift = (t_hyp - t_psg).total_seconds() if t_psg and t_hyp else 0.0
    if abs(shift) > MAX_START_OFFSET_SEC:
        raise RecordingError(f"{hypnogram}: starts {t_hyp} but {psg.name} starts {t_psg}: "
                             "the hypnogram of another recording?")
    # annotation onsets count from the hypnogram's own start: move them onto the PSG's clock, so a
    # hypnogram starting 20 s after its PSG labels the epochs it scored, not those 20 s earlier
    onset = np.asarray(annot.onset, float) + shift
    n_signal_sec = raw.n_times / config.sfreq
    sleep = np.array([STAGE_OF_ANNOTATION.get(d, UNSCORED) >= 1 for d in annot.description], bool)
    after_end = np.clip(onset + annot.duration, n_signal_sec, None) - np.clip(
        onset, n_signal_sec, None)
    if after_end[sleep].sum() > MAX_SLEEP_AFTER_END_SEC:
        raise RecordingError(f"{hypnogram}: scores {after_end[sleep].sum() / 60:.0f} min of sleep "
                             f"after {psg.name} ends ({n_signal_sec / 3600:.2f} h): the hypnogram "
                             "of another recording?")

    spe = int(round(config.epoch_sec * config.sfreq))
    grid, labels = epoch_labels(onset, annot.duration, annot.description, n_signal_sec,
                                config.epoch_sec)
    keep = trim_wake(labels, int(round(config.wake_margin_min * 60 / config.epoch_sec)))
    grid, labels = grid[keep], labels[keep]
    scored = labels != UNSCORED
    grid, labels = grid[scored], labels[scored]
    if labels.size == 0:
        raise RecordingError(f"{hypnogram}: no scored epoch overlaps the signal of {psg.name}")
    first = np.rint(grid * config.sfreq).astype(np.int64)
    # decode only the span the kept epochs cover (about a third of a Sleep-EDF day)
    start, stop = int(first[0]), int(first[-1]) + spe
    data = raw.get_data(start=start, stop=stop, units="uV").astype(np.float32)
    x = np.stack([data[:, s - start:s - start + spe] for s in first])
    bad = bad_signal_epochs(x)
    if bad.all():
        raise RecordingError(f"{psg}: signal flat or not finite in all {len(bad)} scored epochs "
                             f"({', '.join(config.channels)})")
    return x[~bad], labels[~bad], grid[~bad], int(bad.sum())


def _prepare_one(rec: Record, psg: Path, hyp: Path, config: PrepConfig, cache_dir: Path | None,
                 source: str):
    """Prepared arrays of one record, from the cache when present; returns (path, meta)."""
    key = config_key(cached_sha1(psg, cache_dir), cached_sha1(hyp, cache_dir), asdict(config))
    path = Path(cache_dir) / "prepared" / f"{rec.name}-{key}.npz"
    if path.is_file():
        return path, None
    # a refusal is cached under the same key, so the fold jobs that each open the data do not
    # read a bad file again (a changed file has a new key)
    refused = path.with_suffix(".error")
    if refused.is_file():
        raise RecordingError(refused.read_text())
    try:
        x, y, onsets, n_bad = read_recording(psg, hyp, config)
    except RecordingError as exc:
        atomic_write_bytes(refused, str(exc).encode())
        raise
    if n_bad:
        log.warning("%s: %d epoch(s) dropped for flat or non-finite signal", psg, n_bad)
    meta = {"name": rec.name, "subject": rec.subject, "night": rec.night, "source": source,
            "n_bad_signal_epochs": n_bad,
            "psg": psg.name, "hypnogram": hyp.name, "psg_sha1": rec.psg_sha1,
            "hypnogram_sha1": rec.hypnogram_sha1, "config": asdict(config)}
    save_arrays(path, meta, x=x, y=y, onsets=onsets)
    return path, meta


class SleepEDF:
    """Sleep-EDF (or a surrogate in its format) as prepared, labelled recordings.

    Parameters
    ----------
    data_dir : path
        A folder holding Sleep-EDF files in any layout (PhysioNet's, MNE's or flat), or a surrogate
        folder written by :mod:`sleepbench.datasets.surrogate` (recognised by its manifest).
    channels, sfreq, wake_margin_min :
        Preprocessing, see :class:`PrepConfig` and the module docstring.
    study : {"cassette", "telemetry"}
        Which record table a real folder is matched against.
    subjects : iterable of int, optional
        Restrict to these subjects.
    cache_dir : path, optional
        Where prepared recordings are cached; default :func:`sleepbench.datasets.cache.default_cache_dir`.
    n_jobs : int
        Recordings prepared in parallel (joblib).
    verify : bool
        Check every file's SHA-1 against the record table.
    """

    def __init__(self, data_dir, channels=("EEG Fpz-Cz",), sfreq=100.0, wake_margin_min=30.0,
                 study="cassette", subjects=None, cache_dir=None, n_jobs=1, verify=True):
        self.data_dir = Path(data_dir)
        self.config = PrepConfig(tuple(channels), float(sfreq), 30.0, float(wake_margin_min))
        self.study = study
        self.subjects = None if subjects is None else sorted(set(int(s) for s in subjects))
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.n_jobs = n_jobs
        self.verify = verify
        if not self.data_dir.is_dir():
            raise UserError(f"{self.data_dir}: data folder does not exist")
        if next(self.data_dir.rglob("*.edf"), None) is None:
            raise UserError(f"{self.data_dir}: no EDF files (expected Sleep-EDF *-PSG.edf "
                                    "and *-Hypnogram.edf; fetch them with `sleepbench data fetch`)")
        manifest = read_surrogate_manifest(self.data_dir)
        self.source = "surrogate" if manifest else f"sleep-edf-{study}"
        records = surrogate_records(manifest, study) if manifest else records_for(study)
        if self.subjects is not None:
            records = [r for r in records if r.subject in self.subjects]
        self.inventory: Inventory = take_inventory(
            self.data_dir, records, verify, checksum=lambda p: cached_sha1(p, self.cache_dir))
        self.failed: dict[str, str] = {}
        self._paths: dict[str, Path] = {}

    @property
    def records(self) -> list[Record]:
        """Complete, verified records (bad ones are in ``inventory``/``failed``)."""
        return [rec for rec, _, _ in self.inventory.complete.values() if rec.name not in self.failed]

    def prepare(self, progress: bool = True) -> list[str]:
        """Prepare (or find in the cache) every complete record; returns names that failed.

        One bad recording never sinks the others: its error is kept in ``self.failed``.
        """
        from joblib import Parallel, delayed
        from tqdm.auto import tqdm

        todo = [v for k, v in self.inventory.complete.items() if k not in self._paths]
        jobs = (delayed(_safe_prepare)(rec, psg, hyp, self.config, self.cache_dir, self.source)
                for rec, psg, hyp in todo)
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(jobs)
        for (rec, _, _), (path, error) in tqdm(zip(todo, results), total=len(todo), unit="night",
                                               desc="prepare", disable=not progress or not todo):
            if error:  # listed by the caller at the end (CLI: "skipped ..."), not twice
                self.failed[rec.name] = error
                log.info(error)
            else:
                self._paths[rec.name] = path
        return sorted(self.failed)

    def load(self, name: str, signals: bool = True) -> Recording:
        """One prepared recording; ``signals=False`` skips reading ``x`` (labels only)."""
        if name not in self._paths:
            self.prepare(progress=False)
        if name in self.failed:
            raise RecordingError(self.failed[name])
        meta, a = load_arrays(self._paths[name], None if signals else ("y", "onsets"))
        x = a.get("x", np.empty((len(a["y"]), 0, 0), np.float32))
        return Recording(name, meta["subject"], meta["night"], x, a["y"], a["onsets"], meta)

    def __iter__(self) -> Iterator[Recording]:
        self.prepare(progress=False)
        for rec in self.records:
            yield self.load(rec.name)

    def __len__(self) -> int:
        return len(self.records)


def _safe_prepare(rec, psg, hyp, config, cache_dir, source):
    try:
        return _prepare_one(rec, psg, hyp, config, cache_dir, source)[0], None
    except RecordingError as exc:
        return None, str(exc)


def fetch(data_dir, subjects, nights=(1, 2), study="cassette", base_url: str | None = None,
          progress: bool = True) -> Inventory:
    """Download Sleep-EDF nights through ``mne.datasets.sleep_physionet`` into ``data_dir``.

    Files already present anywhere below ``data_dir`` with the right SHA-1 are not fetched again.
    Each night is fetched on its own so one failed download does not stop the others; the returned
    inventory lists what is complete, missing and corrupt (pooch verifies SHA-1 on download).
    """
    from mne.datasets import sleep_physionet
    from tqdm.auto import tqdm

    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    wanted = [r for r in records_for(study) if r.subject in set(subjects) and r.night in nights]
    have = take_inventory(data_dir, wanted)
    module = sleep_physionet.age if study == "cassette" else sleep_physionet.temazepam
    kwargs = {"base_url": base_url} if base_url else {}
    problems: dict[str, str] = {}
    for rec in tqdm([r for r in wanted if r.name not in have.complete], unit="night",
                    desc="fetch", disable=not progress):
        try:
            if study == "cassette":
                module.fetch_data([rec.subject], recording=[rec.night], path=data_dir,
                                  on_missing="ignore", verbose="error", **kwargs)
            else:  # MNE's temazepam.fetch_data fetches placebo nights only: both, file by file
                fetch_telemetry_night(rec, module.data_path(path=data_dir),
                                      base_url or module.BASE_URL)
        except Exception as exc:  # network and hash errors alike: report and go on
            problems[rec.name] = f"download failed: {exc}"
    inv = take_inventory(data_dir, wanted)
    inv.corrupt += [(r, r.psg, msg) for r in wanted for name, msg in problems.items() if r.name == name]
    inv.incomplete = [(r, m) for r, m in inv.incomplete if r.name not in problems]
    inv.absent = [r for r in inv.absent if r.name not in problems]
    return inv


def fetch_telemetry_night(rec: Record, dest: Path, base_url: str) -> None:
    """Download one sleep-telemetry night (PSG and hypnogram) into ``dest`` with pooch, checking
    each file's SHA-1 against MNE's record table, as ``mne.datasets.sleep_physionet`` does for the
    nights it fetches (its ``temazepam.fetch_data`` gets only the placebo nights)."""
    import pooch

    for fname, sha1 in ((rec.psg, rec.psg_sha1), (rec.hypnogram, rec.hypnogram_sha1)):
        pooch.retrieve(url=base_url.rstrip("/") + "/" + fname, known_hash=f"sha1:{sha1}",
                       fname=fname, path=dest, progressbar=False)
