"""Training recipe and loop shared by deep entries.

Every deep module maps raw signals ``x`` [batch, seq_len, n_channels, n_samples] (µV) to logits
[batch, seq_len, 5]; ``seq_len`` = 1 for single-epoch models. Sequences are windows of consecutive
epochs of one recording. Early stopping keeps the weights of the best validation macro-F1
(scikit-learn's ``f1_score``), so the test subjects are never looked at while training; without
validation data there is no early stopping (:class:`PassTracker`). Budgets are counted in passes
over the training epochs and in optimiser steps, never in seconds.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields

import numpy as np
import torch
from sklearn.metrics import f1_score

from .device import autocast, current_device, to_device
from .epochs import N_CLASSES, EpochSet
from .registry import Entry


@dataclass
class TrainRecipe:
    """Optimiser, schedule, early stopping and budget of one deep entry."""

    max_passes: int = 20          # passes over the training windows
    batch_size: int = 64          # windows per batch
    seq_len: int = 1              # consecutive epochs per window
    lr: float = 1e-3
    weight_decay: float = 1e-2    # AdamW
    patience: int = 4             # passes without a better validation macro-F1 before stopping
    class_weight: bool = True     # inverse-frequency cross-entropy weights (N1 is rare)
    steps_per_pass: int | None = None      # cap on batches per pass (CPU budget)
    grad_clip: float = 1.0
    schedule: str = "cosine"      # "cosine" or "constant"


def seed_everything(seed: int) -> None:
    """Fix every source of randomness on CPU (tests rely on identical reruns); on CUDA, the
    deterministic algorithms torch offers (``warn_only``: an op without one still runs)."""
    torch.manual_seed(seed)  # seeds every CUDA device too
    np.random.seed(seed % 2**32)
    torch.use_deterministic_algorithms(True, warn_only=True)


def pass_steps(lengths, batch_size: int, seq_len: int, rule: str = "windows", cap: int | None = None) -> int:
    """Optimiser steps of one pass over recordings of ``lengths`` epochs, at most ``cap`` (a
    recipe's ``steps_per_pass``; None: no cap).

    ``rule="windows"`` (:func:`fit_module`): windows of ``seq_len`` epochs drawn from every
    recording, ``batch_size`` windows a step (a recording shorter than ``seq_len`` counted as one
    window). ``rule="every-window"``: every whole window of ``seq_len`` epochs at stride 1 (a
    recording shorter than ``seq_len`` gives none), ``batch_size`` windows a step (SleePyCo's
    stage 2). ``rule="recordings"`` (a stateful loop, TinySleepNet's): ``batch_size`` recordings walked
    side by side, ``seq_len`` epochs a step, so a group costs its longest recording; the groups follow
    ``lengths``' order (the loop's own order is a permutation, so this is exact for recordings of one
    length and close otherwise).
    """
    lengths = [int(n) for n in lengths if n > 0]
    if rule == "recordings":
        steps = sum(steps for steps, _ in _recording_groups(lengths, batch_size, seq_len))
    elif rule == "windows":
        steps = -(-sum(n // seq_len + (1 if n < seq_len else 0) for n in lengths) // batch_size)
    elif rule == "every-window":
        steps = -(-sum(max(0, n - seq_len + 1) for n in lengths) // batch_size)
    else:
        raise ValueError(f"rule {rule!r}: 'windows', 'every-window' or 'recordings'")
    return min(steps, int(cap)) if cap else steps


def pass_batches(lengths, batch_size: int, seq_len: int, rule: str = "windows", cap: int | None = None) -> float:
    """Work of one pass in full batches: :func:`pass_steps` with each step weighted by the share of
    ``batch_size`` rows it fills (what the projection multiplies by a full batch's step time).

    A stateful loop (``rule="recordings"``) walks a group of fewer than ``batch_size`` recordings
    (the last group, or every group when the fold has fewer nights than a batch) in steps of as many
    rows as the group has recordings, and a step's time grows in proportion to its rows (TinySleepNet
    at one thread: 1.2 s with 6 rows, 3.4 s with 15). ``rule="windows"``: every step but the last is
    full, so this is :func:`pass_steps`.
    """
    lengths = [int(n) for n in lengths if n > 0]
    if rule != "recordings":
        return float(pass_steps(lengths, batch_size, seq_len, rule, cap))
    work, left = 0.0, int(cap) if cap else None
    for steps, rows in _recording_groups(lengths, batch_size, seq_len):
        if left is not None:
            steps = min(steps, left)
            left -= steps
        work += steps * rows / batch_size
    return work


def _recording_groups(lengths, batch_size: int, seq_len: int):
    """A stateful loop's groups of ``batch_size`` recordings in ``lengths``' order: (steps, rows)
    each, a group walked ``seq_len`` epochs a step to the end of its longest recording."""
    for i in range(0, len(lengths), batch_size):
        group = lengths[i:i + batch_size]
        yield -(-max(group) // seq_len), len(group)


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


def _batch(x: np.ndarray, starts: np.ndarray, seq_len: int,
           device: torch.device | None = None) -> torch.Tensor:
    """Windows [len(starts), seq_len, ...] of ``x``, on ``device`` (host arrays are copied there
    one batch at a time, through pinned memory on CUDA; on CPU the tensor shares the host array)."""
    idx = starts[:, None] + np.arange(seq_len)[None]
    t = torch.from_numpy(x[idx])
    return t if device is None else to_device(t, device)


#: Fraction of the device's free memory that a fold's training and validation signals may fill to be
#: copied there once, so that batches are indexed on the device instead of copied from host memory
#: one at a time (``SLEEPBENCH_DEVICE_DATA_FRACTION`` overrides it; 0 turns the copy off). A
#: Sleep-EDF-20 fold is ~42,000 epochs x 3,000 float32 samples per channel: 0.5 GB.
DEVICE_DATA_FRACTION = 0.5


def keep_on_device(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of signals go to ``device`` once (True) or batch by batch (False).

    On CUDA: when they fit in :data:`DEVICE_DATA_FRACTION` of the free memory that
    ``torch.cuda.mem_get_info`` reports (jobs sharing a GPU each see what the others left). Never on
    the CPU, where the host array already is the device's memory.
    """
    import os

    if device.type != "cuda":
        return False
    fraction = float(os.environ.get("SLEEPBENCH_DEVICE_DATA_FRACTION", DEVICE_DATA_FRACTION))
    free, _ = torch.cuda.mem_get_info(device)
    return fraction > 0 and nbytes <= fraction * free


class SignalSource:
    """The windows of one set's signals, as batches on ``device``.

    ``resident=True``: the whole array [n_epochs, n_channels, n_samples] is copied to the device
    once and each batch is indexed there; ``False``: each batch is gathered from the host array and
    copied (through pinned memory on CUDA). Both give the same windows, in the same order, with the
    same bytes (tested on the CPU, where both paths can be forced).
    """

    def __init__(self, x: np.ndarray, device: torch.device, resident: bool):
        self.device, self.resident = device, bool(resident)
        self.x = to_device(torch.from_numpy(x), device) if self.resident else x

    def windows(self, starts: np.ndarray, seq_len: int) -> torch.Tensor:
        """Windows [len(starts), seq_len, n_channels, n_samples] starting at ``starts``."""
        if not self.resident:
            return _batch(self.x, starts, seq_len, self.device)
        idx = torch.from_numpy(starts[:, None] + np.arange(seq_len)[None]).to(self.device)
        return self.x[idx]


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of ``module``'s first parameter or buffer (CPU for a module without either)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def class_weights(y: np.ndarray) -> torch.Tensor:
    counts = np.bincount(y, minlength=N_CLASSES).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / N_CLASSES, 0.0)
    return torch.tensor(w / w[counts > 0].mean(), dtype=torch.float32)


