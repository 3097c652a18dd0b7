"""How well the pre-trained FINs imitate their features (``sleepbench fin report``).

R² and MAE of each FIN against the exact feature on held-out synthetic signals (from its training
record) and on every epoch of the real night SC4001E0 (EEG Fpz-Cz, default preprocessing) when a
Sleep-EDF folder is given. No FIN was trained or selected on a real night.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .features import FEATURES, compute_feature
from .fin import FINConfig
from .fin_pretrain import evaluate_fin, pretrain_fin

#: What the default FINs must reach on SC4001E0 (a check, never a target to tune on): R² of each FIN
#: (a multi-output FIN: the mean over its outputs) and of every output of a multi-output FIN.
REAL_NIGHT_R2 = {"entropy": 0.95, "bandpower": 0.90}
REAL_NIGHT_OUTPUT_R2 = 0.80


def meets_real_night_targets(kind: str, r2: float, per_output: dict | None = None) -> bool:
    """Whether a ``kind`` FIN's R² on SC4001E0 (and each output's, for a multi-output FIN) reaches
    :data:`REAL_NIGHT_R2` (and :data:`REAL_NIGHT_OUTPUT_R2`)."""
    outputs = list((per_output or {}).values()) if len(per_output or {}) > 1 else []
    return r2 >= REAL_NIGHT_R2[kind] and all(v >= REAL_NIGHT_OUTPUT_R2 for v in outputs)


def per_output_r2(module, x: np.ndarray, y: np.ndarray, kind: str) -> dict:
    """R² of each output of FIN ``module`` against the exact ``kind`` features ``y`` of ``x``."""
    from sklearn.metrics import r2_score

    with torch.inference_mode():
        module.eval()
        pred = torch.cat([module(torch.from_numpy(x[i:i + 1024])) for i in range(0, len(x), 1024)]).numpy()
    return {n: float(r2_score(y[:, i], pred[:, i])) for i, n in enumerate(FEATURES[kind][1])}


def real_epochs(real_dir: Path, cache_dir: Path | None = None) -> np.ndarray:
    """EEG Fpz-Cz epochs [n, 3000] µV of the real night SC4001E0 after default preprocessing."""
    from sleepbench.datasets.sleep_edf import SleepEDF

    ds = SleepEDF(real_dir, subjects=[0], cache_dir=cache_dir)
    if "SC4001E0" not in {r.name for r in ds.records}:
        raise FileNotFoundError(f"{real_dir}: the real night SC4001E0 is not there (or is corrupt)")
    return ds.load("SC4001E0").x[:, 0]


def fin_report(real_dir: Path | None = None, cache_dir: Path | None = None,
               kinds=tuple(FEATURES), config: FINConfig | None = None) -> dict:
    """Imitation quality per FIN: R² and MAE on held-out synthetic signals and on real epochs.

    ``real`` compares the FIN with the exact feature of every epoch of SC4001E0 (EEG Fpz-Cz,
    default preprocessing); it is absent, with the reason, when ``real_dir`` does not hold that
    night. R² of a multi-output FIN is the mean of its outputs' R² (``r2_score`` uniform average);
    ``per_output`` lists each, ``meets_targets`` says whether :data:`REAL_NIGHT_R2` and
    :data:`REAL_NIGHT_OUTPUT_R2` are reached.
    """
    real_x = None
    if real_dir is not None:
        real_x = real_epochs(Path(real_dir), cache_dir)
    report = {}
    for kind in kinds:
        module = pretrain_fin(kind, cache_dir=cache_dir, config=config, progress=True)
        entry = {"synthetic": module.info["synthetic"]}
        if real_x is not None:
            y = compute_feature(kind, real_x).astype(np.float32)
            entry["real"] = evaluate_fin(module, real_x, y)
            entry["real"]["per_output"] = per_output_r2(module, real_x, y, kind)
            entry["real"]["meets_targets"] = meets_real_night_targets(kind, entry["real"]["r2"],
                                                                      entry["real"]["per_output"])
        else:
            entry["real"] = "no real data given (--data-dir with SC4001E0)"
        seconds = module.info.get("train_seconds")
        entry["train_seconds"] = None if seconds is None else round(seconds, 1)
        report[kind] = entry
    return report
