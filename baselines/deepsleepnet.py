"""DeepSleepNet (Supratak et al., 2017), written from the paper and the authors' code, trained with their recipe.

Supratak A, Dong H, Wu C, Guo Y. *DeepSleepNet: a model for automatic sleep stage scoring based on
raw single-channel EEG.* IEEE Transactions on Neural Systems and Rehabilitation Engineering
25(11):1998-2008, 2017. doi:10.1109/TNSRE.2017.2721116 (arXiv:1703.04046).

Every number below was read from the authors' TensorFlow 1 code (github.com/akaraspt/deepsleepnet:
``deepsleep/model.py``, ``deepsleep/nn.py``, ``deepsleep/trainer.py``, ``deepsleep/optimize.py``,
``deepsleep/utils.py``, ``deepsleep/data_loader.py``, ``train.py``, ``predict.py``), which is named
as the source of each detail; where the paper and the code differ, the code is followed and the
difference is said.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from sleepbench.baselines.tinysleepnet import SamePad
from sleepbench.benchmark.device import autocast
from sleepbench.benchmark.epochs import N_CLASSES, EpochSet
from sleepbench.benchmark.registry import Reported, register
from sleepbench.benchmark.training import DeepEntry, PassTracker, module_device, validation_macro_f1

from ._precise_bn import PreciseBNModule, fit_with_precise_bn

#: Trainable parameters of the authors' TensorFlow graph (``DeepSleepNet`` in ``deepsleep/model.py``,
#: ``n_rnn_layers=2``, ``seq_length=25``, input 3000 samples = 30 s at 100 Hz, one channel), counted
#: analytically from their layer definitions (``nn.conv_1d``, ``nn.batch_norm_new``, ``nn.fc`` and
#: TF's ``LSTMCell(512, use_peepholes=True)``), not by running their code:
#:
#: * CNN, small filters: conv 50x1x64 (3,200, no bias) + conv 8x64x128 (65,536) + 2 x conv
#:   8x128x128 (262,144), and BatchNorm beta + gamma of 64 + 3 x 128 channels (896): 331,776;
#: * CNN, large filters: conv 400x1x64 (25,600) + conv 6x64x128 (49,152) + 2 x conv 6x128x128
#:   (196,608) + BatchNorm (896): 272,256;
#: * shortcut: fc 3072x1024 without bias (3,145,728) + BatchNorm (2,048): 3,147,776;
#: * bidirectional LSTM, two independent 2-layer stacks (forward and backward ``MultiRNNCell``),
#:   each cell a kernel [input + 512, 4 x 512], a bias 4 x 512 and three peephole vectors of 512:
#:   layer 1 (input 3072) 7,343,616, layer 2 (input 512) 2,100,736; x 2 directions: 18,888,704;
#: * softmax linear fc 1024x5 + bias: 5,125.
#:
#: Sum 22,645,637 (BatchNorm moving averages, 3,840 values, are not trainable and not counted).
#: The CNN's output is 16 x 128 + 8 x 128 = 3072 features at 100 Hz with TF "SAME" padding.
#: This module differs by +2,048 (PyTorch's LSTM has two bias vectors per cell, 4,096, where the
#: authors' cell has one bias, 2,048, and 1,536 peephole weights): 22,647,685, 0.009 % more.
REFERENCE_PARAMS = 22_645_637

#: BatchNorm of the authors' code (``nn.batch_norm_new``): epsilon 1e-5, moving-average decay 0.999
#: (PyTorch's momentum = 1 - decay)
BN_EPS, BN_MOMENTUM = 1e-5, 1e-3


def _bn(n: int) -> nn.BatchNorm1d:
    return nn.BatchNorm1d(n, eps=BN_EPS, momentum=BN_MOMENTUM)


def _conv(n_in: int, n_out: int, kernel: int, stride: int) -> list[nn.Module]:
    """The authors' ``_conv1d_layer``: conv (no bias, "SAME") -> BatchNorm -> ReLU."""
    return [SamePad(kernel, stride), nn.Conv1d(n_in, n_out, kernel, stride, bias=False), _bn(n_out), nn.ReLU()]


