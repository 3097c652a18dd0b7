"""TinySleepNet (Supratak & Guo, 2020, EMBC), written from the paper, trained by the shared harness."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from benchmark.epochs import N_CLASSES
from benchmark.registry import register
from benchmark.training import DeepEntry


class _SamePad(nn.Module):
    """Zero padding that makes a following conv/pool behave like TensorFlow's ``padding="SAME"``.

    (Zero padding before max-pooling equals TF's ignore-padding rule here because the pooled
    activations are ReLU outputs, i.e. non-negative.)
    """

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        out = math.ceil(n / self.stride)
        total = max((out - 1) * self.stride + self.kernel - n, 0)
        return nn.functional.pad(x, (total // 2, total - total // 2))


class TinySleepNetModule(nn.Module):
    """TinySleepNet: a per-epoch CNN followed by a 1-layer LSTM over a sequence of epochs.

    Input ``x``: [batch, seq_len, n_channels, n_samples] float32 in µV (raw, unnormalised).
    Output: logits [batch, seq_len, 5] (W, N1, N2, N3, REM).

    Representation learning (per 30-s epoch, channels as conv input channels): input divided by
    the fixed constant ``scale_uv`` (µV; per-epoch normalisation would erase the amplitude that
    defines N3); conv 128 filters, kernel fs/2, stride fs/16 -> BN -> ReLU -> max-pool 8/8 ->
    dropout 0.5 -> 3 x (conv 128, kernel 8, stride 1 -> BN -> ReLU) -> max-pool 4/4 -> flatten ->
    dropout 0.5. TF "SAME" padding as in the authors' code (3000 samples at 100 Hz -> 500 -> 63
    -> 63 -> 16 steps x 128 = 2048 features). Sequence learning: LSTM, 128 units, 1 layer, over the
    ``seq_len`` epochs, dropout 0.5 on its output (the authors' code wraps the LSTM cell in
    dropout), then one linear layer per epoch.
    """

    def __init__(self, n_channels: int, n_samples: int, sfreq: float = 100.0, filters: int = 128,
                 lstm_units: int = 128, dropout: float = 0.5, scale_uv: float = 50.0):
        super().__init__()
        k1, s1 = max(1, int(round(sfreq / 2))), max(1, int(round(sfreq / 16)))
        self.scale_uv = float(scale_uv)
        layers = [_SamePad(k1, s1), nn.Conv1d(n_channels, filters, k1, s1, bias=False),
                  nn.BatchNorm1d(filters), nn.ReLU(),
                  _SamePad(8, 8), nn.MaxPool1d(8, 8), nn.Dropout(dropout)]
        for _ in range(3):
            layers += [_SamePad(8, 1), nn.Conv1d(filters, filters, 8, 1, bias=False),
                       nn.BatchNorm1d(filters), nn.ReLU()]
        layers += [_SamePad(4, 4), nn.MaxPool1d(4, 4), nn.Flatten(), nn.Dropout(dropout)]
        self.cnn = nn.Sequential(*layers)
        with torch.no_grad():
            n_features = self.cnn(torch.zeros(2, n_channels, n_samples)).shape[1]
        self.lstm = nn.LSTM(n_features, lstm_units, num_layers=1, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(lstm_units, N_CLASSES)

    #: epochs [n, n_channels, n_samples] (µV) used to re-estimate BatchNorm statistics; None = off
    calibration: torch.Tensor | None = None

    def train(self, mode: bool = True):
        """Switching from training to eval re-estimates BatchNorm statistics when ``calibration`` is set."""
        recalibrate = (not mode) and self.training and self.calibration is not None
        super().train(mode)
        if recalibrate:
            self.recalibrate_bn(self.calibration)
        return self

    @torch.no_grad()
    def recalibrate_bn(self, epochs: torch.Tensor, batch: int = 256) -> None:
        """Precise BatchNorm (Wu & Johnson 2021): population statistics of ``epochs`` with dropout off.

        The running averages that BatchNorm keeps during training are taken with dropout active
        (dropout sits between BatchNorm layers here) and from weights that change quickly; after a
        short CPU budget they mismatch inference badly. Re-estimating them on a fixed sample of
        training epochs with the final weights and without dropout fixes that. Deterministic.
        """
        bns = [m for m in self.cnn.modules() if isinstance(m, nn.BatchNorm1d)]
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
            bn.train()
        try:
            for i in range(0, len(epochs), batch):
                # the sample is kept on the host; batches follow the module (CPU or GPU)
                self.cnn(epochs[i:i + batch].to(self.classifier.weight.device) / self.scale_uv)
        finally:
            for bn, mom in zip(bns, momenta):
                bn.momentum = mom
                bn.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq_len, n_channels, n_samples] µV -> logits [batch, seq_len, 5]."""
        b, t, c, n = x.shape
        z = self.cnn(x.reshape(b * t, c, n) / self.scale_uv).reshape(b, t, -1)
        z, _ = self.lstm(z)
        return self.classifier(self.dropout(z))


