"""Pre-trained FINs: synthetic pre-training, the on-demand cache, and the FINs a fused model starts from.

Every FIN is pre-trained on :mod:`sleepbench.datasets.fin_synthetic` signals (targets computed exactly
on the same float32 samples; :func:`sleepbench.models.fin.synthetic_set`), deterministically (one
thread). :func:`pretrain_fin` gives the shipped FIN (:mod:`sleepbench.models.fin_weights`) for the
default configuration; any other configuration is pre-trained on demand and cached under
``<cache>/fin/<kind>-<key>.pt``, the key a hash of :class:`~sleepbench.models.fin.FINConfig` and
:data:`~sleepbench.models.fin.FIN_VERSION` (one process at a time, under a file lock, so parallel
fold jobs wait for one pre-training instead of repeating it). :func:`load_fin` is what FIN-ViViT
builds its feature branch from: pre-trained, or the randomly initialised control.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from sleepbench.datasets.cache import atomic_write_bytes, default_cache_dir, file_lock

from .fin import FINConfig, FINModule, FixedFrontConfig, build_fin, synthetic_set, target_stats
from .fin_weights import fin_from_bytes, load_shipped, serialize_fin

#: torch threads used for pre-training (fixed, so the weights are the same from any caller)
PRETRAIN_THREADS = 1


def evaluate_fin(module: FINModule, x: np.ndarray, y: np.ndarray) -> dict:
    """R², MAE and n of ``module``'s output against the exact features ``y`` of signals ``x``
    (R² of a multi-output FIN: the uniform mean over its outputs)."""
    from sklearn.metrics import mean_absolute_error, r2_score

    with torch.inference_mode():
        module.eval()
        device = module.head.weight.device  # a fine-tuned FIN may sit on the job's GPU
        pred = torch.cat([module(torch.from_numpy(x[i:i + 1024]).to(device))
                          for i in range(0, len(x), 1024)]).cpu().numpy()
    return {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred)), "n": int(len(y))}


def train_fin(config: FINConfig | FixedFrontConfig, progress: bool = False) -> tuple[FINModule, dict]:
    """Pre-train a FIN from scratch (deterministic for a config); returns it and its history.

    MSE on standardised targets, AdamW with cosine decay, the weights of the best held-out
    synthetic R² kept. ``config`` is a :class:`~sleepbench.models.fin.FINConfig` (raw signal, the
    default) or a :class:`~sleepbench.models.fin.FixedFrontConfig`.
    """
    from sleepbench.benchmark.training import seed_everything

    seed_everything(config.seed)
    # One thread, whoever calls: CPU kernels sum in a thread-count-dependent order, and the cached
    # weights must not depend on whether the CLI (all cores) or a fold worker built them.
    threads = torch.get_num_threads()
    torch.set_num_threads(PRETRAIN_THREADS)
    try:
        return _train_fin(config, progress)
    finally:
        torch.set_num_threads(threads)


def _train_fin(config: FINConfig | FixedFrontConfig, progress: bool) -> tuple[FINModule, dict]:
    from tqdm.auto import tqdm

    x, y = synthetic_set(config.kind, config.n_train, config.seed)
    xv, yv = synthetic_set(config.kind, config.n_valid, config.seed, start=config.n_train)
    module = build_fin(config.kind, config, seed=config.seed)
    mean, std = y.mean(0), y.std(0) + 1e-6
    module.target_mean.copy_(torch.from_numpy(mean))
    module.target_std.copy_(torch.from_numpy(std))
    yt = torch.from_numpy((y - mean) / std)
    # what precedes the learned layers has no parameters (the raw FINs' standardisation, or the
    # fixed front end): computed once for the whole set, not once per pass
    front = module.front_end(torch.from_numpy(x))
    steps = -(-len(x) // config.batch_size)
    opt = torch.optim.AdamW(module.parameters(), lr=config.default_lr(),
                            weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps * config.epochs)
    rng = np.random.default_rng(config.seed)
    best, history, t0 = None, [], time.perf_counter()
    for ep in tqdm(range(config.epochs), desc=f"FIN {config.kind}", disable=not progress, unit="pass"):
        module.train()
        order = torch.from_numpy(rng.permutation(len(x)))
        total = 0.0
        for i in range(0, len(x), config.batch_size):
            idx = order[i:i + config.batch_size]
            loss = F.mse_loss(module.head(module.embed_front({k: v[idx] for k, v in front.items()})), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        val = evaluate_fin(module, xv, yv)
        history.append({"pass": ep, "train_mse": total / len(x), "valid_r2": val["r2"]})
        if best is None or val["r2"] > best[0]:
            best = (val["r2"], {k: v.clone() for k, v in module.state_dict().items()})
    module.load_state_dict(best[1])
    info = {"config": asdict(config), "version": config.version, "history": history,
            "synthetic": evaluate_fin(module, xv, yv), "train_seconds": time.perf_counter() - t0}
    return module.eval(), info


def fin_path(config: FINConfig | FixedFrontConfig, cache_dir: Path | None = None) -> Path:
    """The cache file of a FIN pre-trained on demand: ``<cache>/fin/<kind>-<config key>.pt``."""
    return Path(cache_dir or default_cache_dir()) / "fin" / f"{config.kind}-{config.key()}.pt"


def pretrain_fin(kind: str, seed: int = 0, cache_dir: Path | None = None,
                 config: FINConfig | FixedFrontConfig | None = None, progress: bool = True) -> FINModule:
    """The pre-trained FIN of ``kind``: the shipped one when ``config`` / ``seed`` are the defaults
    (checksum verified), else loaded from the cache, or trained once and cached. The design is
    ``config``'s (default: the raw-signal :class:`~sleepbench.models.fin.FINConfig`).

    The module carries ``info`` (config, history, synthetic R²), ``sha256`` (of its file) and
    ``source`` (the file).
    """
    config = replace(config or FINConfig(), kind=kind, seed=seed)
    shipped = load_shipped(kind, config)
    if shipped is not None:
        return shipped
    path = fin_path(config, cache_dir)
    with file_lock(path.with_suffix(".lock")):
        if not path.is_file():
            module, info = train_fin(config, progress=progress)
            atomic_write_bytes(path.with_suffix(".json"),
                               json.dumps({"train_seconds": info["train_seconds"]}).encode())
            atomic_write_bytes(path, serialize_fin(module, info))
    module = fin_from_bytes(kind, path.read_bytes(), config, path)
    side = path.with_suffix(".json")
    module.info.setdefault("train_seconds",
                           json.loads(side.read_text())["train_seconds"] if side.is_file() else None)
    return module


def load_fin(kind: str, pretrained: bool = True, cache_dir: Path | None = None, seed: int = 0,
             config: FINConfig | FixedFrontConfig | None = None) -> FINModule:
    """A FIN for a fused model: pre-trained (shipped or cached) or, for the control, randomly
    initialised (``sha256`` None).

    The random control still gets the target statistics of a fixed synthetic sample, so the two
    differ only in the weights that pre-training sets.
    """
    if pretrained:
        return pretrain_fin(kind, seed=seed, cache_dir=cache_dir, config=config, progress=False)
    config = replace(config or FINConfig(), kind=kind, seed=seed)
    module = build_fin(kind, config, seed=seed)
    mean, std = target_stats(kind)
    module.target_mean.copy_(torch.from_numpy(mean))
    module.target_std.copy_(torch.from_numpy(std))
    module.sha256, module.source = None, None
    return module.eval()
