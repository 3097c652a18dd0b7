"""Stage sequences for surrogate nights: real hypnograms, or a transition model fitted to them.

Sequences use R&K codes so a surrogate hypnogram carries the same annotation texts as a real one
(``Sleep stage 3`` and ``4`` both exist; ``?`` and ``Movement time`` too).

The fallback model is a time-inhomogeneous first-order Markov chain: one 8x8 transition matrix
for each of ``N_BUCKETS`` consecutive stretches of the night (sleep period +- 30 min of wake), so
N3 concentrates early and REM late, as in real nights. Only the fitted numbers are committed
(``hypnogram_model.json``); refit with ``python -m datasets.hypnogram_model DIR``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .sleep_edf import UNSCORED, epoch_labels, trim_wake

#: R&K annotation texts, in code order 0..7.
RK_TEXTS = ("Sleep stage W", "Sleep stage 1", "Sleep stage 2", "Sleep stage 3", "Sleep stage 4",
            "Sleep stage R", "Sleep stage ?", "Movement time")
RK_CODE = {t: i for i, t in enumerate(RK_TEXTS)}
#: R&K code -> the code of ``sleepbench.datasets.surrogate_signals.STAGE_CODES`` (W N1 N2 N3 REM ? MOVE).
RK_TO_SIGNAL = np.array([0, 1, 2, 3, 3, 4, 5, 6])
#: R&K code -> AASM class 0..4 as the reader labels it, or UNSCORED.
RK_TO_AASM = np.array([0, 1, 2, 3, 3, 4, UNSCORED, UNSCORED])
N_BUCKETS = 8
MODEL_PATH = Path(__file__).with_name("hypnogram_model.json")


def read_rk_sequence(hypnogram: Path, epoch_sec: float = 30.0) -> np.ndarray:
    """R&K codes of every 30-s epoch a hypnogram file scores (``Sleep stage ?`` for gaps)."""
    import mne

    annot = mne.read_annotations(hypnogram)
    end = float(np.max(annot.onset + annot.duration))
    _, codes = epoch_labels(annot.onset, annot.duration, annot.description, end, epoch_sec,
                            mapping=RK_CODE)
    return np.where(codes == UNSCORED, RK_CODE["Sleep stage ?"], codes).astype(np.int8)


def crop_night(codes: np.ndarray, n_epochs: int | None = None, margin: int = 60) -> np.ndarray:
    """The sleep period with ``margin`` epochs of context, optionally cut to ``n_epochs``."""
    kept = trim_wake(RK_TO_AASM[codes], margin)
    start = kept.start
    stop = kept.stop if n_epochs is None else min(len(codes), start + n_epochs)
    return codes[start:stop]


def fit(hypnograms: list[Path], prior: float = 0.5) -> dict:
    """Fit the bucketed transition matrices to real hypnograms (counts + a Dirichlet prior on the
    transitions seen anywhere, so the chain never makes a move no scorer made)."""
    seqs = [crop_night(read_rk_sequence(p)) for p in hypnograms]
    k = len(RK_TEXTS)
    counts = np.zeros((N_BUCKETS, k, k))
    for seq in seqs:
        bucket = (np.arange(len(seq) - 1) * N_BUCKETS) // (len(seq) - 1)
        np.add.at(counts, (bucket, seq[:-1], seq[1:]), 1)
    seen = counts.sum(0) > 0
    smoothed = counts + prior * seen
    rows = smoothed.sum(-1, keepdims=True)
    trans = np.divide(smoothed, rows, out=np.eye(k)[None].repeat(N_BUCKETS, 0), where=rows > 0)
    lengths = [len(s) for s in seqs]
    return {"codes": list(RK_TEXTS), "n_buckets": N_BUCKETS, "n_nights": len(seqs),
            "sources": sorted(p.name for p in hypnograms),
            "night_epochs_mean": float(np.mean(lengths)), "night_epochs_sd": float(np.std(lengths)),
            "transitions": np.round(trans, 6).tolist()}


def load_model(path: Path = MODEL_PATH) -> dict:
    return json.loads(Path(path).read_text())


def sample(n_epochs: int, rng: np.random.Generator, model: dict | None = None) -> np.ndarray:
    """Draw an R&K code sequence of ``n_epochs`` from the fitted chain, starting awake."""
    model = model or load_model()
    trans = np.asarray(model["transitions"])
    cum = np.cumsum(trans, axis=-1)
    seq = np.zeros(n_epochs, dtype=np.int8)
    u = rng.random(n_epochs)
    for i in range(1, n_epochs):
        bucket = min((i - 1) * trans.shape[0] // max(n_epochs - 1, 1), trans.shape[0] - 1)
        seq[i] = min(np.searchsorted(cum[bucket, seq[i - 1]], u[i], side="right"), trans.shape[1] - 1)
    return seq


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Fit the surrogate stage-transition model.")
    ap.add_argument("hypnogram_dir", type=Path, help="folder with *-Hypnogram.edf files")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    paths = sorted(args.hypnogram_dir.rglob("*-Hypnogram.edf"))
    if not paths:
        raise SystemExit(f"{args.hypnogram_dir}: no *-Hypnogram.edf files")
    args.out.write_text(json.dumps(fit(paths), indent=1) + "\n")
    print(f"fitted on {len(paths)} hypnograms -> {args.out}")


if __name__ == "__main__":
    main()