@torch.no_grad()
def predict_module(module: torch.nn.Module, data: EpochSet, seq_len: int,
                   batch_size: int = 256, source: SignalSource | None = None) -> np.ndarray:
    """Class probabilities [n_epochs, 5] for every epoch of ``data`` (its signals from ``source``
    when given, e.g. a copy already on the device; else copied batch by batch)."""
    module.eval()
    device = module_device(module)
    proba = np.zeros((len(data), N_CLASSES), dtype=np.float32)
    x = data.x
    short = [(a, b) for a, b in zip(data.offsets[:-1], data.offsets[1:]) if b - a < seq_len]
    starts = windows(data, seq_len)
    source = source if source is not None else SignalSource(x, device, resident=False)
    for i in range(0, len(starts), batch_size):
        s = starts[i:i + batch_size]
        with autocast(device):
            logits = module(source.windows(s, seq_len))
        p = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        for j, start in enumerate(s):
            proba[start:start + seq_len] = p[j]  # later (end-aligned) windows overwrite overlaps
    for a, b in short:  # recordings shorter than a window: one window of their own length
        xb = to_device(torch.from_numpy(x[a:b][None]), device)
        with autocast(device):
            logits = module(xb)
        proba[a:b] = torch.softmax(logits.float(), dim=-1).cpu().numpy()[0]
    return proba


