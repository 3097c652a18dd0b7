"""AttnSleep (Eldele et al., 2021), written from the paper and trained with its authors' recipe.

Eldele E, Chen Z, Liu C, Wu M, Kwoh C-K, Li X, Guan C. *An Attention-Based Deep Learning Approach for
Sleep Stage Classification With Single-Channel EEG.* IEEE Transactions on Neural Systems and
Rehabilitation Engineering 29:809-818, 2021. doi:10.1109/TNSRE.2021.3076234.

The paper's code (github.com/emadeldeen24/AttnSleep, PyTorch; read at commit
6b4d2665884628c8a7bb09f36589a8ec0992f8e2) was read for every detail and is named as the source below:
``model/model.py`` (architecture), ``model/loss.py`` and ``utils/util.py`` (weighted cross-entropy and
its class weights), ``config.json`` (optimiser, batch, epochs), ``trainer/trainer.py`` (the learning-rate
drop and how the reported predictions were chosen), ``train_Kfold_CV.py`` (initialisation, seed),
``data_loader/data_loaders.py`` (per-epoch batches) and ``prepare_datasets/prepare_physionet.py`` (raw
Fpz-Cz in µV, 30 min of wake kept on each side of sleep). No line of it is copied here.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sleepbench.benchmark.device import autocast, to_device
from sleepbench.benchmark.epochs import N_CLASSES, EpochSet
from sleepbench.benchmark.registry import Reported, register
from sleepbench.benchmark.training import (
    DeepEntry,
    PassTracker,
    SignalSource,
    keep_on_device,
    module_device,
    pass_steps,
    predict_module,
    validation_macro_f1,
)

#: Parameters of the authors' model at its only Sleep-EDF configuration (1 EEG channel, 100 Hz,
#: 30-s epochs = 3000 samples). Counted by instantiating ``model.model.AttnSleep()`` from a snapshot
#: of github.com/emadeldeen24/AttnSleep (commit 6b4d266) with this project's torch, in a temporary
#: folder outside the repository, as ``sum(p.numel() for p in model.parameters())``.
REFERENCE_N_PARAMS = 522_805

#: Of :data:`REFERENCE_N_PARAMS`, those that the authors' forward pass uses (the rest get no gradient:
#: a query convolution and a LayerNorm that the forward pass never calls, 2 x (6,330 + 160) = 12,980).
#: Counted in the same run: parameters whose ``.grad`` is set after one backward pass.
REFERENCE_N_USED_PARAMS = 509_825

#: The class-aware loss's mu_k x K for W, N1, N2, N3, REM (``utils/util.py`` ``calc_class_weight``:
#: ``mu = [1.5, 2, 1.5, 1, 1.5] / K``; the paper's a = 1, b = 1.5, c = 2, supplementary Table S.2).
LOSS_MU = (1.5, 2.0, 1.5, 1.0, 1.5)


def attnsleep_class_weights(counts, mu=LOSS_MU) -> list[float]:
    """The authors' class-aware loss weights from per-class epoch ``counts`` (W, N1, N2, N3, REM).

    ``utils/util.py`` ``calc_class_weight``: with K classes, N epochs and ``m_k = mu[k] / K``,
    ``w_k = round(m_k * max(1, ln(m_k * N / n_k)), 2)`` (Python's ``round``, as theirs). A class with no
    epoch (their code would divide by zero) gets ``round(m_k, 2)``; no epoch carries that weight.
    """
    counts = [int(c) for c in counts]
    k = len(counts)
    if len(mu) != k:
        raise ValueError(f"attnsleep: class_weight_mu needs {k} values, got {mu!r}")
    total = sum(counts)
    weights = []
    for m, n in zip((float(v) / k for v in mu), counts):
        score = math.log(m * total / n) if n > 0 else 1.0
        weights.append(round(max(score, 1.0) * m, 2))
    return weights


class _CausalConv1d(nn.Module):
    """Conv1d along the last axis that sees only the present and the past: ``kernel - 1`` zeros on
    the left, none on the right (the authors' ``CausalConv1d`` pads both sides and crops the right:
    the same output). [batch, channels, length] -> [batch, channels, length]."""

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.pad = kernel - 1
        self.conv = nn.Conv1d(channels, channels, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.pad(x, (self.pad, 0)))


class _LayerNorm(nn.Module):
    """The authors' LayerNorm over the last axis: ``a * (x - mean) / (std + eps) + b`` with the
    unbiased standard deviation and ``eps`` = 1e-6 outside the root (``torch.nn.LayerNorm`` uses the
    biased variance, eps inside the root)."""

    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        self.a = nn.Parameter(torch.ones(features))
        self.b = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a * (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + self.eps) + self.b


class _AFR(nn.Module):
    """Adaptive feature recalibration: one squeeze-and-excitation residual block (1 x 1 convolutions).

    conv 1x1 (in -> out, bias) -> BN -> ReLU -> conv 1x1 (out -> out, bias) -> BN -> SE (global average,
    linear out -> out // 16 -> ReLU -> linear -> out -> sigmoid, no biases; rescales the channels) ->
    + shortcut (conv 1x1 in -> out without bias -> BN) -> ReLU. [batch, in, length] -> [batch, out, length].
    """

    def __init__(self, in_channels: int, out_channels: int, reduction: int = 16):
        super().__init__()
        self.body = nn.Sequential(nn.Conv1d(in_channels, out_channels, 1), nn.BatchNorm1d(out_channels),
                                  nn.ReLU(), nn.Conv1d(out_channels, out_channels, 1),
                                  nn.BatchNorm1d(out_channels))
        hidden = out_channels // reduction
        self.excite = nn.Sequential(nn.Linear(out_channels, hidden, bias=False), nn.ReLU(),
                                    nn.Linear(hidden, out_channels, bias=False), nn.Sigmoid())
        self.shortcut = nn.Sequential(nn.Conv1d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm1d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        out = out * self.excite(out.mean(-1))[..., None]
        return torch.relu(out + self.shortcut(x))


def _branch(n_channels: int, k1: int, s1: int, p1: int, pool1: tuple, k2: int, pool2: tuple,
            dropout: float) -> nn.Sequential:
    """One MRCNN branch: conv(k1, s1) 64 -> BN -> GELU -> max-pool -> dropout -> 2 x (conv k2 128 ->
    BN -> GELU) -> max-pool; convolutions without bias, zero padding, max-pool padding as PyTorch's."""
    return nn.Sequential(
        nn.Conv1d(n_channels, 64, k1, s1, padding=p1, bias=False), nn.BatchNorm1d(64), nn.GELU(),
        nn.MaxPool1d(*pool1), nn.Dropout(dropout),
        nn.Conv1d(64, 128, k2, 1, padding=k2 // 2, bias=False), nn.BatchNorm1d(128), nn.GELU(),
        nn.Conv1d(128, 128, k2, 1, padding=k2 // 2, bias=False), nn.BatchNorm1d(128), nn.GELU(),
        nn.MaxPool1d(*pool2))


class _EncoderLayer(nn.Module):
    """One temporal-context-encoder layer: causal multi-head attention, then a feed-forward block.

    Input and output [batch, n_tokens, d_model]. As in the authors' ``EncoderLayer``:
    ``q = causal_conv(x)``; ``x = q + drop(attn(q, causal_conv_k(x), causal_conv_v(x)))``;
    ``out = x + drop(ff(norm(x)))``, with ``ff = linear(d_model -> d_ff) -> ReLU -> drop -> linear``.
    The attention splits the last axis into ``n_heads`` heads (scaled dot products between tokens,
    dropout on the weights, a final linear d_model -> d_model). The causal convolutions run over the
    last axis, with the tokens as their channels.

    ``unused_query_conv`` and ``unused_attn_norm`` exist in the authors' module (a third causal
    convolution in their ``MultiHeadedAttention`` and the first residual block's LayerNorm) but their
    forward pass never calls them; they are kept, unused, so that the parameter count and layout
    match the reference (they get no gradient and keep their initial values).
    """

    def __init__(self, n_tokens: int, d_model: int, n_heads: int, d_ff: int, dropout: float,
                 kernel: int = 7):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"attnsleep: d_model {d_model} is not a multiple of n_heads {n_heads}")
        self.n_heads = n_heads
        self.query_conv = _CausalConv1d(n_tokens, kernel)
        self.key_conv = _CausalConv1d(n_tokens, kernel)
        self.value_conv = _CausalConv1d(n_tokens, kernel)
        self.unused_query_conv = _CausalConv1d(n_tokens, kernel)
        self.attn_out = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.unused_attn_norm = _LayerNorm(d_model)
        self.drop1 = nn.Dropout(dropout)
        self.ff_norm = _LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Dropout(dropout),
                                nn.Linear(d_ff, d_model))
        self.drop2 = nn.Dropout(dropout)

    def attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """[batch, tokens, d_model] x 3 -> [batch, tokens, d_model]."""
        b, t, d = q.shape
        q, k, v = (z.reshape(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.n_heads), dim=-1)
        out = self.attn_dropout(w) @ v
        return self.attn_out(out.transpose(1, 2).reshape(b, t, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.query_conv(x)
        x = q + self.drop1(self.attention(q, self.key_conv(x), self.value_conv(x)))
        return x + self.drop2(self.ff(self.ff_norm(x)))


class AttnSleepModule(nn.Module):
    """AttnSleep: multi-resolution CNN + adaptive feature recalibration + temporal context encoder.

    Input ``x``: [batch, seq_len, n_channels, n_samples] float32 in µV (raw; each 30-s epoch is
    classified on its own, so ``seq_len`` is 1 in training and any value works).
    Output: logits [batch, seq_len, 5] (W, N1, N2, N3, REM).

    Per epoch (the authors' ``model/model.py``; their supplementary Table S.3), at 100 Hz:

    * MRCNN, two branches on the raw signal, concatenated along time:
      small kernels, conv 50 / stride 6 (pad 24) -> max-pool 8/2 (pad 4) -> conv 8 -> conv 8 ->
      max-pool 4/4 (pad 2): 3000 -> 500 -> 251 -> 252 -> 253 -> 64 steps;
      wide kernels, conv 400 / stride 50 (pad 200) -> max-pool 4/2 (pad 2) -> conv 7 -> conv 7 ->
      max-pool 2/2 (pad 1): 3000 -> 61 -> 31 -> 31 -> 31 -> 16 steps;
      64 then 128 filters, BatchNorm, GELU, dropout ``cnn_dropout`` = 0.5 after the first pool of
      each branch and on the concatenation ([batch, 128, 80]);
    * AFR: one SE residual block 128 -> ``afr_channels`` = 30 channels (:class:`_AFR`): [batch, 30, 80];
    * TCE: ``n_layers`` = 2 encoder layers (:class:`_EncoderLayer`) with ``n_heads`` = 5 heads,
      d_model = 80 (the length of the CNN's feature sequence: the 30 AFR channels are the attention's
      tokens, each an 80-step feature vector; causal convolutions of kernel 7 run along those 80
      steps), ``d_ff`` = 120, ``dropout`` = 0.1; then a final LayerNorm;
    * a linear layer on the flattened 30 x 80 = 2400 features -> 5 logits.

    Initialisation as ``train_Kfold_CV.py``'s ``weights_init_normal``: the MRCNN's and AFR's
    convolution kernels N(0, 0.02), their BatchNorm weights N(1, 0.02) and biases 0; everything else
    keeps PyTorch's default (their rule matches ``type(m) == nn.Conv1d`` exactly, which their
    ``CausalConv1d`` subclass is not, so the causal convolutions keep the default too).
    """

    def __init__(self, n_channels: int = 1, n_samples: int = 3000, afr_channels: int = 30,
                 n_heads: int = 5, n_layers: int = 2, d_ff: int = 120, dropout: float = 0.1,
                 cnn_dropout: float = 0.5):
        super().__init__()
        self.small = _branch(n_channels, 50, 6, 24, (8, 2, 4), 8, (4, 4, 2), cnn_dropout)
        self.wide = _branch(n_channels, 400, 50, 200, (4, 2, 2), 7, (2, 2, 1), cnn_dropout)
        self.cnn_dropout = nn.Dropout(cnn_dropout)
        self.afr = _AFR(128, afr_channels)
        with torch.no_grad():
            probe = torch.zeros(2, n_channels, n_samples)
            d_model = self.small(probe).shape[-1] + self.wide(probe).shape[-1]
        self.d_model = int(d_model)
        self.layers = nn.ModuleList(_EncoderLayer(afr_channels, d_model, n_heads, d_ff, dropout)
                                    for _ in range(n_layers))
        self.norm = _LayerNorm(d_model)
        self.classifier = nn.Linear(afr_channels * d_model, N_CLASSES)
        self._init_as_the_authors()

    @torch.no_grad()
    def _init_as_the_authors(self) -> None:
        for part in (self.small, self.wide, self.afr):
            for m in part.modules():
                if isinstance(m, nn.Conv1d):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                elif isinstance(m, nn.BatchNorm1d):
                    nn.init.normal_(m.weight, 1.0, 0.02)
                    nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Epochs [n, n_channels, n_samples] µV -> MRCNN + AFR features [n, afr_channels, d_model]."""
        z = torch.cat([self.small(x), self.wide(x)], dim=-1)
        return self.afr(self.cnn_dropout(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq_len, n_channels, n_samples] µV -> logits [batch, seq_len, 5], epoch by epoch."""
        b, t, c, n = x.shape
        z = self.features(x.reshape(b * t, c, n))
        for layer in self.layers:
            z = layer(z)
        z = self.norm(z)
        return self.classifier(z.flatten(1)).reshape(b, t, N_CLASSES)

    def unused_parameters(self) -> list[nn.Parameter]:
        """The parameters that the forward pass never uses (see :class:`_EncoderLayer`)."""
        return [p for layer in self.layers
                for p in (*layer.unused_query_conv.parameters(), *layer.unused_attn_norm.parameters())]


@register("attnsleep")
class AttnSleep(DeepEntry):
    """AttnSleep MRCNN + AFR + causal-attention encoder on single 30-s EEG epochs (Eldele et al. 2021).

    Architecture: :class:`AttnSleepModule` (522,805 parameters at 100 Hz, one channel, equal to the
    authors' model; 509,825 of them used by the forward pass and trained). The paper uses Fpz-Cz at
    100 Hz: the channel and rate of every protocol here. Input: raw µV, unnormalised, as the authors'
    ``prepare_physionet.py`` writes it (MNE's ``to_data_frame``, EEG in µV) and their loader feeds it.

    Recipe (the authors' code):

    * Adam, lr ``lr`` = 1e-3, betas ``betas`` = (0.9, 0.999), eps 1e-8, ``weight_decay`` = 1e-3 (Adam's
      L2 term, added to the gradient of every parameter), ``amsgrad`` = True (``config.json``; betas
      PyTorch's default, which ``config.json`` does not override);
    * learning rate: ``lr`` for the first ``lr_drop_pass`` = 10 passes, then ``lr_after_drop`` = 1e-4
      to the end (``trainer/trainer.py``: set once, after epoch 10); no other schedule, no gradient
      clipping;
    * batches of ``batch_size`` = 128 epochs drawn without replacement from all training epochs,
      reshuffled each pass, the last partial batch kept (``data_loader/data_loaders.py``:
      ``shuffle=True``, ``drop_last=False``); one epoch per example (``seq_len`` 1);
    * class-aware loss: cross-entropy weighted per class (PyTorch's weighted mean) by
      :func:`attnsleep_class_weights` with ``class_weight_mu`` = (1.5, 2, 1.5, 1, 1.5) (x 1/K), from the
      class counts of this fold's training epochs (e.g. counts W 8285, N1 2804, N2 17799, N3 5703,
      REM 7717 give 0.30, 0.72, 0.30, 0.20, 0.30); the weights used are in the report;
    * no augmentation, no oversampling, one training stage;
    * budget: ``max_passes`` = 100 passes (``config.json`` ``epochs``), ``patience`` = 100 (the authors
      never stop early: ``early_stop`` is unset, i.e. infinite); ``steps_per_pass`` (None) caps the
      steps of a pass, for tests only.

    Deviations from the authors' code, each with its reason:

    * model selection: the authors' "validation" loader is the test fold, and the predictions they
      report are those of the epoch with the best *test-fold accuracy* (``trainer/trainer.py``
      ``selected_d``); here the pass with the best validation macro-F1 on the validation subjects is
      kept, and training stops after ``patience`` passes without one: the harness's rule for every
      entry, and the test subjects are never looked at;
    * class weights from the training epochs only: the authors count the labels of the training *and
      test* subjects together (``data_generator_np``'s ``counts``); the test labels are not available
      to a fit here, and would leak;
    * the authors' seed (123) and cuDNN settings are not reproduced: seeds come from the suite;
    * the two unused parameter blocks of the authors' module (see :class:`_EncoderLayer`) are kept but
      listed apart: ``n_trainable_params`` counts only what training updates.
    """

    reported = (
        Reported(
            source="Eldele et al. 2021, supplementary material Table S.1 (GELU row: the published "
                   "configuration; the same ACC/MF1 in Table S.2 for a, b, c = 1, 1.5, 2)",
            cite="eldele2021attnsleep",
            dataset="Sleep-EDF-20 (SC, Fpz-Cz)",
            accuracy=0.844, macro_f1=0.781, kappa=0.79,
            folds="20-fold subject-wise CV (one subject's nights per fold), no separate validation set",
            wake_trimming="30 min of wake before and after the sleep period",
            data_version="Sleep-EDF Expanded (PhysioNet sleep-edfx), SC subjects 0-19, 39 nights "
                         "(the authors' download_edf20.sh), R&K with S3+S4 merged into N3, M and ? removed",
            selection="per fold, the epoch (of 100) with the best accuracy on the test fold",
            note="metrics pooled over the 20 test folds (authors' _calc_metrics); one seed (123)",
        ),
    )

    def __init__(self, batch_size: int = 128, max_passes: int = 100, patience: int = 100,
                 steps_per_pass: int | None = None, lr: float = 1e-3, lr_drop_pass: int | None = 10,
                 lr_after_drop: float = 1e-4, betas: tuple = (0.9, 0.999), weight_decay: float = 1e-3,
                 amsgrad: bool = True, class_weight_mu: tuple = LOSS_MU, afr_channels: int = 30,
                 n_heads: int = 5, n_layers: int = 2, d_ff: int = 120, dropout: float = 0.1,
                 cnn_dropout: float = 0.5, seed: int = 0):
        self.batch_size = batch_size
        self.max_passes = max_passes
        self.patience = patience
        self.steps_per_pass = steps_per_pass
        self.lr = lr
        self.lr_drop_pass = lr_drop_pass
        self.lr_after_drop = lr_after_drop
        self.betas = betas
        self.weight_decay = weight_decay
        self.amsgrad = amsgrad
        self.class_weight_mu = class_weight_mu
        self.afr_channels = afr_channels
        self.n_heads = n_heads
        self.n_layers = n_layers
        self.d_ff = d_ff
        self.dropout = dropout
        self.cnn_dropout = cnn_dropout
        self.seed = seed

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        """An :class:`AttnSleepModule`: [batch, seq_len, n_channels, n_samples] µV -> [batch, seq_len, 5]."""
        return AttnSleepModule(n_channels, n_samples, afr_channels=self.afr_channels, n_heads=self.n_heads,
                               n_layers=self.n_layers, d_ff=self.d_ff, dropout=self.dropout,
                               cnn_dropout=self.cnn_dropout)

    def fit(self, train: EpochSet, valid: EpochSet):
        n_samples = train.x.shape[2]
        if abs(n_samples / train.sfreq - 30.0) > 1e-6 or abs(train.sfreq - 100.0) > 1e-6:
            raise ValueError(f"attnsleep expects 30-s epochs at 100 Hz (its kernels are set in samples at "
                             f"100 Hz), got {n_samples} samples at {train.sfreq} Hz")
        return super().fit(train, valid)

    def pass_lr(self, n: int) -> float:
        """The learning rate of pass ``n`` (numbered from 1): ``lr`` up to ``lr_drop_pass``, then
        ``lr_after_drop`` (``lr_drop_pass`` None or 0: ``lr`` throughout)."""
        drop = self.lr_drop_pass
        return float(self.lr_after_drop if drop and n > int(drop) else self.lr)

    def train_module(self, train: EpochSet, valid: EpochSet) -> dict:
        """The authors' training (see the class docstring); returns the training report."""
        module, recipe = self.module_, self.recipe()
        device = module_device(module)
        rng = np.random.default_rng(self.seed)
        y_np = train.y
        weights = attnsleep_class_weights(np.bincount(y_np, minlength=N_CLASSES), self.class_weight_mu)
        self.class_weights_ = weights
        loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=device))
        opt = torch.optim.Adam(module.parameters(), lr=self.lr, betas=tuple(float(b) for b in self.betas),
                               eps=1e-8, weight_decay=self.weight_decay, amsgrad=bool(self.amsgrad))
        x_train, x_valid = train.x, valid.x
        resident = keep_on_device(x_train.nbytes + x_valid.nbytes, device)
        source = SignalSource(x_train, device, resident)
        valid_source = SignalSource(x_valid, device, resident) if len(valid) else None
        y = to_device(torch.from_numpy(y_np), device)
        bs = int(self.batch_size)
        steps = pass_steps(np.diff(train.offsets), bs, 1, "windows", cap=self.steps_per_pass)
        tracker = PassTracker(module, recipe, steps, validation=len(valid) > 0)
        self.lr_per_pass_ = []
        for n in range(1, int(self.max_passes) + 1):
            lr = self.pass_lr(n)
            for group in opt.param_groups:
                group["lr"] = lr
            module.train()
            order = rng.permutation(len(y_np))[: steps * bs]
            total = 0.0
            for i in range(0, len(order), bs):
                idx = order[i:i + bs]
                with autocast(device):
                    logits = module(source.windows(idx, 1))
                target = y[to_device(torch.from_numpy(idx), device)]
                loss = loss_fn(logits.float().reshape(-1, N_CLASSES), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            self.lr_per_pass_.append(lr)
            val_f1 = (validation_macro_f1(valid, predict_module(module, valid, 1, source=valid_source))
                      if len(valid) else None)
            if tracker.end_pass(total / max(len(order), 1), val_f1, steps=-(-len(order) // bs)):
                break
        return tracker.finish()

    def report(self, test: EpochSet) -> dict:
        """The harness's training report, plus the class weights and the learning rate of each pass."""
        out = super().report(test)
        if hasattr(self, "class_weights_"):
            out["attnsleep"] = {"class_weights": list(self.class_weights_),
                                "lr_per_pass": list(self.lr_per_pass_)}
        return out

    def n_trainable_params(self) -> int | None:
        """Parameters that training updates: all but the two blocks the forward pass never uses."""
        module = getattr(self, "module_", None)
        if module is None:
            return None
        unused = {id(p) for p in module.unused_parameters()}
        return int(sum(p.numel() for p in module.parameters() if id(p) not in unused))
