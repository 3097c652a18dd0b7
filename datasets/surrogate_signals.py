"""Rule-based surrogate polysomnography that looks like a Sleep-EDF sleep-cassette night.

Given a hypnogram (one stage code per 30-s epoch) :func:`synthesize_night` returns the seven
signals of a sleep-cassette PSG file, in the same physical units and sampling rates:
``EEG Fpz-Cz``, ``EEG Pz-Oz`` and ``EOG horizontal`` at 100 Hz (µV) and ``Resp oro-nasal``,
``EMG submental``, ``Temp rectal`` and ``Event marker`` at 1 Hz.

How a night is built
--------------------
* **Background** (all 100-Hz channels): per-epoch Gaussian noise shaped in the frequency domain by a
  stage-specific aperiodic ``1/f`` spectrum with a knee, ``10**b / (1 + (f/f_knee)**chi)``, a
  shallow high-frequency (beta / muscle) term, a theta bump and white electrode noise.  Epoch blocks
  are 2 s longer than an epoch and cross-faded with power-preserving ramps, so there are no seams.
* **Rhythms and graphoelements** after the AASM manual (Iber et al. 2007): posterior alpha with a
  waxing/waning envelope (W; slowed "drowsy" alpha in N1 and REM), spindles and K-complexes (N2),
  vertex sharp waves and slow rolling eye movements (N1), slow waves of > 75 µV peak-to-peak at
  0.5-2 Hz covering 20-70 % of an N3 epoch, sawtooth trains and rapid eye movements (REM), blinks
  and saccades (W).  Transients are added in the time domain.
* **Transitions**: at a stage change, with probability :data:`TRANSITION_PROB`, 20-50 % of one of
  the two epochs (at the boundary side) carries the neighbouring stage's features, cross-faded, so
  that stages overlap as in real scoring.
* **Subject variation** via :class:`SubjectProfile`; every feature's amplitude also varies per epoch.

The level and shape constants were tuned so that the per-stage mean log10 Welch spectra of a night
synthesised from the hypnogram of SC4001E0 (with :meth:`SubjectProfile.reference`) match the real
recording's (see ``sleepbench.datasets.spectra``); only these derived numbers are stored, no real data.

References
----------
Iber C, Ancoli-Israel S, Chesson AL, Quan SF (2007). The AASM Manual for the Scoring of Sleep and
Associated Events: Rules, Terminology and Technical Specifications. American Academy of Sleep
Medicine, Westchester, IL.
Kemp B, Zwinderman AH, Tuk B, Kamphuisen HAC, Oberye JJL (2000). Analysis of a sleep-dependent
neuronal feedback loop: the slow-wave microcontinuity of the EEG. IEEE Trans Biomed Eng 47(9).
Donoghue T et al. (2020). Parameterizing neural power spectra into periodic and aperiodic
components. Nat Neurosci 23 (the knee model of the aperiodic background).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import sawtooth

STAGE_CODES = {"W": 0, "N1": 1, "N2": 2, "N3": 3, "REM": 4, "?": 5, "MOVE": 6}
STAGE_NAMES = tuple(STAGE_CODES)
EEG_RATE = 100.0
SLOW_RATE = 1.0
EPOCH_SEC = 30.0

FAST_CHANNELS = ("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal")
SLOW_CHANNELS = ("Resp oro-nasal", "EMG submental", "Temp rectal", "Event marker")

#: Physical ranges of the real files' headers; every output is clipped into them.
PHYSICAL_RANGES = {
    "EEG Fpz-Cz": (-192.0, 192.0),
    "EEG Pz-Oz": (-197.0, 196.0),
    "EOG horizontal": (-1009.0, 1009.0),
    "Resp oro-nasal": (-2048.0, 2047.0),
    "EMG submental": (-5.0, 5.0),
    "Temp rectal": (34.0, 40.0),
    "Event marker": (-2047.0, 2048.0),
}

#: Probability that a stage change makes one of its two epochs transitional.
TRANSITION_PROB = 0.4
#: Range of the fraction of a transitional epoch that carries the neighbouring stage.
TRANSITION_FRACTION = (0.2, 0.5)

_FS = EEG_RATE
_E = int(EPOCH_SEC * EEG_RATE)  # samples per epoch at 100 Hz
_PAD = 200  # block overlap (2 s) for seamless background
_M = _E + _PAD
_FREQS = np.fft.rfftfreq(_M, 1.0 / _FS)
_RAMP_SEC = 2.0  # width of the cross-fade inside a transitional epoch
_W, _N1, _N2, _N3, _REM, _UNK, _MOVE = range(7)

# --- Background spectra --------------------------------------------------------------------------
# Rows: W, N1, N2, N3, REM, ?, MOVE.  Columns: log10 low-frequency level b (µV²/Hz), knee f_k (Hz),
# exponent chi, log10 level of the shallow 1/f high-frequency (beta/muscle) term at 20 Hz, log10
# height of a theta bump centred at _THETA_HZ.  Fitted (least squares on log10 PSD, a few rounds of
# multiplicative correction with the transients in place) against SC4001E0, see module docstring.
# The EEG knee is held at 2 Hz so that exponents compare across stages: steepest in N3, flattest in
# N1/REM.  "?" copies W (plus 4x noise, below); MOVE is set by hand (large broadband artefact).
# The calibration night's W epochs lie within 30 min of sleep and are mostly drowsy: their alpha
# is weaker than the slowed alpha of N1 (see _ALPHA_RMS), and eye/body movements carry much of the
# low-frequency power (hence the small W level on Fpz-Cz).
_TEXTURE = {
    "EEG Fpz-Cz": np.array([
        [1.65, 2.00, 3.32, -0.41, 0.52],
        [1.23, 2.00, 2.30, -0.94, -0.01],
        [1.91, 2.00, 2.81, -4.00, 0.15],
        [2.34, 2.00, 3.31, -4.00, 0.50],
        [1.36, 2.00, 2.31, -1.79, 0.28],
        [1.65, 2.00, 3.32, -0.41, 0.52],
        [3.30, 2.00, 1.60, 1.00, -4.00],
    ]),
    "EEG Pz-Oz": np.array([
        [0.83, 2.00, 2.15, -0.83, -0.76],
        [1.16, 2.00, 2.23, -4.00, -4.00],
        [1.47, 2.00, 2.76, -4.00, 0.20],
        [1.72, 2.00, 3.10, -4.00, 0.62],
        [1.13, 2.00, 2.39, -4.00, -0.13],
        [0.83, 2.00, 2.15, -0.83, -0.76],
        [3.30, 2.00, 1.60, 1.00, -4.00],
    ]),
    "EOG horizontal": np.array([
        [2.43, 0.50, 4.50, 0.25, -4.00],
        [2.21, 0.50, 4.50, -0.23, -4.00],
        [1.35, 1.49, 2.74, -0.53, -0.32],
        [1.11, 3.88, 4.50, -0.54, -0.02],
        [1.96, 0.73, 3.17, -0.55, -0.52],
        [2.43, 0.50, 4.50, 0.25, -4.00],
        [3.80, 1.00, 1.60, 1.50, -4.00],
    ]),
}
_THETA_HZ = np.array([6.0, 6.0, 6.0, 5.0, 6.0, 6.0, 6.0])
_THETA_SD_HZ = 1.5
_HP_HZ = 0.3  # first-order high-pass of the recorder (keeps the background free of drift)

# --- Alpha ---------------------------------------------------------------------------------------
#: RMS (µV) of the alpha process per stage (rows) and channel (Fpz-Cz, Pz-Oz, EOG).
_ALPHA_RMS = np.array([
    [0.97, 2.28, 0.00],
    [2.36, 3.16, 0.42],
    [0.00, 0.62, 0.00],
    [0.96, 0.97, 0.00],
    [0.83, 2.34, 0.36],
    [0.97, 2.28, 0.00],
    [0.00, 0.00, 0.00],
])
#: Alpha frequency relative to the subject's peak: slowed, fragmented alpha in drowsiness and REM.
_ALPHA_SHIFT_HZ = np.array([0.0, -1.1, -0.5, -0.5, -0.4, 0.0, 0.0])
#: Extra slowing in sleep per Hz of waking peak above 8.7 Hz (a fast waking alpha slows more), so
#: that sleep alpha stays below the spindle band whatever the subject.
_ALPHA_SLOWING = np.array([0.0, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0])
_ALPHA_SD_HZ = 0.8

# --- Transient rates (events per 30-s epoch) by stage: W, N1, N2, N3, REM, ?, MOVE -------------------
_RATES = {
    "spindle": np.array([0.0, 0.2, 3.0, 1.0, 0.0, 0.0, 0.0]),
    "kcomplex": np.array([0.0, 0.05, 0.8, 0.4, 0.0, 0.0, 0.0]),
    "vertex": np.array([0.0, 0.8, 0.15, 0.0, 0.0, 0.0, 0.0]),
    "sawtooth": np.array([0.0, 0.0, 0.0, 0.0, 0.8, 0.0, 0.0]),
    "blink": np.array([5.0, 0.5, 0.0, 0.0, 0.0, 5.0, 0.0]),
    "saccade": np.array([5.0, 0.2, 0.0, 0.0, 0.0, 5.0, 0.0]),
    "rem_burst": np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
    "sem": np.array([1.5, 0.8, 0.1, 0.0, 1.0, 1.5, 0.0]),
    "artefact": np.array([0.3, 0.05, 0.0, 0.0, 0.0, 0.5, 3.0]),
}
#: Channel gains (Fpz-Cz, Pz-Oz, EOG) of each transient; frontal ones leak into the EOG and vice versa.
_CHANNEL_GAINS = {
    "spindle": (1.0, 0.6, 0.1),
    "kcomplex": (1.0, 0.4, 0.4),
    "vertex": (1.0, -0.4, 0.0),  # vertex negativity at Cz reads positive on Fpz-Cz
    "sawtooth": (1.0, 0.3, 0.1),
    "blink": (0.5, 0.0, 1.0),
    "saccade": (0.1, 0.0, 1.0),
    "sem": (0.15, 0.0, 1.0),
    "artefact": (1.0, 1.0, 2.0),  # body-movement / sweat swings, seen on every channel
    "slow_wave": (1.0, 0.6, 0.45),
}
#: Fraction of an epoch covered by slow waves: N3 per AASM >= 20 %; a little in N2 (< 20 %).
_SW_FRACTION = {_N2: (0.0, 0.12), _N3: (0.2, 0.7)}
_SW_HALF_AMP_UV = 50.0  # typical half peak-to-peak on Fpz-Cz at gain 1
_SW_MIN_HALF_AMP_UV = 45.0  # AASM: > 75 µV peak-to-peak, whatever the subject gain

# --- 1-Hz channels -------------------------------------------------------------------------------
_EMG_UV = np.array([2.9, 2.0, 1.9, 1.85, 0.32, 2.9, 4.0])  # rectified submental EMG level by stage
_RESP_AMP = np.array([330.0, 380.0, 360.0, 400.0, 310.0, 330.0, 600.0])
_RESP_IRREGULARITY = np.array([0.15, 0.10, 0.05, 0.03, 0.15, 0.15, 0.30])  # rate jitter
_TEMP_NOISE = 0.012


@dataclass(frozen=True)
class SubjectProfile:
    """Per-subject parameters of the surrogate signals.

    Attributes
    ----------
    gain : float
        Overall EEG amplitude factor (~0.75-1.3); scales background and graphoelements.
    alpha_peak_hz : float
        Posterior dominant (alpha) frequency, 8.5-11.5 Hz.
    spindle_hz : float
        Mean sleep-spindle frequency, 11.5-15 Hz.
    noise_uv : float
        RMS of the white electrode/amplifier noise on every 100-Hz channel (µV).
    slope_offset : float
        Added to the aperiodic exponent of both EEG channels (steeper or flatter spectra).
    alpha_gain : float
        Strength of the subject's alpha rhythm relative to the calibrated one.
    spindle_rate : float
        Spindle density relative to the calibrated one.
    eog_gain : float
        Amplitude factor of the EOG (eye-movement potentials, background).
    emg_gain : float
        Factor on the submental EMG level.
    resp_hz : float
        Mean breathing rate (Hz).
    temp_mean : float
        Mean rectal temperature over the night (degC).
    """

    gain: float
    alpha_peak_hz: float
    spindle_hz: float
    noise_uv: float
    slope_offset: float = 0.0
    alpha_gain: float = 1.0
    spindle_rate: float = 1.0
    eog_gain: float = 1.0
    emg_gain: float = 1.0
    resp_hz: float = 0.25
    temp_mean: float = 36.7

    @classmethod
    def reference(cls) -> "SubjectProfile":
        """The profile the constants were calibrated with (fits SC4001E0)."""
        return cls(gain=1.0, alpha_peak_hz=8.7, spindle_hz=12.7, noise_uv=0.6)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "SubjectProfile":
        """Draw a plausible subject around the reference profile."""
        u = rng.uniform
        return cls(
            gain=float(u(0.75, 1.3)),
            alpha_peak_hz=float(u(8.5, 11.5)),
            spindle_hz=float(u(11.5, 15.0)),
            noise_uv=float(u(0.3, 1.2)),
            slope_offset=float(np.clip(rng.normal(0.0, 0.15), -0.3, 0.3)),
            alpha_gain=float(np.exp(rng.normal(0.0, 0.35))),
            spindle_rate=float(u(0.6, 1.5)),
            eog_gain=float(u(0.7, 1.4)),
            emg_gain=float(u(0.6, 1.5)),
            resp_hz=float(u(0.2, 0.3)),
            temp_mean=float(u(36.55, 37.0)),
        )


@dataclass(frozen=True)
class TransitionPlan:
    """Which epochs carry part of a neighbouring stage.

    Attributes
    ----------
    secondary : np.ndarray
        [n_epochs] stage code carried in part of the epoch, -1 where the epoch is pure.
    at_end : np.ndarray
        [n_epochs] bool, True when the foreign part is at the epoch's end (else its start).
    fraction : np.ndarray
        [n_epochs] fraction of the epoch carrying the secondary stage (0 where pure).
    """

    secondary: np.ndarray
    at_end: np.ndarray
    fraction: np.ndarray

    def weights(self, rows: np.ndarray, rate: float) -> np.ndarray:
        """Weight of the secondary stage over each epoch in ``rows``, [len(rows), EPOCH_SEC*rate]."""
        n = int(round(EPOCH_SEC * rate))
        tau = (np.arange(n) + 0.5) / rate
        tau = np.where(self.at_end[rows, None], EPOCH_SEC - tau, tau)
        x = np.clip((tau - self.fraction[rows, None] * EPOCH_SEC) / _RAMP_SEC + 0.5, 0.0, 1.0)
        return 0.5 * (1.0 + np.cos(np.pi * x))


def plan_transitions(stages: np.ndarray, rng: np.random.Generator) -> TransitionPlan:
    """Choose transitional epochs at stage changes (at most one foreign part per epoch)."""
    n = len(stages)
    secondary = np.full(n, -1, dtype=np.int64)
    at_end = np.zeros(n, dtype=bool)
    fraction = np.zeros(n)
    bounds = np.nonzero(stages[1:] != stages[:-1])[0]
    take = rng.random(len(bounds)) < TRANSITION_PROB
    later = rng.random(len(bounds)) < 0.5
    frac = rng.uniform(*TRANSITION_FRACTION, size=len(bounds))
    for b, t, lat, fr in zip(bounds, take, later, frac):
        e, other = (b + 1, b) if lat else (b, b + 1)
        if t and secondary[e] < 0:
            secondary[e], at_end[e], fraction[e] = stages[other], not lat, fr
    return TransitionPlan(secondary, at_end, fraction)


# --- Background --------------------------------------------------------------------------------------


def _texture_components(channel: str, profile: SubjectProfile) -> np.ndarray:
    """[4, 7, n_freq] PSD components (aperiodic, high-frequency, theta, noise) per stage (µV²/Hz)."""
    p = _TEXTURE[channel]
    f = _FREQS[None, :]
    eeg = channel.startswith("EEG")
    chi = p[:, 2:3] + (profile.slope_offset if eeg else 0.0)
    scale = (profile.gain if eeg else profile.eog_gain) ** 2
    hp = f**2 / (f**2 + _HP_HZ**2)
    aper = 10 ** p[:, 0:1] / (1.0 + (f / p[:, 1:2]) ** chi) * hp * scale
    hf = 10 ** p[:, 3:4] * (np.maximum(f, 2.0) / 20.0) ** -1.0 * hp * scale
    theta = 10 ** p[:, 4:5] * np.exp(-0.5 * ((f - _THETA_HZ[:, None]) / _THETA_SD_HZ) ** 2) * scale
    noise = np.full((7, 1), profile.noise_uv**2 / (_FS / 2)) * np.where(
        np.arange(7)[:, None] == _UNK, 16.0, 1.0)  # "?" epochs: extra noise
    comps = np.stack(np.broadcast_arrays(aper, hf, theta, noise * np.ones_like(f)))
    comps[:, :, 0] = 0.0
    return comps


def _colored_blocks(psd: np.ndarray, rng: np.random.Generator, band: slice = slice(None)) -> np.ndarray:
    """Gaussian blocks [n, _M] whose one-sided PSD (µV²/Hz) on ``_FREQS[band]`` is ``psd``."""
    # single precision halves the cost of the dominant step; the signals need no more
    z = rng.standard_normal(psd.shape + (2,), dtype=np.float32)  # real, imaginary parts
    z *= np.sqrt(psd * (_FS * _M / 4.0)).astype(np.float32)[..., None]
    if band == slice(None):
        spec = z.view(np.complex64)[..., 0]
    else:
        spec = np.zeros((psd.shape[0], len(_FREQS)), dtype=np.complex64)
        spec[:, band] = z.view(np.complex64)[..., 0]
    return np.fft.irfft(spec, n=_M, axis=1)


_UP = np.sin(0.5 * np.pi * (np.arange(_PAD) + 0.5) / _PAD)
_DOWN = np.cos(0.5 * np.pi * (np.arange(_PAD) + 0.5) / _PAD)


def _overlap(blocks: np.ndarray, tails: np.ndarray) -> np.ndarray:
    """Epoch segments [n, _E]: each block cross-faded (power-preserving) into the previous tail."""
    out = blocks[:, :_E].copy()
    out[1:, :_PAD] = _UP * blocks[1:, :_PAD] + _DOWN * tails[:-1]
    return out


def _stage_process(rows_psd, rng, plan, stages, tr, w2, band=slice(None)):
    """Seamless per-epoch process whose transitional epochs cross-fade into the secondary stage.

    ``rows_psd(stage_codes) -> [n, n_band]`` gives per-epoch PSDs; ``tr`` are transitional epochs
    and ``w2`` their secondary-stage weights.
    """
    primary = _colored_blocks(rows_psd(stages), rng, band)
    if len(tr) == 0:
        return _overlap(primary, primary[:, _E:])
    second = _colored_blocks(rows_psd(plan.secondary[tr]), rng, band)
    tails = primary[:, _E:].copy()
    end = plan.at_end[tr]
    tails[tr[end]] = second[end, _E:]  # the next epoch continues the secondary stage
    out = _overlap(primary, tails)
    seg2 = second[:, :_E].copy()
    head = tr > 0
    seg2[head, :_PAD] = _UP * second[head, :_PAD] + _DOWN * tails[tr[head] - 1]
    out[tr] = np.sqrt(1.0 - w2) * out[tr] + np.sqrt(w2) * seg2
    return out


def _mixed(values: np.ndarray, stages, plan, tr, w2) -> np.ndarray:
    """Per-sample value of a per-stage table, [n, width of w2], cross-faded in transitional epochs."""
    out = np.repeat(values[stages][:, None], w2.shape[1], axis=1)
    if len(tr):
        out[tr] = values[stages[tr]][:, None] * (1.0 - w2) + values[plan.secondary[tr]][:, None] * w2
    return out


# --- Transients --------------------------------------------------------------------------------------
#: Typical amplitudes (µV, peak; K-complex: negative peak) at gain 1 on the channel with gain 1.
_AMP_UV = {"spindle": 10.0, "kcomplex": 80.0, "vertex": 40.0, "sawtooth": 25.0, "blink": 150.0,
           "saccade": 170.0, "rem": 180.0, "sem": 150.0, "artefact": 60.0}


class _Night:
    """Shared state of one synthesis: stages, transition plan and the random generator."""

    def __init__(self, stages: np.ndarray, profile: SubjectProfile, rng: np.random.Generator):
        self.stages, self.profile, self.rng = stages, profile, rng
        self.n = len(stages)
        self.n_samples = self.n * _E
        self.plan = plan_transitions(stages, rng)
        self.tr = np.nonzero(self.plan.secondary >= 0)[0]
        self.w2 = self.plan.weights(self.tr, _FS)
        self.rowmap = np.full(self.n, -1)
        self.rowmap[self.tr] = np.arange(len(self.tr))

    def mixed(self, values: np.ndarray) -> np.ndarray:
        return _mixed(np.asarray(values, dtype=float), self.stages, self.plan, self.tr, self.w2)

    def secondary_weight(self, ep: np.ndarray, pos: np.ndarray) -> np.ndarray:
        r = self.rowmap[ep]
        out = np.zeros(len(ep))
        ok = r >= 0
        out[ok] = self.w2[r[ok], pos[ok]]
        return out

    def onsets(self, rates: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Global sample onsets of events occurring at per-stage ``rates`` (per epoch).

        Counts are Poisson with a per-epoch gamma-distributed rate; candidates in the part of a
        transitional epoch that belongs to the other stage are thinned by the stage weights.
        """
        rng, tr = self.rng, self.tr
        lam = rates[self.stages] * scale * rng.gamma(4.0, 0.25, self.n)
        ep1 = np.repeat(np.arange(self.n), rng.poisson(lam))
        ep2 = np.repeat(tr, rng.poisson(rates[self.plan.secondary[tr]] * scale))
        ep = np.concatenate([ep1, ep2])
        pos = rng.integers(0, _E, len(ep))
        w = self.secondary_weight(ep, pos)
        w = np.where(np.arange(len(ep)) < len(ep1), 1.0 - w, w)
        keep = rng.random(len(ep)) < w
        return np.sort(ep[keep] * _E + pos[keep])

    def render(self, events: list, channel: int) -> np.ndarray:
        """Sum on the night's 100-Hz timeline of ``(kind, onsets, waves [n_events, L])`` events,
        each scaled by its kind's gain for ``channel`` (one pass over the night, not one per kind)."""
        idx, wts = [], []
        for kind, onsets, waves in events:
            g = _CHANNEL_GAINS[kind][channel]
            if g and len(onsets):
                i = (onsets[:, None] + np.arange(waves.shape[1])).ravel()
                ok = i < self.n_samples
                idx.append(i[ok])
                wts.append(g * waves.ravel()[ok])
        if not idx:
            return np.zeros(self.n_samples)
        return np.bincount(np.concatenate(idx), weights=np.concatenate(wts), minlength=self.n_samples)


