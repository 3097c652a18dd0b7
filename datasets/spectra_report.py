"""Per-stage mean spectra of a surrogate set against the real night SC4001E0 (figure + distances).

Both sides go through the same reader and preprocessing (:class:`sleepbench.datasets.sleep_edf.SleepEDF`), so
the comparison is of what a model would see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sleepbench.errors import UserError

from .sleep_edf import SleepEDF
from .spectra import plot_stage_spectra, spectral_distance, stage_mean_spectra


def write_spectra_report(real_dir: Path, surrogate_dir: Path, out: Path,
                         channels=("EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"),
                         cache_dir: Path | None = None, max_recordings: int = 10) -> dict:
    """Write one PNG per channel (``out`` with the channel in its name) and return the per-stage
    mean |Δ log10 PSD| (decades, 0.5-30 Hz) of surrogate vs real."""
    channels = tuple(channels)
    real = SleepEDF(real_dir, channels=channels, subjects=[0], cache_dir=cache_dir)
    if "SC4001E0" not in {r.name for r in real.records}:
        raise UserError(f"{real_dir}: the real night SC4001E0 is not there (or is corrupt)")
    sur = SleepEDF(surrogate_dir, channels=channels, cache_dir=cache_dir)
    if sur.source != "surrogate":
        raise UserError(f"{surrogate_dir}: not a surrogate folder (no SURROGATE.json)")
    real_rec = real.load("SC4001E0")
    sur_recs = [sur.load(r.name) for r in sur.records[:max_recordings]]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {}
    for c, channel in enumerate(channels):
        freqs, real_spec = stage_mean_spectra(real_rec.x[:, c], real_rec.y, real.config.sfreq)
        _, sur_spec = stage_mean_spectra(np.concatenate([r.x[:, c] for r in sur_recs]),
                                         np.concatenate([r.y for r in sur_recs]), sur.config.sfreq)
        dist = spectral_distance(real_spec, sur_spec)
        path = out.with_name(f"{out.stem}-{channel.replace(' ', '_')}{out.suffix}")
        plot_stage_spectra(freqs, real_spec, sur_spec, path,
                           title=f"{channel}: per-stage mean log-PSD, surrogate vs real SC4001E0")
        summary[channel] = {"figure": str(path), "distance_decades": {k: round(v, 3) for k, v in dist.items()}}
    return summary
