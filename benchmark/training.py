"""Training recipe and loop shared by deep entries.

Every deep module maps raw signals ``x`` [batch, seq_len, n_channels, n_samples] (µV) to logits
[batch, seq_len, 5]; ``seq_len`` = 1 for single-epoch models. Sequences are windows of consecutive
epochs of one recording. Early stopping keeps the weights of the best validation macro-F1
(scikit-learn's ``f1_score``), so the test subjects are never looked at while training.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from sklearn.metrics import f1_score

from .epochs import N_CLASSES, EpochSet
from .registry import Entry


@dataclass
class TrainRecipe:
    """Optimiser, schedule, early stopping and budget of one deep entry."""

    max_epochs: int = 20          # passes over the training windows
    batch_size: int = 64          # windows per batch
    seq_len: int = 1              # consecutive epochs per window
    lr: float = 1e-3
    weight_decay: float = 1e-2    # AdamW
    patience: int = 4             # passes without a better validation macro-F1 before stopping
    class_weight: bool = True     # inverse-frequency cross-entropy weights (N1 is rare)
    max_train_seconds: float | None = None  # wall-clock budget; stops after the current pass
    steps_per_epoch: int | None = None      # cap on batches per pass (CPU budget)
    grad_clip: float = 1.0
    schedule: str = "cosine"      # "cosine" or "constant"
    gain_augment: float | None = None  # scale each training window by a log-uniform factor in [1/a, a]


def seed_everything(seed: int) -> None:
    """Fix every source of randomness on CPU (tests rely on identical reruns)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)


def windows(set_: EpochSet, seq_len: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Start indices (into the concatenated arrays) of windows of ``seq_len`` consecutive epochs.

    With ``rng`` (training) each recording gets a random phase; without it (inference) windows tile
    every recording and the last one is aligned to its end so every epoch is covered.
    """
    starts = []
    offsets = set_.offsets
    for a, b in zip(offsets[:-1], offsets[1:]):
        n = b - a
        if n < seq_len:
            continue
        phase = int(rng.integers(seq_len)) if rng is not None else 0
        s = list(range(a + min(phase, n - seq_len), b - seq_len + 1, seq_len))
        if rng is None and s[-1] != b - seq_len:
            s.append(b - seq_len)
        starts += s
    return np.asarray(starts, dtype=np.int64)


def _batch(x: np.ndarray, starts: np.ndarray, seq_len: int) -> torch.Tensor:
    idx = starts[:, None] + np.arange(seq_len)[None]
    return torch.from_numpy(x[idx])


def class_weights(y: np.ndarray) -> torch.Tensor:
    counts = np.bincount(y, minlength=N_CLASSES).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / N_CLASSES, 0.0)
    return torch.tensor(w / w[counts > 0].mean(), dtype=torch.float32)


@torch.no_grad()
def predict_module(module: torch.nn.Module, data: EpochSet, seq_len: int,
                   batch_size: int = 256) -> np.ndarray:
    """Class probabilities [n_epochs, 5] for every epoch of ``data``."""
    module.eval()
    proba = np.zeros((len(data), N_CLASSES), dtype=np.float32)
    x = data.x
    short = [(a, b) for a, b in zip(data.offsets[:-1], data.offsets[1:]) if b - a < seq_len]
    starts = windows(data, seq_len)
    for i in range(0, len(starts), batch_size):
        s = starts[i:i + batch_size]
        p = torch.softmax(module(_batch(x, s, seq_len)), dim=-1).numpy()
        for j, start in enumerate(s):
            proba[start:start + seq_len] = p[j]  # later (end-aligned) windows overwrite overlaps
    for a, b in short:  # recordings shorter than a window: one window of their own length
        proba[a:b] = torch.softmax(module(torch.from_numpy(x[a:b][None])), dim=-1).numpy()[0]
    return proba


def fit_module(module: torch.nn.Module, train: EpochSet, valid: EpochSet, recipe: TrainRecipe,
               seed: int) -> dict:
    """Train ``module`` in place; returns the history (per-pass loss and validation macro-F1)."""
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(module.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    n_windows = len(windows(train, recipe.seq_len, rng))
    steps = -(-n_windows // recipe.batch_size)
    if recipe.steps_per_epoch:
        steps = min(steps, recipe.steps_per_epoch)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps * recipe.max_epochs))
             if recipe.schedule == "cosine" else None)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights(train.y) if recipe.class_weight else None)
    x, y = train.x, torch.from_numpy(train.y)
    best, best_f1, stale, history = None, -1.0, 0, []
    t0 = time.perf_counter()
    for ep in range(recipe.max_epochs):
        module.train()
        starts = rng.permutation(windows(train, recipe.seq_len, rng))[: steps * recipe.batch_size]
        total = 0.0
        for i in range(0, len(starts), recipe.batch_size):
            s = starts[i:i + recipe.batch_size]
            idx = torch.from_numpy(s[:, None] + np.arange(recipe.seq_len)[None])
            xb = _batch(x, s, recipe.seq_len)
            if recipe.gain_augment:  # amplitude differs between subjects and amplifiers
                log_a = np.log(recipe.gain_augment)
                gain = np.exp(rng.uniform(-log_a, log_a, len(s))).astype(np.float32)
                xb = xb * torch.from_numpy(gain)[:, None, None, None]
            logits = module(xb)
            loss = loss_fn(logits.reshape(-1, N_CLASSES), y[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), recipe.grad_clip)
            opt.step()
            if sched:
                sched.step()
            total += float(loss.detach()) * len(s)
        val_f1 = (f1_score(valid.y, predict_module(module, valid, recipe.seq_len).argmax(1),
                           average="macro", labels=range(N_CLASSES), zero_division=0)
                  if len(valid) else -float(total))
        history.append({"epoch": ep, "loss": total / max(len(starts), 1), "val_macro_f1": val_f1})
        if val_f1 > best_f1:
            best, best_f1, stale = copy.deepcopy(module.state_dict()), val_f1, 0
        else:
            stale += 1
        if stale >= recipe.patience or (recipe.max_train_seconds
                                        and time.perf_counter() - t0 > recipe.max_train_seconds):
            break
    if best is not None:
        module.load_state_dict(best)
    return {"passes": history, "best_val_macro_f1": best_f1}


class DeepEntry(Entry):
    """A deep entry: a ``torch.nn.Module`` plus a :class:`TrainRecipe`.

    Subclasses implement ``build_module(n_channels, n_samples)`` and take their hyper-parameters
    (including recipe fields such as ``max_epochs``) in ``__init__``; :meth:`recipe` picks the
    recipe fields out of the entry's parameters.
    """

    kind = "deep"

    def build_module(self, n_channels: int, n_samples: int) -> torch.nn.Module:  # pragma: no cover
        raise NotImplementedError

    def recipe(self) -> TrainRecipe:
        params = self.get_params()
        return TrainRecipe(**{f.name: params[f.name] for f in fields(TrainRecipe) if f.name in params})

    def fit(self, train: EpochSet, valid: EpochSet):
        seed_everything(self.seed)
        self.module_ = self.build_module(train.x.shape[1], train.x.shape[2])
        self.history_ = fit_module(self.module_, train, valid, self.recipe(), self.seed)
        return self

    def predict_proba(self, data: EpochSet) -> np.ndarray:
        return predict_module(self.module_, data, self.recipe().seq_len)

    def n_params(self) -> int | None:
        module = getattr(self, "module_", None)
        return None if module is None else int(sum(p.numel() for p in module.parameters()))

    def recipe_dict(self) -> dict:
        return asdict(self.recipe())