def _gauss(t, centre, sd):
    return np.exp(-0.5 * ((t - centre) / sd) ** 2)


def _spindles(k, rng, prof):
    """Waxing-waning 0.5-2 s bursts at ~``spindle_hz`` (AASM: 11-16 Hz, >= 0.5 s)."""
    t = np.arange(200) / _FS
    d = rng.uniform(0.5, 2.0, (k, 1))
    f = prof.spindle_hz + rng.normal(0.0, 0.35, (k, 1))
    amp = _AMP_UV["spindle"] * prof.gain * rng.lognormal(0.0, 0.3, (k, 1))
    env = np.where(t < d, np.sin(np.pi * t / d) ** 2, 0.0)
    return amp * env * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (k, 1)))


def _kcomplexes(k, rng, prof):
    """Sharp negative wave then slower positive one, >= 0.5 s, > 75 µV peak-to-peak frontally."""
    t = np.arange(150) / _FS
    neg = _AMP_UV["kcomplex"] * prof.gain * rng.uniform(0.7, 1.4, (k, 1))
    t1 = 0.2 + rng.uniform(0, 0.05, (k, 1))
    s1 = rng.uniform(0.07, 0.1, (k, 1))
    t2 = t1 + rng.uniform(0.3, 0.45, (k, 1))
    return -neg * _gauss(t, t1, s1) + neg * rng.uniform(0.5, 0.8, (k, 1)) * _gauss(
        t, t2, rng.uniform(0.15, 0.22, (k, 1)))


