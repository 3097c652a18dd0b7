"""A worked deep entry: a small 1-D CNN on the raw EEG of one 30-s epoch.

Load it as a plugin (nothing in the repository imports it)::

    SLEEPBENCH_PLUGINS=examples/small_cnn.py sleepbench run --protocol quick --models example-small-cnn
    SLEEPBENCH_PLUGINS=examples/small_cnn.py sleepbench tables --protocol quick

What the harness gives a deep entry (``sleepbench.DeepEntry``): the training loop
(AdamW, cosine schedule, class-weighted cross-entropy, early stopping on validation macro-F1,
deterministic for a seed on CPU), prediction over whole nights, and the parameter count. What the
entry supplies: its parameters in ``__init__`` and a plain ``torch.nn.Module`` from
``build_module``.
"""

from __future__ import annotations

import torch
from torch import nn

from sleepbench import N_CLASSES, DeepEntry, register


class SmallCNNModule(nn.Module):
    """Three conv blocks and a linear read-out, one 30-s epoch at a time.

    Input ``x``: [batch, seq_len, n_channels, n_samples] float32, µV, raw (as the harness gives
    it); output: logits [batch, seq_len, 5] (W, N1, N2, N3, REM). Each epoch is classified on its
    own (the ``seq_len`` axis is folded into the batch).

    The input is divided by the fixed constant ``scale_uv`` rather than normalised per epoch: the
    absolute amplitude is what separates N3 (slow waves > 75 µV, AASM) from N2, and per-epoch
    z-scoring would erase it.

    Layers (at 100 Hz, 3000 samples): conv(k=50, stride 6) -> BN -> ReLU -> max-pool 8 (the first
    kernel spans 0.5 s, long enough for delta waves), then two conv(k=8) -> BN -> ReLU -> max-pool 4
    blocks, global average pooling over time, dropout, linear 5.
    """

    def __init__(self, n_channels: int, n_samples: int, sfreq: float = 100.0, filters: int = 16,
                 dropout: float = 0.25, scale_uv: float = 50.0):
        super().__init__()
        k1, s1 = max(1, int(round(sfreq / 2))), max(1, int(round(sfreq / 16)))
        self.scale_uv = float(scale_uv)
        self.features = nn.Sequential(
            nn.Conv1d(n_channels, filters, k1, s1, padding=k1 // 2, bias=False),
            nn.BatchNorm1d(filters), nn.ReLU(), nn.MaxPool1d(8, 8),
            nn.Conv1d(filters, 2 * filters, 8, padding=4, bias=False),
            nn.BatchNorm1d(2 * filters), nn.ReLU(), nn.MaxPool1d(4, 4),
            nn.Conv1d(2 * filters, 2 * filters, 8, padding=4, bias=False),
            nn.BatchNorm1d(2 * filters), nn.ReLU(),
            nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Dropout(dropout))
        self.classifier = nn.Linear(2 * filters, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq_len, n_channels, n_samples] µV -> logits [batch, seq_len, 5]."""
        b, t, c, n = x.shape
        z = self.features(x.reshape(b * t, c, n) / self.scale_uv)
        return self.classifier(z).reshape(b, t, N_CLASSES)


@register("example-small-cnn")
class SmallCNN(DeepEntry):
    """A small 1-D CNN on raw EEG, one epoch at a time (worked example of a deep entry).

    Parameters
    ----------
    filters : int
        Filters of the first conv layer (the others have twice as many).
    dropout : float
        Dropout before the read-out.
    scale_uv : float
        Fixed input scale in µV (the harness feeds raw µV; see :class:`SmallCNNModule`).
    max_passes, batch_size, steps_per_pass, lr, patience : training recipe
        Fields of :class:`sleepbench.benchmark.training.TrainRecipe`, handed on to ``DeepEntry.__init__``;
        a suite can override any of them (``models: {example-small-cnn: {max_passes: 3}}``).
        ``seq_len`` stays 1: the module looks at one epoch.
    seed : int
        Fixes initialisation, batch order and dropout (deterministic on CPU).
    """

    #: how tables, figures and the paper export name this entry (no paper to cite: no ``cite``)
    display_name = "Small CNN (example)"

    def __init__(self, filters: int = 16, dropout: float = 0.25, scale_uv: float = 50.0,
                 max_passes: int = 8, batch_size: int = 64, steps_per_pass: int | None = 20,
                 lr: float = 2e-3, patience: int = 3, seed: int = 0):
        # the model's own parameters: attributes named exactly as the arguments
        self.filters = filters
        self.dropout = dropout
        self.scale_uv = scale_uv
        # the training recipe's fields and the seed: DeepEntry stores them the same way
        super().__init__(seed=seed, max_passes=max_passes, batch_size=batch_size,
                         steps_per_pass=steps_per_pass, lr=lr, patience=patience)

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        """The :class:`SmallCNNModule` for this input; 30-s epochs, so sfreq = n_samples / 30."""
        return SmallCNNModule(n_channels, n_samples, sfreq=n_samples / 30.0, filters=self.filters,
                              dropout=self.dropout, scale_uv=self.scale_uv)