def validation_macro_f1(valid: EpochSet, proba: np.ndarray) -> float:
    """Macro-F1 over the five classes (scikit-learn), the criterion of early stopping."""
    return float(f1_score(valid.y, proba.argmax(1), average="macro", labels=range(N_CLASSES),
                          zero_division=0))


class BestPass:
    """Best-pass selection with patience on one validation score: the weights of ``module`` at the
    best score so far are kept, and training stops after ``patience`` passes without a better one.

    ``higher_is_better``: True for a score such as macro-F1 (:class:`PassTracker`), False for a loss
    (SleePyCo's contrastive pre-training). A NaN score is never the best.
    """

    def __init__(self, module: torch.nn.Module, patience: int, higher_is_better: bool = True):
        self.module, self.patience = module, int(patience)
        self.sign = 1.0 if higher_is_better else -1.0
        self.best_state, self.best, self.best_pass, self.stale = None, None, 0, 0

    def update(self, n: int, score: float) -> bool:
        """Pass ``n`` (numbered from 1) scored ``score``; returns True when training should stop."""
        if self.sign * score > (-float("inf") if self.best is None else self.sign * self.best):
            self.best_state = copy.deepcopy(self.module.state_dict())
            self.best, self.best_pass, self.stale = float(score), n, 0
        else:
            self.stale += 1
        return self.stale >= self.patience

    def restore(self) -> None:
        """Load the best pass's weights into ``module`` (nothing when no pass was scored)."""
        if self.best_state is not None:
            self.module.load_state_dict(self.best_state)
        self.best_state = None


class PassTracker:
    """Per-pass history, early stopping and best-weights selection of one training run.

    Shared by every deep entry's training loop (:func:`fit_module`, and entries with a loop of
    their own, such as ``tinysleepnet``'s stateful one), so that every entry is stopped by the
    same rule and reports its training the same way.

    * With validation data: after each pass the validation macro-F1 is computed; the weights of the
      best pass are kept, and training stops after ``recipe.patience`` passes without a better one
      (or after ``recipe.max_passes`` passes).
    * Without validation data (a fold whose validation subjects are all missing or unusable): there
      is nothing to select on, and stopping on the training loss would select on the data being
      fitted. So early stopping is off: the model trains the full ``max_passes`` passes and the
      final weights are kept. The report says ``"validation": "none"`` so tables can flag it.
    """

    def __init__(self, module: torch.nn.Module, recipe: TrainRecipe, steps_per_pass: int,
                 validation: bool):
        self.module, self.recipe = module, recipe
        self.steps_per_pass, self.validation = int(steps_per_pass), bool(validation)
        self.history: list[dict] = []
        self.selection = BestPass(module, recipe.patience)
        self.best_pass, self.steps_run = 0, 0

    def end_pass(self, loss: float, val_macro_f1: float | None, steps: int | None = None) -> bool:
        """Record a finished pass (mean training loss, validation macro-F1 or None, optimiser steps
        taken, default ``steps_per_pass``); returns True when training should stop."""
        n = len(self.history) + 1  # passes are numbered from 1
        self.steps_run += self.steps_per_pass if steps is None else int(steps)
        self.history.append({"pass": n, "loss": float(loss),
                             "val_macro_f1": None if val_macro_f1 is None else float(val_macro_f1)})
        if self.validation:
            stop = self.selection.update(n, val_macro_f1)
            self.best_pass = self.selection.best_pass
            return stop
        self.best_pass = n  # no selection: the last pass is the model
        return False

    def finish(self) -> dict:
        """Load the selected weights into the module; return the training report.

        ``{"budget": {"max_passes", "steps_per_pass", "batch_size", "seq_len"}, "passes_run",
        "best_pass", "validation": "valid" | "none", "steps_run", "history": [{"pass", "loss",
        "val_macro_f1"}, ...]}``. ``steps_per_pass`` is the number of optimiser steps in one pass
        as trained (it follows from the training set's size, the batch and the sequence length);
        passes are numbered from 1.
        """
        self.selection.restore()
        r = self.recipe
        return {"budget": {"max_passes": int(r.max_passes), "steps_per_pass": self.steps_per_pass,
                           "batch_size": int(r.batch_size), "seq_len": int(r.seq_len)},
                "passes_run": len(self.history), "best_pass": int(self.best_pass),
                "validation": "valid" if self.validation else "none",
                "steps_run": int(self.steps_run),
                "history": list(self.history)}