def _vertex_waves(k, rng, prof):
    """Sharp (< 0.5 s) vertex waves of N1 with a small after-wave."""
    t = np.arange(50) / _FS
    sd = rng.uniform(0.04, 0.07, (k, 1))
    amp = _AMP_UV["vertex"] * prof.gain * rng.uniform(0.6, 1.4, (k, 1))
    return amp * (_gauss(t, 0.2, sd) - 0.3 * _gauss(t, 0.2 + 2.5 * sd, 1.5 * sd))


def _sawtooth_trains(k, rng, prof):
    """Trains (1-3 s) of triangular 2-6 Hz waves of REM sleep."""
    t = np.arange(300) / _FS
    d = rng.uniform(1.0, 3.0, (k, 1))
    f = rng.uniform(2.0, 4.5, (k, 1))
    edge = np.clip(np.minimum(t, d - t) / 0.25, 0.0, 1.0)
    env = np.where(t < d, np.sin(0.5 * np.pi * edge) ** 2, 0.0)
    amp = _AMP_UV["sawtooth"] * prof.gain * rng.uniform(0.6, 1.4, (k, 1))
    return amp * env * sawtooth(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (k, 1)), width=0.2)


def _blinks(k, rng, prof):
    """Monophasic blink potentials (~0.2-0.4 s) with the recorder's high-pass undershoot."""
    t = np.arange(120) / _FS
    sd = rng.uniform(0.08, 0.14, (k, 1))
    amp = _AMP_UV["blink"] * prof.eog_gain * rng.uniform(0.5, 1.6, (k, 1))
    return amp * (_gauss(t, 0.35, sd) - 0.2 * _gauss(t, 0.35 + 3 * sd, 3 * sd))