@register("tinysleepnet")
class TinySleepNet(DeepEntry):
    """TinySleepNet CNN + LSTM on raw EEG (Supratak & Guo 2020), trained on a CPU budget.

    Architecture: :class:`TinySleepNetModule` (1,516,421 parameters at 100 Hz, one channel).

    Training differs from the paper to fit a 2-core CPU. Paper: Adam lr 1e-4 (beta1 0.9, beta2
    0.999), batches of 15 sequences of 20 epochs, weighted cross-entropy, L2 1e-3 on conv weights,
    signal augmentation (random shifts) and sequence-start augmentation, up to 200 passes with
    early stopping on validation. Defaults here: the paper's batches (15 sequences x 20 epochs =
    300 epochs per step) and weighted cross-entropy (inverse class frequency), but AdamW lr 1e-3
    (10x the paper: far fewer steps) with cosine decay, weight decay 1e-3, at most
    ``steps_per_epoch`` = 15 steps per pass, ``max_epochs`` = 8 passes, ``max_train_seconds`` = 120
    (checked after each pass), early stopping on validation macro-F1 after ``patience`` = 3
    passes without improvement. That is at most 120 steps (36k epoch-presentations, about 2-4
    passes over a 10-20k-epoch training set), roughly 1.5-2 minutes on 2 cores plus one validation
    pass after each training pass; the paper trains for up to 200 full passes. No signal
    augmentation; the harness draws a random window phase per recording and pass (the paper's
    sequence augmentation). The model is therefore under-converged by design: raise
    ``max_epochs``/``steps_per_epoch``/``max_train_seconds`` (or use a GPU) to approach the
    paper's schedule.

    BatchNorm: with so few steps, BatchNorm's running averages (taken under dropout, from fast
    changing weights) mismatch inference badly, so each time the module switches to evaluation
    (each validation pass and after training) they are re-estimated on ``bn_calibration_epochs``
    = 1024 training epochs (a fixed, seeded sample) with dropout off ("precise BN", Wu & Johnson
    2021); 0 turns this off (plain PyTorch running averages).
    """

    def __init__(self, seq_len: int = 20, batch_size: int = 15, max_epochs: int = 8,
                 steps_per_epoch: int | None = 15, lr: float = 1e-3, weight_decay: float = 1e-3,
                 patience: int = 3, class_weight: bool = True,
                 max_train_seconds: float | None = None, scale_uv: float = 50.0,
                 dropout: float = 0.5, bn_calibration_epochs: int = 1024, seed: int = 0):
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.steps_per_epoch = steps_per_epoch
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.class_weight = class_weight
        self.max_train_seconds = max_train_seconds
        self.scale_uv = scale_uv
        self.dropout = dropout
        self.bn_calibration_epochs = bn_calibration_epochs
        self.seed = seed

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        """A :class:`TinySleepNetModule`: [batch, seq_len, n_channels, n_samples] µV -> [batch, seq_len, 5].

        The sampling rate is inferred from 30-s epochs (``n_samples / 30``) to size the first conv.
        """
        module = TinySleepNetModule(n_channels, n_samples, sfreq=n_samples / 30.0,
                                    dropout=self.dropout, scale_uv=self.scale_uv)
        module.calibration = getattr(self, "_calibration", None)
        return module

    def fit(self, train, valid):
        if abs(train.x.shape[2] / train.sfreq - 30.0) > 1e-6:
            raise ValueError("tinysleepnet expects 30-s epochs")
        calibration = None
        if self.bn_calibration_epochs:
            rng = np.random.default_rng([self.seed, 7])
            n = min(int(self.bn_calibration_epochs), len(train))
            idx = np.sort(rng.choice(len(train), n, replace=False))
            calibration = torch.from_numpy(np.ascontiguousarray(train.x[idx]))
        self._calibration = calibration
        try:
            super().fit(train, valid)
            if self.module_.training:  # no validation pass ran: calibrate now
                self.module_.eval()
        finally:
            del self._calibration
            if hasattr(self, "module_"):
                self.module_.calibration = None
        return self