def fit_module(module: torch.nn.Module, train: EpochSet, valid: EpochSet, recipe: TrainRecipe,
               seed: int, resident: bool | None = None) -> dict:
    """Train ``module`` in place; returns :meth:`PassTracker.finish`'s training report.

    One pass draws every training window once (a random phase per recording, see :func:`windows`),
    so a pass shows the model every training epoch once, in ``ceil(n_windows / batch_size)``
    steps; ``recipe.steps_per_pass`` (None by default) can only cap that number.

    ``resident``: whether the training and validation signals are copied to the module's device
    once (:class:`SignalSource`); None decides by :func:`keep_on_device`. Forward passes and the
    loss run under the current precision (:func:`sleepbench.benchmark.device.autocast`).
    """
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    # a module may ask for optimiser groups (e.g. FIN-ViViT: its FINs at a lower lr, no decay)
    groups = (module.param_groups(recipe.lr, recipe.weight_decay) if hasattr(module, "param_groups")
              else module.parameters())
    # ... and its optimiser class (default AdamW; vivit-origin: the origin's Adamax)
    opt_class = getattr(module, "optimizer_class", torch.optim.AdamW)
    opt = opt_class(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    n_windows = len(windows(train, recipe.seq_len, rng))
    steps = -(-n_windows // recipe.batch_size)
    if recipe.steps_per_pass:
        steps = min(steps, recipe.steps_per_pass)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps * recipe.max_passes))
             if recipe.schedule == "cosine" else None)
    device = module_device(module)  # the caller placed the module (DeepEntry.fit: the job's device)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=class_weights(train.y).to(device) if recipe.class_weight else None)
    # labels are small: on the device once; signals too when the fold fits (keep_on_device)
    y = to_device(torch.from_numpy(train.y), device)
    if resident is None:
        resident = keep_on_device(train.x.nbytes + valid.x.nbytes, device)
    source, valid_source = (SignalSource(s.x, device, resident) for s in (train, valid))
    tracker = PassTracker(module, recipe, steps_per_pass=steps, validation=len(valid) > 0)
    for ep in range(recipe.max_passes):
        module.train()
        starts = rng.permutation(windows(train, recipe.seq_len, rng))[: steps * recipe.batch_size]
        total = 0.0
        for i in range(0, len(starts), recipe.batch_size):
            s = starts[i:i + recipe.batch_size]
            idx = to_device(torch.from_numpy(s[:, None] + np.arange(recipe.seq_len)[None]), device)
            xb = source.windows(s, recipe.seq_len)
            with autocast(device):
                logits = module(xb)
            loss = loss_fn(logits.float().reshape(-1, N_CLASSES), y[idx].reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), recipe.grad_clip)
            opt.step()
            if sched:
                sched.step()
            total += float(loss.detach()) * len(s)
        val_f1 = (validation_macro_f1(valid, predict_module(module, valid, recipe.seq_len,
                                                            source=valid_source))
                  if len(valid) else None)
        if tracker.end_pass(total / max(len(starts), 1), val_f1,
                            steps=-(-len(starts) // recipe.batch_size)):
            break
    return tracker.finish()


class DeepEntry(Entry):
    """A deep entry: a ``torch.nn.Module`` plus a :class:`TrainRecipe`.

    Subclasses implement ``build_module(n_channels, n_samples)`` and take their hyper-parameters
    (including recipe fields such as ``max_passes``) in ``__init__``; :meth:`recipe` picks the
    recipe fields out of the entry's parameters.
    """

    kind = "deep"
    #: how a pass is cut into optimiser steps (:func:`pass_steps`): "windows" (:func:`fit_module`),
    #: or "recordings" for a loop that walks ``batch_size`` recordings side by side (cost plans use it)
    pass_steps_rule = "windows"
    #: what of this entry's training the cost projection (``run --cost``) does not count, said in its
    #: notes (empty: everything is counted)
    cost_left_out = ""
    #: the epoch length (s) the entry's layers are built for, checked by :meth:`fit` (None: any):
    #: the published stagers set their kernels and pools in samples of a 30-s epoch
    epoch_seconds: float | None = None

    def __init__(self, seed: int = 0, **recipe):
        """Store ``seed`` and any :class:`TrainRecipe` field given (``max_passes``, ``lr``, ...).

        The way for a subclass to hand its recipe arguments on::

            def __init__(self, n_filters=16, max_passes=10, lr=1e-3, seed=0):
                self.n_filters = n_filters
                super().__init__(seed=seed, max_passes=max_passes, lr=lr)

        Every argument becomes an attribute of the same name (scikit-learn's ``get_params`` reads
        them back); list each one in the subclass's own signature, since that signature is what
        ``get_params``, suites and ``sleepbench run`` see. Recipe fields not listed keep
        :class:`TrainRecipe`'s defaults.
        """
        names = {f.name for f in fields(TrainRecipe)}
        unknown = sorted(set(recipe) - names)
        if unknown:
            raise TypeError(f"{type(self).__name__}: DeepEntry.__init__ takes seed and the training "
                            f"recipe's fields {sorted(names)}; got unknown {unknown}. Store the "
                            "model's own parameters as attributes (self.<name> = <name>) in the "
                            "subclass's __init__ instead.")
        self.seed = seed
        for key, value in recipe.items():
            setattr(self, key, value)

    def build_module(self, n_channels: int, n_samples: int) -> torch.nn.Module:  # pragma: no cover
        raise NotImplementedError

    def recipe(self) -> TrainRecipe:
        params = self.get_params()
        # a recipe field a subclass fixed in its call to DeepEntry.__init__ (not a parameter of its
        # own) is still an attribute: use it rather than silently falling back to the default
        params = {**{f.name: getattr(self, f.name) for f in fields(TrainRecipe)
                     if f.name in vars(self)}, **params}
        return TrainRecipe(**{f.name: params[f.name] for f in fields(TrainRecipe) if f.name in params})

    def fit(self, train: EpochSet, valid: EpochSet):
        if self.epoch_seconds is not None and abs(train.x.shape[2] / train.sfreq - self.epoch_seconds) > 1e-6:
            raise ValueError(f"{self.name} expects {self.epoch_seconds:g}-s epochs")
        seed_everything(self.seed)
        # built on the CPU (same initial weights on every device), then moved to the job's device
        # (benchmark.device.use_device, set by the runner; CPU outside a job)
        self.module_ = self.build_module(train.x.shape[1], train.x.shape[2]).to(current_device())
        self.training_ = self.train_module(train, valid)
        return self

    def train_module(self, train: EpochSet, valid: EpochSet) -> dict:
        """Train ``self.module_`` in place; return :meth:`PassTracker.finish`'s report.

        Default: :func:`fit_module` (random windows of ``seq_len`` epochs). An entry whose paper
        trains otherwise (e.g. ``tinysleepnet``'s stateful LSTM) overrides this, and keeps the
        harness's budget, early stopping and report by using :class:`PassTracker`.
        """
        return fit_module(self.module_, train, valid, self.recipe(), self.seed)

    def report(self, test: EpochSet) -> dict:
        """``{"training": ...}``: the budget, passes run, best pass, validation and per-pass
        history (:meth:`PassTracker.finish`). Subclasses that report more extend this dict
        (``{**super().report(test), ...}``)."""
        training = getattr(self, "training_", None)
        return {} if training is None else {"training": copy.deepcopy(training)}

    def predict_proba(self, data: EpochSet) -> np.ndarray:
        return predict_module(self.module_, data, self.recipe().seq_len)

    def n_params(self) -> int | None:
        module = getattr(self, "module_", None)
        return None if module is None else int(sum(p.numel() for p in module.parameters()))