def _saccades(k, rng, prof, amp_uv, rise=(0.03, 0.08)):
    """Fast step-like eye-movement potentials decaying with the 0.5-Hz high-pass (tau 0.32 s)."""
    t = np.arange(150) / _FS
    tau = rng.uniform(*rise, (k, 1))
    sign = np.where(rng.random((k, 1)) < 0.5, -1.0, 1.0)
    amp = amp_uv * prof.eog_gain * rng.uniform(0.4, 1.6, (k, 1)) * sign
    return amp * (1.0 - np.exp(-t / tau)) * np.exp(-t / 0.32)


def _slow_eye_movements(k, rng, prof):
    """Slow rolling eye movements of drowsiness/N1: smooth 1.5-4 s excursions."""
    t = np.arange(400) / _FS
    d = rng.uniform(1.5, 4.0, (k, 1))
    sign = np.where(rng.random((k, 1)) < 0.5, -1.0, 1.0)
    amp = _AMP_UV["sem"] * prof.eog_gain * rng.uniform(0.5, 1.5, (k, 1)) * sign
    return amp * np.where(t < d, np.sin(np.pi * t / d), 0.0)


def _artefacts(k, rng, prof):
    """Slow, large biphasic swings of body movement or sweating (1-4 s), mostly in wake."""
    t = np.arange(400) / _FS
    d = rng.uniform(1.0, 4.0, (k, 1))
    amp = _AMP_UV["artefact"] * rng.uniform(0.5, 1.8, (k, 1)) * np.where(rng.random((k, 1)) < 0.5, -1, 1)
    return amp * np.where(t < d, np.sin(2 * np.pi * t / d) * np.sin(np.pi * t / d), 0.0)


