"""YASA's pretrained automatic sleep staging, applied zero-shot (nothing is learned here)."""

from __future__ import annotations

import contextlib
import logging
import warnings

import numpy as np

from sleepbench.benchmark.epochs import N_CLASSES, EpochSet
from sleepbench.benchmark.registry import Entry, register

#: YASA's stage labels (its classifier's classes, as ``yasa.Hypnogram`` renames them) -> our index
YASA_STAGES = {"W": 0, "WAKE": 0, "N1": 1, "N2": 2, "N3": 3, "R": 4, "REM": 4}
EOG_CHANNEL = "EOG horizontal"


@contextlib.contextmanager
def _quiet():
    """Silence YASA's and MNE's logging and the warnings of their dependencies; one OpenMP thread."""
    import mne
    from threadpoolctl import threadpool_limits

    loggers = [logging.getLogger(n) for n in ("yasa", "mne", "lightgbm")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        # one OpenMP thread for LightGBM: the per-night work is tiny, and spin-waiting threads
        # stall badly on a busy 2-core machine
        with warnings.catch_warnings(), mne.utils.use_log_level("error"), \
                threadpool_limits(limits=1, user_api="openmp"):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lev in zip(loggers, levels):
            lg.setLevel(lev)


@register("yasa")
class YasaStaging(Entry):
    """YASA pretrained LightGBM sleep staging (Vallat & Walker 2021, eLife), zero-shot.

    ``fit`` learns nothing (``n_params() == 0``); the classifiers are those shipped inside the
    installed ``yasa`` package (``yasa/classifiers/*.joblib``; nothing is downloaded). YASA picks
    the EEG-only classifier, or EEG+EOG when ``"EOG horizontal"`` is one of ``data.channels`` and
    ``use_eog`` is true; no EMG and no age/sex metadata are passed.

    Per recording, ``predict_proba`` concatenates the recording's epochs of the first EEG channel
    (µV -> V) into one ``mne.io.RawArray`` and runs ``yasa.SleepStaging(...).predict()``; YASA cuts
    that signal into 30-s epochs again, so its epoch ``i`` is our epoch ``i``. Approximation: our
    epochs are contiguous in the original night except where unscored epochs (``Sleep stage ?``,
    movement) were dropped, and the night is wake-trimmed (±30 min around sleep by default); YASA
    therefore sees a few splices and a shorter night than lights-off to lights-on, which shifts its
    time-of-night features and its smoothed (rolling-window) features slightly around the splices.

    YASA needs at least one 30-s epoch and recommends at least 5 minutes: recordings shorter than
    ``min_minutes`` raise a ``ValueError`` naming the recording (``on_short="error"``, default) or
    get the uniform distribution (``on_short="uniform"``). Input must be sampled above 80 Hz.

    Whole-night context (``needs_whole_night = True``): YASA z-scores its features over the
    recording and uses the time elapsed in it, so a fifth of a night is not what it was built for.
    On a within-night protocol the harness therefore gives it the whole night's signal (no labels;
    it learns nothing) and scores it on the test block's epochs
    (:meth:`sleepbench.benchmark.protocol_data.ProtocolData.predict_proba`). On subject-wise protocols every
    test recording is a whole (wake-trimmed) night already.
    """

    #: zero-shot and night-normalised: predict on the whole night, score the test epochs
    needs_whole_night = True

    def __init__(self, use_eog: bool = True, min_minutes: float = 5.0, on_short: str = "error",
                 seed: int = 0):
        self.use_eog = use_eog
        self.min_minutes = min_minutes
        self.on_short = on_short
        self.seed = seed

    def fit(self, train=None, valid=None):
        """Zero-shot: nothing is learned from ``train`` or ``valid``."""
        self.fitted_ = True
        return self

    def n_params(self) -> int | None:
        return 0

    @staticmethod
    def eeg_index(channels) -> int:
        for i, ch in enumerate(channels):
            if str(ch).upper().startswith("EEG"):
                return i
        raise ValueError(f"yasa needs an EEG channel; data has {list(channels)}")

    def predict_recording(self, x: np.ndarray, sfreq: float, channels) -> np.ndarray:
        """Probabilities [n_epochs, 5] for one recording ``x`` [n_epochs, n_channels, n_samples] µV."""
        import mne
        import yasa

        channels = list(channels)
        n_epochs, _, n_samples = x.shape
        if sfreq <= 80:
            raise ValueError(f"yasa needs a sampling rate above 80 Hz, data is at {sfreq} Hz")
        picks, names, types = [self.eeg_index(channels)], [channels[self.eeg_index(channels)]], ["eeg"]
        if self.use_eog and EOG_CHANNEL in channels:
            picks.append(channels.index(EOG_CHANNEL))
            names.append(EOG_CHANNEL)
            types.append("eog")
        signal = x[:, picks, :].transpose(1, 0, 2).reshape(len(picks), -1).astype(np.float64) * 1e-6
        with _quiet():
            info = mne.create_info(names, sfreq, types)
            raw = mne.io.RawArray(signal, info, verbose="error")
            sls = yasa.SleepStaging(raw, eeg_name=names[0],
                                    eog_name=names[1] if len(names) > 1 else None)
            hyp = sls.predict()
        proba = hyp.proba
        out = np.zeros((len(proba), N_CLASSES))
        for col in proba.columns:
            key = str(col).upper()
            if key not in YASA_STAGES:
                raise ValueError(f"unexpected YASA stage column {col!r}")
            out[:, YASA_STAGES[key]] += proba[col].to_numpy(dtype=np.float64)
        # YASA's epoch count is floor(duration / 30 s); ours are whole 30-s epochs, so they match
        epoch_sec = n_samples / sfreq
        expected = n_epochs if abs(epoch_sec - 30.0) < 1e-6 else int(n_epochs * n_samples // (30 * sfreq))
        if len(out) != expected or expected != n_epochs:
            raise ValueError(f"yasa returned {len(out)} epochs for {n_epochs} epochs of {epoch_sec:g} s; "
                             "the yasa entry needs 30-s epochs")
        return out / out.sum(axis=1, keepdims=True)

    def predict_proba(self, data: EpochSet) -> np.ndarray:
        if self.on_short not in ("error", "uniform"):
            raise ValueError(f"on_short must be 'error' or 'uniform', not {self.on_short!r}")
        parts = []
        for rec in data.recordings:
            n = len(rec.y) if rec.y is not None else len(rec.x)
            minutes = n * rec.x.shape[2] / data.sfreq / 60 if n else 0.0
            if minutes < self.min_minutes or n == 0:
                if self.on_short == "error":
                    raise ValueError(
                        f"yasa: recording {rec.name!r} has {minutes:.1f} min of epochs; YASA needs at "
                        f"least {self.min_minutes:g} min (pass on_short='uniform' to get uniform "
                        "probabilities for short recordings instead)")
                parts.append(np.full((n, N_CLASSES), 1.0 / N_CLASSES))
                continue
            parts.append(self.predict_recording(rec.x, data.sfreq, data.channels))
        return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES))