def _pool(size: int) -> list[nn.Module]:
    return [SamePad(size, size), nn.MaxPool1d(size, size)]


class DeepSleepNetModule(PreciseBNModule):
    """DeepSleepNet: two CNNs per 30-s epoch, then a bidirectional LSTM over the epochs plus a shortcut.

    Input ``x``: [batch, seq_len, n_channels, n_samples] float32 in µV (raw, unnormalised, as the
    authors feed them: ``prepare_physionet.py`` keeps MNE's µV). Output: logits [batch, seq_len, 5]
    (W, N1, N2, N3, REM).

    Representation learning (``DeepFeatureNet.build_model``), channels as conv input channels, TF
    "SAME" padding throughout:

    * small filters: conv 64, kernel fs/2 = 50, stride fs/16 = 6 -> max-pool 8/8 -> dropout 0.5 ->
      3 x conv 128, kernel 8 -> max-pool 4/4 -> flatten (3000 -> 500 -> 63 -> 16 steps x 128);
    * large filters: conv 64, kernel fs x 4 = 400, stride fs/2 = 50 -> max-pool 4/4 -> dropout 0.5
      -> 3 x conv 128, kernel 6 -> max-pool 2/2 -> flatten (3000 -> 60 -> 15 -> 8 steps x 128);
    * each conv: no bias -> BatchNorm -> ReLU; the two outputs concatenated (3072) -> dropout 0.5.

    Sequence residual learning (``DeepSleepNet.build_model``): shortcut fc 1024 (no bias) ->
    BatchNorm -> ReLU, added to a bidirectional LSTM of two independent 2-layer stacks of 512 units
    (forward over the sequence, backward over it reversed; the second layer of each direction sees
    only its own direction's first layer, as TF's ``MultiRNNCell`` per direction), each cell's
    output dropped out at 0.5 (``DropoutWrapper``); the forward and backward outputs concatenated
    (1024) + shortcut -> dropout 0.5 -> fc 5 with bias.

    As in ``nn.py``: conv and fc kernels initialised from a normal of std sqrt(2 / fan_in)
    truncated at two standard deviations (TF's ``truncated_normal_initializer``, He et al. 2015),
    biases 0; BatchNorm gamma ~ N(1, 0.002), beta 0, epsilon 1e-5, moving-average decay 0.999; LSTM
    kernels Glorot-uniform over each cell's [input + units, 4 x units] matrix (TF's default),
    forget-gate bias 1 (TF's ``forget_bias=1.0``).

    The LSTM state (both directions) is carried across calls by :meth:`forward_stateful`, as the
    authors feed a night as consecutive sequences (``trainer.py``, ``predict.py``).
    """

    def __init__(self, n_channels: int, n_samples: int, sfreq: float = 100.0, dropout: float = 0.5,
                 lstm_units: int = 512, lstm_layers: int = 2, shortcut_units: int = 1024):
        super().__init__()
        fs = float(sfreq)
        small_k, small_s = max(1, int(round(fs / 2))), max(1, int(round(fs / 16)))
        large_k, large_s = max(1, int(round(fs * 4))), max(1, int(round(fs / 2)))
        self.small = nn.Sequential(*_conv(n_channels, 64, small_k, small_s), *_pool(8), nn.Dropout(dropout),
                                   *_conv(64, 128, 8, 1), *_conv(128, 128, 8, 1), *_conv(128, 128, 8, 1),
                                   *_pool(4), nn.Flatten())
        self.large = nn.Sequential(*_conv(n_channels, 64, large_k, large_s), *_pool(4), nn.Dropout(dropout),
                                   *_conv(64, 128, 6, 1), *_conv(128, 128, 6, 1), *_conv(128, 128, 6, 1),
                                   *_pool(2), nn.Flatten())
        self.feature_dropout = nn.Dropout(dropout)
        with torch.no_grad():
            z = torch.zeros(2, n_channels, n_samples)
            self.n_features = int(self.small(z).shape[1] + self.large(z).shape[1])
        self.shortcut = nn.Sequential(nn.Linear(self.n_features, shortcut_units, bias=False), _bn(shortcut_units),
                                      nn.ReLU())
        lstm_dropout = dropout if lstm_layers > 1 else 0.0
        self.lstm_fw = nn.LSTM(self.n_features, lstm_units, lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.lstm_bw = nn.LSTM(self.n_features, lstm_units, lstm_layers, batch_first=True, dropout=lstm_dropout)
        self.lstm_dropout = nn.Dropout(dropout)  # the top cell's DropoutWrapper (nn.LSTM drops between layers only)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * lstm_units, N_CLASSES)
        if 2 * lstm_units != shortcut_units:
            raise ValueError("the shortcut is added to the bidirectional output: shortcut_units = 2 x lstm_units")
        self._init_as_the_authors()

    @torch.no_grad()
    def _init_as_the_authors(self) -> None:
        """The authors' initialisation (see the class docstring)."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                he_init_(m)
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.normal_(m.weight, mean=1.0, std=0.002)
                m.bias.zero_()
        for lstm in (self.lstm_fw, self.lstm_bw):
            units = lstm.hidden_size
            for k in range(lstm.num_layers):
                w_ih, w_hh = getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}")
                limit = math.sqrt(6.0 / (w_ih.shape[1] + units + 4 * units))  # one [in + units, 4 units] kernel
                nn.init.uniform_(w_ih, -limit, limit)
                nn.init.uniform_(w_hh, -limit, limit)
                b_ih, b_hh = getattr(lstm, f"bias_ih_l{k}"), getattr(lstm, f"bias_hh_l{k}")
                b_ih.zero_()
                b_hh.zero_()
                b_ih[units:2 * units].fill_(1.0)  # gate order i, f, g, o: TF forget_bias=1.0

    def cnn_parameters(self) -> list[nn.Parameter]:
        """The representation-learning part's parameters: what pre-training trains, and what
        fine-tuning updates at the lower rate (the authors' ``train_vars1``)."""
        return [*self.small.parameters(), *self.large.parameters()]

    def l2_weights(self) -> list[nn.Parameter]:
        """Weights under L2 decay in the authors' code: the small-filter CNN's first conv only
        (``wd=1e-3``; every other layer is built with ``wd=0``)."""
        return [self.small[1].weight]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Epochs [n, n_channels, n_samples] µV -> CNN features [n, 3072] (after the concat dropout)."""
        return self.feature_dropout(torch.cat([self.small(x), self.large(x)], dim=1))

    def forward_stateful(self, x: torch.Tensor, state=None):
        """One sequence step of a batch of rows, the LSTM state of both directions carried in and out.

        ``x`` [batch, seq_len, n_channels, n_samples] µV; ``state`` the ``(forward (h, c), backward
        (h, c))`` returned by the previous call on the same rows (each [2, batch, 512]; None = zeros,
        a night's start). As the authors' code (``trainer.py``), the backward direction also starts
        from its final state of the previous sequence. Returns ``(logits [batch, seq_len, 5], state)``.
        """
        b, t, c, n = x.shape
        z = self.features(x.reshape(b * t, c, n))
        short = self.shortcut(z).reshape(b, t, -1)
        z = z.reshape(b, t, -1)
        fw_state, bw_state = state if state is not None else (None, None)
        fw, fw_state = self.lstm_fw(z, fw_state)
        bw, bw_state = self.lstm_bw(z.flip(1), bw_state)
        seq = self.lstm_dropout(torch.cat([fw, bw.flip(1)], dim=-1))
        return self.classifier(self.dropout(seq + short)), (fw_state, bw_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq_len, n_channels, n_samples] µV -> logits [batch, seq_len, 5] (zero initial state)."""
        return self.forward_stateful(x)[0]

    @torch.no_grad()
    def predict_night(self, x: torch.Tensor, seq_len: int = 25) -> torch.Tensor:
        """A whole night [n_epochs, n_channels, n_samples] µV -> logits [n_epochs, 5].

        As ``predict.py``: consecutive sequences of ``seq_len`` epochs, batch 1, the state of both
        directions carried from one to the next; the last sequence is shorter when the night is not
        a multiple of ``seq_len`` (the authors drop those epochs; every epoch is scored here).
        """
        out, state = [], None
        for i in range(0, len(x), seq_len):
            logits, state = self.forward_stateful(x[None, i:i + seq_len], state)
            out.append(logits[0])
        return torch.cat(out) if out else torch.zeros(0, N_CLASSES, device=x.device)

    def bn_forward(self, x: torch.Tensor) -> None:
        """Precise BN (:class:`PreciseBNModule`): the CNNs' and the shortcut's BatchNorms."""
        self.shortcut(self.features(x))


def he_init_(m: nn.Module) -> None:
    """TF ``truncated_normal_initializer(stddev=sqrt(2 / fan_in))`` (``nn.variable_with_weight_decay``):
    a normal cut at two standard deviations, not rescaled; bias (if any) 0."""
    std = math.sqrt(2.0 / m.weight[0].numel())
    nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
    if m.bias is not None:
        nn.init.zeros_(m.bias)


def oversample(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices that balance the classes by replication, as ``utils.get_balance_class_oversample``.

    Each class present is repeated ``floor(n_max / n_c)`` times and topped up to ``n_max`` (the
    largest class's count) with distinct epochs of that class drawn at random; classes in
    ascending order, as the authors'.
    """
    classes, counts = np.unique(y, return_counts=True)
    n_max = int(counts.max()) if len(counts) else 0
    out = []
    for c, n in zip(classes, counts):
        idx = np.flatnonzero(y == c)
        reps = np.repeat(idx, n_max // n)
        extra = rng.permutation(idx)[:n_max - len(reps)]
        out.append(np.concatenate([reps, extra]))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def night_rows(n: int, batch_size: int, seq_len: int) -> tuple[int, int, int]:
    """How the authors cut a night of ``n`` epochs for fine-tuning (``utils.iterate_batch_seq_minibatches``):
    ``(rows, row_len, steps)``.

    ``batch_size`` rows of ``n // batch_size`` consecutive epochs each, walked side by side
    ``seq_len`` epochs a step for ``row_len // seq_len`` steps (the epochs past the last full step
    of each row are not used that pass). A night too short for one step of ``batch_size`` rows (the
    authors' code raises an error) gets as many full rows of ``seq_len`` as fit, or one row of the
    whole night when it is shorter than ``seq_len``.
    """
    if n <= 0:
        return 0, 0, 0
    if n < seq_len:
        return 1, n, 1
    rows = min(batch_size, n // seq_len)
    row_len = n // rows
    return rows, row_len, row_len // seq_len


@register("deepsleepnet")
class DeepSleepNet(DeepEntry):
    """DeepSleepNet CNNs + bidirectional LSTM on raw single-channel EEG (Supratak et al. 2017), the authors' recipe.

    Architecture: :class:`DeepSleepNetModule` (22,647,685 parameters at 100 Hz, one channel; the
    authors' TF graph: 22,645,637, see :data:`REFERENCE_PARAMS`). The paper uses Fpz-Cz at 100 Hz:
    the channel and rate of every protocol here.

    Recipe (the authors' code; ``train.py``, ``trainer.py``, ``optimize.py``, ``utils.py``):

    1. **Pre-training** of the CNNs alone (``DeepFeatureNetTrainer``), with a softmax layer of their
       own (fc 3072 -> 5, discarded afterwards): the training epochs class-balanced by replication
       (:func:`oversample`, drawn once), shuffled each pass, ``pretrain_batch_size`` = 100 epochs a
       step (a last incomplete batch dropped, as ``iterate_minibatches``); cross-entropy averaged
       over the batch + 1e-3 x sum(w^2) / 2 on the small-filter CNN's first conv (the only layer
       with ``wd`` > 0 in ``model.py``); Adam, ``pretrain_lr`` = 1e-4, betas 0.9 / 0.999, eps 1e-8,
       no clipping; ``pretrain_passes`` passes (the authors' ``pretrain_epochs`` = 100; None: half
       of ``max_passes``, rounded up, the authors' 100 of 200). No validation, no selection: the
       last pass's weights go on, BatchNorm moving averages included (the authors load everything
       but Adam's slots and the softmax layer).
    2. **Fine-tuning** of the whole model (``DeepSleepNetTrainer``) on sequences: each training
       night, in the training set's order (not shuffled), cut into ``batch_size`` = 10 rows of
       consecutive epochs walked side by side ``seq_len`` = 25 epochs a step (:func:`night_rows`),
       the LSTM state of both directions carried from one step to the next and reset at each night;
       loss: cross-entropy summed over the sequence, averaged over the rows
       (``sequence_loss_by_example`` / batch), + the same L2 term; one Adam (betas 0.9 / 0.999,
       eps 1e-8, fresh moments) at ``cnn_lr`` = 1e-6 on the CNNs' parameters and ``lr`` = 1e-4 on
       the rest (``adam_clipping_list_lr``); gradients clipped to a global norm of ``grad_clip`` =
       10 over all parameters; ``max_passes`` = 200 passes (the authors' ``finetune_epochs``).
    3. **Prediction** (validation and test, ``predict.py``): each night as consecutive sequences of
       ``seq_len`` epochs, batch 1, the state of both directions carried.

    No class weights and no augmentation (the authors have none beyond the oversampling).
    ``steps_per_pass`` (None) caps the steps of a pass in both stages, for tests only; the
    pre-training pass's steps depend on the oversampled set's size, the fine-tuning pass's on the
    nights' lengths.

    Deviations from the authors' code (github.com/akaraspt/deepsleepnet), each with its reason:

    * model selection: the authors keep the weights after the last of their 200 fine-tuning
      epochs, with no selection (they print the held-out subject's scores while training; their
      reply in issue #19 of the repository says the last epoch's model is the one reported); here
      the fine-tuning pass with the best validation macro-F1 on the fold's validation subjects is
      kept and training stops after ``patience`` passes without a better one: the harness's rule
      for every entry. ``patience`` defaults to ``max_passes`` (200), so the default budget never
      stops early, as the authors';
    * no LSTM peepholes, and the forget-gate bias 1 is a trainable initial value rather than TF's
      constant: ``torch.nn.LSTM`` has neither peepholes nor a constant forget bias (it has two bias
      vectors per cell, hence 2,048 more parameters than the authors' graph);
    * a night too short for ``batch_size`` rows of ``seq_len`` epochs is cut into fewer rows
      (:func:`night_rows`) where the authors' code raises an error, and the loss is averaged over
      the rows used; prediction scores every epoch where the authors' ``predict.py`` drops the
      last ``n mod 25`` epochs of a night: every epoch must be scored here;
    * BatchNorm statistics are re-estimated before each validation and after training on
      ``precise_bn_epochs`` = 1024 training epochs (a fixed seeded sample) with dropout off
      ("precise BN", Wu & Johnson 2021; 0 turns it off), because the authors' moving averages
      (decay 0.999) trail the weights by about a thousand steps, which a short budget never
      reaches, and are taken under dropout.
    """

    #: Fine-tuning walks ``batch_size`` rows of one night ``seq_len`` epochs a step: about
    #: sum(n) / (batch_size x seq_len) steps a pass, the "windows" rule's count (pre-training adds
    #: its own steps, which the cost plan's rule does not count).
    pass_steps_rule = "windows"
    epoch_seconds = 30.0
    cost_left_out = ("its CNN pre-training passes (over a class-balanced, oversampled copy of the "
                     "training epochs, batches of 100) are not counted, and its step time is a median "
                     "over both stages' steps: a rough projection")

    reported = (
        Reported(
            source="Supratak et al. 2017, abstract (Sleep-EDF, Fpz-Cz)",
            cite="supratak2017deepsleepnet",
            dataset="Sleep-EDF-20 (SC, Fpz-Cz)",
            accuracy=0.820, macro_f1=0.769, kappa=None,
            folds="20-fold subject-wise CV (one subject per fold)",
            wake_trimming="30 min before and after sleep",
            data_version="Sleep-EDF Expanded 2013, SC subjects 0-19 (39 nights)",
            selection="none: the weights after a fixed 100 pre-training + 200 fine-tuning epochs",
            note="kappa not verified from the paper's text here; the authors' code holds out one subject "
                 "per fold and has no validation subjects",
        ),
    )

    def __init__(self, seq_len: int = 25, batch_size: int = 10, max_passes: int = 200,
                 pretrain_passes: int | None = None, pretrain_batch_size: int = 100,
                 steps_per_pass: int | None = None, lr: float = 1e-4, cnn_lr: float = 1e-6,
                 pretrain_lr: float = 1e-4, weight_decay: float = 1e-3, grad_clip: float = 10.0,
                 patience: int = 200, dropout: float = 0.5, precise_bn_epochs: int = 1024, seed: int = 0):
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.max_passes = max_passes
        self.pretrain_passes = pretrain_passes
        self.pretrain_batch_size = pretrain_batch_size
        self.steps_per_pass = steps_per_pass
        self.lr = lr
        self.cnn_lr = cnn_lr
        self.pretrain_lr = pretrain_lr
        self.weight_decay = weight_decay
        self.grad_clip = grad_clip
        self.patience = patience
        self.dropout = dropout
        self.precise_bn_epochs = precise_bn_epochs
        self.seed = seed

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        """A :class:`DeepSleepNetModule`: [batch, seq_len, n_channels, n_samples] µV -> [batch, seq_len, 5].

        The sampling rate is inferred from 30-s epochs (``n_samples / 30``) to size the first convs.
        """
        module = DeepSleepNetModule(n_channels, n_samples, sfreq=n_samples / 30.0, dropout=self.dropout)
        module.bn_sample = getattr(self, "_bn_sample", None)
        return module

    def n_pretrain_passes(self) -> int:
        """Pre-training passes: ``pretrain_passes``, or half of ``max_passes`` rounded up when None."""
        if self.pretrain_passes is None:
            return -(-int(self.max_passes) // 2)
        return int(self.pretrain_passes)

    def fit(self, train, valid):
        fit_with_precise_bn(self, train, valid, super().fit)
        return self


    def _l2(self, module: DeepSleepNetModule) -> torch.Tensor:
        return self.weight_decay * 0.5 * sum((w ** 2).sum() for w in module.l2_weights())

    # --- stage 1: pre-training of the CNNs ------------------------------------------------------

    def pretrain(self, train: EpochSet, rng: np.random.Generator) -> dict:
        """Stage 1 (see the class docstring); returns its report: passes, steps, loss per pass."""
        module = self.module_
        device = module_device(module)
        head = nn.Linear(module.n_features, N_CLASSES).to(device)  # the DeepFeatureNet softmax layer
        with torch.no_grad():
            he_init_(head)
        opt = torch.optim.Adam([*module.cnn_parameters(), *head.parameters()], lr=self.pretrain_lr,
                               betas=(0.9, 0.999), eps=1e-8)
        pool = oversample(train.y, rng)
        bs = max(1, min(int(self.pretrain_batch_size), len(pool)))
        n_steps = len(pool) // bs
        if self.steps_per_pass:
            n_steps = min(n_steps, int(self.steps_per_pass))
        history, steps_run = [], 0
        for p in range(self.n_pretrain_passes()):
            module.train()
            order = rng.permutation(pool)
            total = 0.0
            for s in range(n_steps):
                idx = np.sort(order[s * bs:(s + 1) * bs])  # sorted: a contiguous-ish read; the batch is a set
                xb = torch.from_numpy(train.x[idx]).to(device)
                yb = torch.from_numpy(train.y[idx].astype(np.int64)).to(device)
                with autocast(device):
                    logits = head(module.features(xb))
                loss = nn.functional.cross_entropy(logits.float(), yb) + self._l2(module)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            steps_run += n_steps
            history.append({"pass": p + 1, "loss": total / max(n_steps, 1)})
        return {"passes_run": len(history), "steps_per_pass": n_steps, "steps_run": steps_run,
                "batch_size": bs, "oversampled_epochs": int(len(pool)), "history": history}

    # --- stage 2: fine-tuning on sequences ------------------------------------------------------

    def train_module(self, train: EpochSet, valid: EpochSet) -> dict:
        """Pre-training, then fine-tuning (see the class docstring); returns the training report
        (:meth:`PassTracker.finish`'s, with the pre-training's under ``"pretraining"``)."""
        module, recipe = self.module_, self.recipe()
        device = module_device(module)
        rng = np.random.default_rng(self.seed)
        pretraining = self.pretrain(train, rng)

        cnn = module.cnn_parameters()
        cnn_ids = {id(p) for p in cnn}
        rest = [p for p in module.parameters() if id(p) not in cnn_ids]
        opt = torch.optim.Adam([{"params": cnn, "lr": self.cnn_lr}, {"params": rest, "lr": self.lr}],
                               betas=(0.9, 0.999), eps=1e-8)
        x, y = train.x, train.y
        sl, bs = int(self.seq_len), int(self.batch_size)
        plan = [(a, *night_rows(b - a, bs, sl)) for a, b in train.spans()]
        cap = self.steps_per_pass or None
        n_steps = sum(steps for *_, steps in plan)
        tracker = PassTracker(module, recipe, min(n_steps, cap) if cap else n_steps, validation=len(valid) > 0)
        for _ in range(int(self.max_passes)):
            module.train()
            steps, total, seen = 0, 0.0, 0
            for a, rows, row_len, n_night_steps in plan:
                if cap and steps >= cap:
                    break
                state = None  # a new night: zero state (both directions)
                width = min(sl, row_len)
                for s in range(n_night_steps):
                    if cap and steps >= cap:
                        break
                    idx = a + np.arange(rows)[:, None] * row_len + s * width + np.arange(width)[None]
                    xt = torch.from_numpy(x[idx]).to(device)
                    yt = torch.from_numpy(y[idx].astype(np.int64)).to(device)
                    with autocast(device):
                        logits, state = module.forward_stateful(xt, state)
                    state = tuple(tuple(t.detach() for t in st) for st in state)  # carry values only
                    ce = nn.functional.cross_entropy(logits.float().reshape(-1, N_CLASSES), yt.reshape(-1),
                                                     reduction="sum") / rows
                    loss = ce + self._l2(module)
                    opt.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(module.parameters(), self.grad_clip)
                    opt.step()
                    total += float(loss.detach()) * rows
                    seen += rows
                    steps += 1
            val_f1 = validation_macro_f1(valid, self.predict_proba(valid)) if len(valid) else None
            if tracker.end_pass(total / max(seen, 1), val_f1, steps=steps):
                break
        return {**tracker.finish(), "pretraining": pretraining}

    @torch.no_grad()
    def predict_proba(self, data: EpochSet) -> np.ndarray:
        """Class probabilities [n_epochs, 5]: each night as consecutive ``seq_len``-epoch
        sequences, the state of both directions carried (``predict.py``)."""
        module = self.module_
        module.eval()
        device = module_device(module)
        proba = np.zeros((len(data), N_CLASSES), dtype=np.float32)
        for a, b in data.spans():
            with autocast(device):
                logits = module.predict_night(torch.from_numpy(data.x[a:b]).to(device), int(self.seq_len))
            proba[a:b] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return proba