def _rem_bursts(night: _Night) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and waves of rapid eye movements: bursts of 2-6 sharp, alternating deflections."""
    rng = night.rng
    bursts = night.onsets(_RATES["rem_burst"])
    k = 2 + np.minimum(rng.poisson(2.0, len(bursts)), 4)
    start = np.repeat(bursts, k)
    first = np.repeat(np.cumsum(k) - k, k)
    gaps = (rng.uniform(0.2, 0.8, len(start)) * _FS).astype(np.int64)
    gaps[first] = 0  # offsets restart at each burst
    off = np.cumsum(gaps)
    off -= np.repeat(off[np.cumsum(k) - k], k)
    waves = _saccades(len(start), rng, night.profile, _AMP_UV["rem"], rise=(0.04, 0.1))
    # conjugate movements alternate left/right within a burst
    alt = np.where((np.arange(len(start)) - first) % 2 == 0, 1.0, -1.0)
    waves = np.abs(waves) * (alt * np.sign(rng.standard_normal(len(bursts))).repeat(k))[:, None]
    return start + off, waves


def _slow_waves(night: _Night) -> np.ndarray:
    """Slow waves (0.5-2 Hz, > 75 µV p-p) covering a per-epoch fraction of N3 (and some N2).

    Each epoch's coverage is split into 1-3 non-overlapping bouts inside the epoch, so the AASM
    20 % criterion holds for pure N3 epochs.  Only epochs with slow waves are synthesised.
    Returns the Fpz-Cz waveform, [n, _E].
    """
    rng, prof, tr = night.rng, night.profile, night.tr
    margin, smooth = 15, 25  # samples kept free at epoch edges; 0.25-s soft bout edges

    def gate(stage_codes):
        """Slow-wave gate [len(stage_codes), _E] of epochs scored ``stage_codes``."""
        lo = np.zeros(len(stage_codes))
        hi = np.zeros(len(stage_codes))
        for st, (a, b) in _SW_FRACTION.items():
            lo[stage_codes == st], hi[stage_codes == st] = a, b
        p = rng.uniform(lo, hi)
        nb = rng.integers(1, 4, len(stage_codes))
        out = np.zeros((len(stage_codes), _E))
        rows = np.nonzero(p > 0)[0]
        if len(rows) == 0:
            return out
        k = nb[rows]
        rep = np.repeat(np.arange(len(rows)), k)
        j = np.arange(len(rep)) - np.repeat(np.cumsum(k) - k, k)
        sub = _E / k[rep]
        length = p[rows][rep] * sub
        start = j * sub + margin + rng.random(len(rep)) * (sub - length - 2 * margin)
        edges = rep * (_E + 1) + np.concatenate([start, start + length]).astype(np.int64).reshape(2, -1)
        d = np.bincount(edges.ravel(), weights=np.repeat([1.0, -1.0], len(rep)),
                        minlength=len(rows) * (_E + 1)).reshape(len(rows), _E + 1)
        g = np.minimum(np.cumsum(d[:, :_E], axis=1), 1.0)
        c = np.concatenate([np.zeros((len(rows), 1)), np.cumsum(g, axis=1)], axis=1)
        g[:, smooth // 2:_E - smooth + smooth // 2 + 1] = (c[:, smooth:] - c[:, :-smooth]) / smooth
        out[rows] = g
        return out

    g = gate(night.stages)
    if len(tr):
        g[tr] = g[tr] * (1.0 - night.w2) + gate(night.plan.secondary[tr]) * night.w2
    rows = np.nonzero(g.any(axis=1))[0]
    if not len(rows):  # a (short) night without N2/N3: no slow waves to draw
        return g
    half = np.maximum(_SW_HALF_AMP_UV * prof.gain * rng.lognormal(0.0, 0.2, len(rows)),
                      _SW_MIN_HALF_AMP_UV)
    secs = int(EPOCH_SEC)
    f = np.clip(rng.lognormal(0.0, 0.35, (len(rows), secs)), 0.6, 2.0)  # smooth 0.5-2 Hz spectrum
    phase = 2 * np.pi * np.cumsum(np.repeat(f, int(_FS), axis=1), axis=1) / _FS
    knots = (half[:, None] * rng.uniform(1.0, 1.3, (len(rows), secs))).ravel()
    amp = np.interp(np.arange(len(rows) * _E), np.arange(len(knots)) * _FS + _FS / 2, knots)
    g[rows] *= amp.reshape(len(rows), _E) * np.sin(phase)
    return g


# --- Synthesis ---------------------------------------------------------------------------------------

_ALPHA_BAND = slice(int(np.searchsorted(_FREQS, 3.0)), int(np.searchsorted(_FREQS, 16.0)))
#: Per-epoch log-normal spread (natural log) of aperiodic, high-frequency and theta power.
_TEXTURE_SPREAD = np.array([0.25, 0.4, 0.4, 0.0])


def _fast_channels(night: _Night) -> dict[str, np.ndarray]:
    rng, prof, n = night.rng, night.profile, night.n
    plan, stages, tr, w2 = night.plan, night.stages, night.tr, night.w2
    out = {}
    for ch in FAST_CHANNELS:  # aperiodic background, beta/muscle, theta and electrode noise
        comps = _texture_components(ch, prof)

        def rows_psd(codes, comps=comps):
            fac = rng.lognormal(0.0, 1.0, (4, len(codes))) ** _TEXTURE_SPREAD[:, None]
            return np.einsum("krf,kr->rf", comps[:, codes], fac)

        out[ch] = _stage_process(rows_psd, rng, plan, stages, tr, w2)

    # alpha: one process shared by the channels, centred per epoch on the stage's (slowed) peak
    fb = _FREQS[_ALPHA_BAND][None, :]

    def alpha_psd(codes):
        fa = (prof.alpha_peak_hz + _ALPHA_SHIFT_HZ[codes] + rng.normal(0.0, 0.35, len(codes))
              - _ALPHA_SLOWING[codes] * max(prof.alpha_peak_hz - 8.7, 0.0))
        return _gauss(fb, fa[:, None], _ALPHA_SD_HZ) / (np.sqrt(2 * np.pi) * _ALPHA_SD_HZ)

    alpha = _stage_process(alpha_psd, rng, plan, stages, tr, w2, _ALPHA_BAND)
    t10 = np.arange(n * int(EPOCH_SEC) * 10) / 10.0  # waxing/waning envelope, 10-Hz knots
    ph = rng.uniform(0, 2 * np.pi, 2)
    env = np.maximum(1 + 0.45 * np.sin(2 * np.pi * 0.13 * t10 + ph[0])
                     + 0.3 * np.sin(2 * np.pi * 0.31 * t10 + ph[1]), 0.05)
    alpha *= np.repeat(env, 10).reshape(n, _E) * rng.lognormal(0.0, 0.4, (n, 1))
    alpha *= prof.alpha_gain * prof.gain
    for c, ch in enumerate(FAST_CHANNELS):
        if _ALPHA_RMS[:, c].any():
            out[ch] += night.mixed(_ALPHA_RMS[:, c]) * alpha
    del alpha

    sw = _slow_waves(night)
    for ch, g in zip(FAST_CHANNELS, _CHANNEL_GAINS["slow_wave"]):
        out[ch] += g * sw
    del sw

    events = []

    def add(kind, onsets, waves):
        events.append((kind, onsets, waves))

    kc = night.onsets(_RATES["kcomplex"])
    sp = night.onsets(_RATES["spindle"], prof.spindle_rate)
    sp = np.sort(np.concatenate([sp, kc[rng.random(len(kc)) < 0.3] + 70]))  # KC-triggered spindles
    add("spindle", sp, _spindles(len(sp), rng, prof))
    add("kcomplex", kc, _kcomplexes(len(kc), rng, prof))
    for kind, make in (("vertex", _vertex_waves), ("sawtooth", _sawtooth_trains),
                       ("blink", _blinks), ("sem", _slow_eye_movements), ("artefact", _artefacts)):
        on = night.onsets(_RATES[kind])
        add(kind, on, make(len(on), rng, prof))
    on = night.onsets(_RATES["saccade"])
    add("saccade", on, _saccades(len(on), rng, prof, _AMP_UV["saccade"]))
    add("saccade", *_rem_bursts(night))
    return {ch: np.clip(out[ch].reshape(-1) + night.render(events, c), *PHYSICAL_RANGES[ch])
            for c, ch in enumerate(FAST_CHANNELS)}


def _smooth_knots(rng, n_out, every, sd):
    """Slow Gaussian wander: N(0, sd) knots every ``every`` samples, linearly interpolated."""
    k = rng.normal(0.0, sd, n_out // every + 2)
    return np.interp(np.arange(n_out), np.arange(len(k)) * every, k)


def _slow_channels(night: _Night) -> dict[str, np.ndarray]:
    rng, prof, n, tr = night.rng, night.profile, night.n, night.tr
    per = int(EPOCH_SEC * SLOW_RATE)
    n1 = n * per
    w2 = night.plan.weights(tr, SLOW_RATE)

    def mixed(values):
        return _mixed(np.asarray(values, float), night.stages, night.plan, tr, w2).reshape(-1)

    # submental EMG: rectified, 0.7-Hz low-passed envelope; lowest in REM (atonia), twitches in REM
    emg = mixed(_EMG_UV) * prof.emg_gain * np.exp(_smooth_knots(rng, n1, 120, 0.25))
    emg *= np.repeat(rng.lognormal(0.0, 0.12, n), per)
    rem = mixed((np.arange(7) == _REM).astype(float))
    emg += rng.normal(0.0, 0.08, n1) + (rng.random(n1) < 0.05 * rem) * rng.uniform(0.3, 1.2, n1)
    emg = np.convolve(emg, [0.25, 0.5, 0.25], mode="same")

    # oro-nasal airflow: ~0.25-Hz breathing, regular in N3, irregular in W/REM (kept < 0.5 Hz)
    rate = prof.resp_hz * mixed(np.array([1.1, 1.0, 0.97, 0.95, 1.08, 1.1, 1.2]))
    rate *= 1 + mixed(_RESP_IRREGULARITY) * np.convolve(rng.standard_normal(n1), np.ones(5) / 2.2, "same")
    phase = 2 * np.pi * np.cumsum(np.clip(rate, 0.08, 0.45)) / SLOW_RATE
    amp = mixed(_RESP_AMP) * np.exp(_smooth_knots(rng, n1, 20, 0.2))
    resp = amp * np.sin(phase + rng.uniform(0, 2 * np.pi)) + 120 + _smooth_knots(rng, n1, 300, 60)
    resp += rng.normal(0.0, 15.0, n1)

    # rectal temperature: slow decline through the night plus wander
    hours = np.arange(n1) / 3600.0
    temp = prof.temp_mean - 0.03 * (hours - hours.mean()) + _smooth_knots(rng, n1, 1800, 0.06)
    temp += rng.normal(0.0, _TEMP_NOISE, n1)

    # event marker: flat, with rare 2-s holds (about one per two hours)
    marker = np.zeros(n1)
    for s in rng.integers(0, max(n1 - 1, 1), rng.poisson(n / 240.0)):
        marker[s:s + 2] = 100.0

    out = {"Resp oro-nasal": resp, "EMG submental": emg, "Temp rectal": temp, "Event marker": marker}
    return {ch: np.clip(x, *PHYSICAL_RANGES[ch]) for ch, x in out.items()}


def synthesize_night_with_meta(stages: np.ndarray, profile: SubjectProfile,
                               rng: np.random.Generator) -> tuple[dict[str, np.ndarray], TransitionPlan]:
    """:func:`synthesize_night` that also returns the :class:`TransitionPlan` it used."""
    stages = np.asarray(stages)
    if stages.ndim != 1 or not np.issubdtype(stages.dtype, np.integer):
        raise ValueError("stages must be a 1-D integer array of STAGE_CODES values")
    if stages.size and (stages.min() < 0 or stages.max() > 6):
        raise ValueError("stage codes must be in 0..6")
    night = _Night(stages.astype(np.int64), profile, rng)
    signals = _fast_channels(night) if night.n else {ch: np.zeros(0) for ch in FAST_CHANNELS}
    signals.update(_slow_channels(night) if night.n else {ch: np.zeros(0) for ch in SLOW_CHANNELS})
    return {ch: np.ascontiguousarray(signals[ch], dtype=np.float64)
            for ch in FAST_CHANNELS + SLOW_CHANNELS}, night.plan


def synthesize_night(stages: np.ndarray, profile: SubjectProfile,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Synthesise the seven signals of a Sleep-EDF cassette night for a hypnogram.

    Parameters
    ----------
    stages : np.ndarray
        Integer array [n_epochs] of :data:`STAGE_CODES` values, one per 30-s epoch.
    profile : SubjectProfile
        Subject parameters (:meth:`SubjectProfile.draw` or :meth:`SubjectProfile.reference`).
    rng : np.random.Generator
        Source of randomness; the same stages, profile and seed give identical arrays.

    Returns
    -------
    dict[str, np.ndarray]
        float64 arrays in physical units, clipped into :data:`PHYSICAL_RANGES`:
        ``EEG Fpz-Cz``, ``EEG Pz-Oz``, ``EOG horizontal`` at 100 Hz (n_epochs*3000 samples, µV);
        ``Resp oro-nasal``, ``EMG submental`` (µV), ``Temp rectal`` (degC), ``Event marker`` at
        1 Hz (n_epochs*30 samples).

    Notes
    -----
    Stage features follow the AASM scoring manual (Iber et al. 2007), see the module docstring.
    """
    return synthesize_night_with_meta(stages, profile, rng)[0]
