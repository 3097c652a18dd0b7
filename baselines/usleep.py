"""U-Sleep (Perslev et al., 2021), written from the paper and its authors' code, trained with their recipe.

Perslev M, Darkner S, Kempfner L, Nikolic M, Jennum PJ, Igel C. *U-Sleep: resilient high-frequency
sleep staging.* npj Digital Medicine 4:72, 2021. doi:10.1038/s41746-021-00440-5.

The authors' code is github.com/perslev/U-Time (TensorFlow/Keras; snapshot read: commit
``e51be3fc9e44``, 2024-08-08) and, for the signal preprocessing it calls, github.com/perslev/psg-utils.
Every recipe detail below names the file it was read from; ``hparams.yaml`` is
``utime/bin/defaults/usleep/hparams.yaml``, the configuration U-Sleep was trained with. This file is
an independent PyTorch implementation; none of the authors' code is copied.

The published U-Sleep weights are not used: they were trained on 16 cohorts that include Sleep-EDF
(``hparams.yaml`` lists ``sedf_sc`` and ``sedf_st`` among the training sets), so they have seen
the test subjects of this benchmark's folds. Here U-Sleep trains on each fold's training subjects
only, like every entry.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sleepbench.benchmark.device import autocast
from sleepbench.benchmark.epochs import N_CLASSES, EpochSet
from sleepbench.benchmark.registry import Reported, register
from sleepbench.benchmark.training import DeepEntry, PassTracker, module_device, validation_macro_f1

#: Parameters of the authors' USleep (``utime/models/usleep.py``) at their hparams (depth 12, 5
#: initial filters, complexity factor 1.67, kernel 9, 5 classes, transition window 1) with ONE input
#: channel: 3,114,283 trainable parameters (conv kernels and biases, BatchNorm gamma and beta).
#: Counted analytically by following the layer definitions of ``USleep.create_encoder``,
#: ``create_upsample``, ``create_dense_modeling`` and ``create_seq_modeling`` (widths
#: ``int(filters * sqrt(1.67))``, filters ``int(f * sqrt 2)`` down, ``ceil(f / sqrt 2)`` up), in a
#: script kept outside the repository. The input length does not enter the count.
REFERENCE_PARAMS_1CH = 3_114_283
#: The same at the authors' input configuration, TWO channels (one EEG, one EOG, 128 Hz): 3,114,337
#: trainable. Keras' ``count_params`` (printed by their ``USleep.log``) adds the 5,014 BatchNorm
#: moving means and variances: 3,119,351, the paper's "3.1 M".
REFERENCE_PARAMS_2CH = 3_114_337

#: Keras BatchNormalization defaults (the authors' layers): epsilon 1e-3, momentum 0.99 (PyTorch: 0.01)
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


class USleepModule(nn.Module):
    """U-Sleep: a fully convolutional encoder-decoder with a segment classifier (Perslev et al. 2021).

    Input ``x``: [batch, seq_len, n_channels, n_samples] float32, each recording already clipped and
    robust-scaled by the entry (:meth:`USleep.scaled`; the authors scale in their data loader).
    Output: logits [batch, seq_len, 5] (W, N1, N2, N3, REM); the authors' last layer applies the
    softmax, here the loss and the prediction do.

    The ``seq_len`` epochs of a window are one continuous signal of ``seq_len * n_samples`` samples
    (the authors' ``InputReshape``). As in ``utime/models/usleep.py``:

    * encoder, ``depth`` = 12 levels: conv (kernel 9, "same") -> ELU -> BatchNorm; when the length
      is odd, one zero is padded at its start (``PadStartToEvenLength``); this (padded) output is
      the skip connection; max-pool 2. Level ``i`` has ``int(f_i * sqrt(cf))`` filters with
      ``f_0 = init_filters`` = 5, ``f_{i+1} = int(f_i * sqrt 2)`` and complexity factor ``cf`` = 1.67:
      6, 9, 11, 15, 20, 28, 40, 55, 77, 108, 152, 214; bottom: conv -> ELU -> BatchNorm, 302 filters;
    * decoder, ``depth`` levels (``f <- ceil(f / sqrt 2)``, the same widths upwards): nearest
      upsampling x2 -> conv (kernel 2, TF "same": one zero after) -> ELU -> BatchNorm -> cropped to
      the skip's length (``CropToMatch``: from ``diff // 2 + diff % 2``) -> concatenated after the
      skip -> conv (kernel 9) -> ELU -> BatchNorm;
    * segment classifier: 1x1 conv to ``int(5 * sqrt(cf))`` = 6 channels, tanh (the dense
      per-sample stage scores) -> mean-pool over each epoch's ``n_samples`` samples (valid pooling
      from the start) -> 1x1 conv 5, ELU -> 1x1 conv 5 (``transition_window`` = 1).

    On 100 Hz input a window of 35 epochs is 105,000 samples: the lengths through the encoder are
    105000, 52500, 26250, 13125 (padded to 13126), 6563 (6564), 3282, 1641 (1642), 821 (822),
    411 (412), 206, 103 (104), 52 and 26 at the bottom; the decoder crops back level by level, so
    the output has exactly 105,000 samples and pools to 35 epochs, as on the authors' 128 Hz input
    (3840 samples per epoch). The filter counts, hence the parameters, do not depend on the length.

    Initialisation as Keras: conv kernels Glorot-uniform, biases zero (``kernel_initializer`` and
    ``bias_initializer`` of ``USleep.__init__``); BatchNorm epsilon 1e-3, momentum 0.99.
    """

    def __init__(self, n_channels: int, n_samples: int, depth: int = 12, init_filters: int = 5,
                 complexity_factor: float = 1.67, kernel_size: int = 9):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"usleep: kernel_size must be odd (TF 'same' padding), got {kernel_size}")
        self.n_samples, self.kernel_size = int(n_samples), int(kernel_size)
        cf = np.sqrt(complexity_factor)

        def block(k, c_in, c_out):
            return nn.ModuleDict({"conv": nn.Conv1d(c_in, c_out, k),
                                  "bn": nn.BatchNorm1d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)})

        filters, c_in, skips = init_filters, n_channels, []
        self.encoder = nn.ModuleList()
        for _ in range(depth):
            c = int(filters * cf)
            self.encoder.append(block(kernel_size, c_in, c))
            skips.append(c)
            c_in, filters = c, int(filters * np.sqrt(2))
        c = int(filters * cf)
        self.bottom = block(kernel_size, c_in, c)
        c_in = c
        self.up = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for skip in skips[::-1]:
            filters = int(np.ceil(filters / np.sqrt(2)))
            c = int(filters * cf)
            self.up.append(block(2, c_in, c))
            self.decoder.append(block(kernel_size, skip + c, c))
            c_in = c
        c = int(N_CLASSES * cf)
        self.dense = nn.Conv1d(c_in, c, 1)
        self.seq1 = nn.Conv1d(c, N_CLASSES, 1)
        self.seq2 = nn.Conv1d(N_CLASSES, N_CLASSES, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.xavier_uniform_(m.weight)  # Glorot uniform over (k c_in, k c_out), as Keras
                nn.init.zeros_(m.bias)

    def _block(self, blk: nn.ModuleDict, z: torch.Tensor, pad: tuple[int, int]) -> torch.Tensor:
        """conv (zero padding ``pad``) -> ELU -> BatchNorm: the authors' Conv2D(activation=elu) + BN."""
        return blk["bn"](F.elu(blk["conv"](F.pad(z, pad))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, seq_len, n_channels, n_samples] (scaled) -> logits [batch, seq_len, 5]."""
        b, t, c, s = x.shape
        z = x.permute(0, 2, 1, 3).reshape(b, c, t * s)
        same = (self.kernel_size // 2, self.kernel_size // 2)
        skips = []
        for blk in self.encoder:
            z = self._block(blk, z, same)
            if z.shape[-1] % 2:
                z = F.pad(z, (1, 0))  # PadStartToEvenLength
            skips.append(z)
            z = F.max_pool1d(z, 2)
        z = self._block(self.bottom, z, same)
        for up, dec, skip in zip(self.up, self.decoder, skips[::-1]):
            z = self._block(up, z.repeat_interleave(2, dim=-1), (0, 1))  # TF "same", kernel 2
            n = skip.shape[-1]
            diff = max(0, z.shape[-1] - n)
            start = diff // 2 + diff % 2  # CropToMatch
            z = self._block(dec, torch.cat([skip, z[..., start:start + n]], dim=1), same)
        z = torch.tanh(self.dense(z))
        z = F.avg_pool1d(z, self.n_samples)  # one mean per epoch ([b, 6, t])
        z = self.seq2(F.elu(self.seq1(z)))
        return z.transpose(1, 2)


def robust_stats(x: np.ndarray, clip_iqr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The authors' per-recording preprocessing statistics of ``x`` [n_epochs, C, S] (µV).

    ``clip_noisy_values`` (psg-utils ``preprocessing/quality_control_funcs.py``, set in every U-Sleep
    dataset configuration with ``min_max_times_global_iqr: 20``) clips each channel to +-20 x its
    interquartile range; then ``RobustScaler`` (sklearn, per channel, psg-utils
    ``preprocessing/scaling.py``; ``scaler: "RobustScaler"``) subtracts the median and divides by
    the interquartile range of the clipped channel (a zero range scales by 1, as sklearn).
    Returns ``(threshold, median, iqr)``, each [C].
    """
    flat = np.asarray(x, np.float64).transpose(1, 0, 2).reshape(x.shape[1], -1)
    q25, q75 = np.percentile(flat, [25, 75], axis=1)
    thr = clip_iqr * (q75 - q25)
    clipped = np.clip(flat, -thr[:, None], thr[:, None])
    q25, med, q75 = np.percentile(clipped, [25, 50, 75], axis=1)
    iqr = q75 - q25
    return thr, med, np.where(iqr > 0, iqr, 1.0)


@register("usleep")
class USleep(DeepEntry):
    """U-Sleep fully convolutional encoder-decoder (Perslev et al. 2021), trained with the authors' recipe.

    Architecture: :class:`USleepModule` (depth 12, kernel 9, ELU, BatchNorm, max-pool 2, nearest
    upsampling with skip connections, a segment classifier that pools one score per 30-s epoch):
    3,114,283 parameters with one EEG channel; 3,114,337 at the authors' two channels (EEG + EOG at
    128 Hz), which equals their model's trainable count (see ``REFERENCE_PARAMS_*``). The input
    rate enters only the mean-pool of the segment classifier (``n_samples`` per epoch: 3000 here,
    3840 at their 128 Hz).

    Input preprocessing (the authors' data loader, psg-utils ``dataset/sleep_study/sleep_study.py``):
    each recording, each channel: clipped to +-``clip_iqr`` = 20 x its interquartile range, then
    median-centred and divided by the interquartile range of the clipped signal
    (:func:`robust_stats`). The statistics are the recording's own, also for validation and test
    recordings (no labels are used), as in the authors' code.

    Recipe (``hparams.yaml`` and the code it names):

    * Adam, lr ``lr`` = 1e-7, ``amsgrad`` = True, betas 0.9 / 0.999, epsilon 1e-8, constant rate,
      no weight decay (``l2_reg: Null``), no gradient clipping (``fit.optimizer_kwargs``; the
      U-Time README calls 1e-7 the exact U-Sleep setting);
    * loss: cross-entropy averaged over every epoch of the batch, unweighted
      (``SparseCategoricalCrossentropy``);
    * batches of ``batch_size`` = 64 windows of ``seq_len`` = 35 consecutive epochs (``margin: 17``:
      2 x 17 + 1), drawn with replacement at every step by class-balanced sampling
      (``balanced_sampling: True``; ``utime/sequences/balanced_random_batch_sequence.py``): a class
      uniformly at random, a training recording uniformly at random (redrawn until it holds that
      class), an epoch of that class in it uniformly at random, moved by a uniform random
      -17..+17 epochs, and the window of 35 epochs centred on it, shifted to lie inside the
      recording (``get_period(allow_shift_at_border=True)``, ``utime/sequences/batch_sequence.py``).
      ``balanced_sampling`` = False draws a recording and an epoch uniformly instead
      (``random_batch_sequence.py``);
    * a pass (the authors' "epoch") is ``ceil(int(n_train_epochs / seq_len) / batch_size)`` steps:
      their ``get_samples_per_epoch`` (``utime/utils/scriptutils/train.py``) covers the data once
      in expectation (below their 5e5-epoch cap, which no Sleep-EDF fold reaches);
    * augmentation, each window independently (``hparams.yaml`` ``augmenters``,
      ``utime/augmentation/augmenters.py``): ``RegionalErase`` with probability ``erase_prob`` =
      0.1: a region of the window's continuous signal, its length a log-uniform fraction in
      [``erase_min``, ``erase_max``] = [0.001, 0.33] of the window, at a uniform start (wrapping to
      the window's start), replaced in all channels by Gaussian noise of the window's mean and
      s.d. 0.01; ``ChannelDropout`` with probability ``channel_dropout_prob`` = 0.1: ``max(1,
      int(C x 0.5))`` channels replaced by Gaussian noise of their mean and s.d. 0.01;
    * validation after each pass as the authors' ``Validation`` callback
      (``utime/callbacks/callbacks.py``): each validation recording cut into consecutive
      non-overlapping windows of ``seq_len`` epochs; the criterion is the harness's macro-F1
      (the authors' ``val_dice``, the mean per-class F1, is the same number over a pooled set);
    * prediction (test) as the authors' ``ut predict`` (``utime/bin/predict.py``,
      ``sequence_predict_generator`` with ``overlapping=True``): a window of ``seq_len`` epochs at
      every epoch offset (stride 1), the softmax outputs summed over the windows that cover an
      epoch (here divided by their number: the same argmax). With one channel there is a single
      channel group, so no vote across groups.

    Budget: ``max_passes`` = 12000 passes (``n_epochs: 12000``) and ``patience`` = 200 passes
    without a better validation F1 (``EarlyStopping(monitor="val_dice", patience=200)``); the best
    pass is kept (the U-Time README: use the model with the highest validation mean F1).
    ``steps_per_pass`` (None) caps the steps of a pass, for tests only.

    Deviations from the authors' code, each with its reason:

    * data: one EEG channel (Fpz-Cz) at 100 Hz, this benchmark's input, instead of one EEG and one
      EOG channel at 128 Hz drawn from channel groups; the architecture is unchanged (the first
      conv has one input channel; the segment classifier pools 3000 samples per epoch);
    * training data: each fold's training subjects only, for a fixed budget in passes, instead of
      16 cohorts sampled by dataset (``dataset_sample_alpha`` 0.5), because every entry trains on
      the fold; the published weights are not used (they were trained on Sleep-EDF);
    * ``ChannelDropout`` is skipped when the input has one channel: the authors' code raises an
      error there (it would drop the only channel);
    * a class absent from every training recording is left out of the balanced sampling (the
      authors' sampler stops with an error after 1000 tries); training recordings shorter than
      ``seq_len`` epochs are not sampled (the authors' sampler rejects them); windows of an even
      ``seq_len`` (tests only) put the sampled epoch at ``seq_len // 2``;
    * model selection and early stopping on the harness's macro-F1 of every validation epoch (the
      same rule for every entry); the authors' validation drops each recording's last partial
      window, here a last window aligned to the recording's end covers it (the harness scores
      every epoch); the authors validate on at most 20 recordings per dataset, here on all;
    * a recording shorter than ``seq_len`` epochs is predicted as one window of its own length
      (the network is fully convolutional; the authors' sliding window needs ``seq_len`` epochs);
    * Adam's epsilon: PyTorch adds it to the bias-corrected root of the second moment, Keras to the
      uncorrected one (a difference of at most a factor ``sqrt(1 - 0.999^t)`` on a 1e-8 term).
    """

    pass_steps_rule = "windows"  # ceil(n_epochs / seq_len / batch_size), within a step of the harness's rule

    #: not evaluated on this benchmark's protocol: see ``note``
    reported = (Reported(
        source="Perslev et al. 2021 (npj Digit. Med. 4:72)",
        cite="perslev2021usleep",
        dataset="Sleep-EDF SC (Fpz-Cz, Pz-Oz, EOG; 128 Hz)",
        accuracy=None, macro_f1=None, kappa=None,
        folds="one fixed split of the SC subjects (15 % test, 10 % validation), "
              "trained jointly with 15 other cohorts",
        wake_trimming="not verified",
        data_version="Sleep-EDF Expanded (sleep-cassette, all subjects; U-Time resources/"
                     "usleep_dataset_prep/sedf-sc.md)",
        selection="best validation mean F1 over the cohorts",
        note="No figure given: the paper reports per-cohort F1 scores (no accuracy or kappa) of one "
             "model trained on 16 cohorts, on a fixed test split rather than 20-fold subject-wise "
             "CV on Sleep-EDF-20; and its text could not be read here to verify the SEDF-SC "
             "figure."),)

    def __init__(self, seq_len: int = 35, batch_size: int = 64, max_passes: int = 12000,
                 patience: int = 200, steps_per_pass: int | None = None, lr: float = 1e-7,
                 amsgrad: bool = True, depth: int = 12, init_filters: int = 5,
                 complexity_factor: float = 1.67, kernel_size: int = 9,
                 balanced_sampling: bool = True, erase_prob: float = 0.1, erase_min: float = 0.001,
                 erase_max: float = 0.33, channel_dropout_prob: float = 0.1,
                 channel_dropout_fraction: float = 0.5, clip_iqr: float = 20.0, seed: int = 0):
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.max_passes = max_passes
        self.patience = patience
        self.steps_per_pass = steps_per_pass
        self.lr = lr
        self.amsgrad = amsgrad
        self.depth = depth
        self.init_filters = init_filters
        self.complexity_factor = complexity_factor
        self.kernel_size = kernel_size
        self.balanced_sampling = balanced_sampling
        self.erase_prob = erase_prob
        self.erase_min = erase_min
        self.erase_max = erase_max
        self.channel_dropout_prob = channel_dropout_prob
        self.channel_dropout_fraction = channel_dropout_fraction
        self.clip_iqr = clip_iqr
        self.seed = seed

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        """A :class:`USleepModule`: [batch, seq_len, n_channels, n_samples] scaled -> [batch, seq_len, 5]."""
        return USleepModule(n_channels, n_samples, depth=int(self.depth), init_filters=int(self.init_filters),
                            complexity_factor=float(self.complexity_factor), kernel_size=int(self.kernel_size))

    # --- preprocessing -------------------------------------------------------------------------------


    def scaled(self, data: EpochSet, a: int, b: int) -> np.ndarray:
        """Epochs ``a:b`` of one recording [n, C, S], clipped and robust-scaled by its own statistics."""
        thr, med, iqr = robust_stats(data.x[a:b], float(self.clip_iqr))
        x = np.clip(data.x[a:b], -thr[None, :, None], thr[None, :, None])
        return ((x - med[None, :, None]) / iqr[None, :, None]).astype(np.float32)

    # --- the authors' sampler and augmentation ---------------------------------------------------------

    def _window(self, rng: np.random.Generator, recs: list[tuple[np.ndarray, np.ndarray]],
                by_class: list[list[np.ndarray]], classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One training window ([L, C, S], [L]) drawn as the authors' sampler draws it."""
        L = int(self.seq_len)
        margin = (L - 1) // 2
        if self.balanced_sampling:
            cls = int(classes[rng.integers(len(classes))])
            while True:  # terminates: every class in ``classes`` occurs in some recording
                r = int(rng.integers(len(recs)))
                inds = by_class[r][cls]
                if len(inds):
                    break
            idx = int(inds[rng.integers(len(inds))]) + int(rng.integers(-margin, margin + 1))
        else:
            r = int(rng.integers(len(recs)))
            idx = int(rng.integers(len(recs[r][1])))
        x, y = recs[r]
        start = min(max(idx - L // 2, 0), len(y) - L)
        return x[start:start + L].copy(), y[start:start + L]

    def _augment(self, rng: np.random.Generator, w: np.ndarray) -> None:
        """RegionalErase, then ChannelDropout, on one window [L, C, S] in place (see the class docstring)."""
        L, C, S = w.shape
        if self.erase_prob and rng.random() <= self.erase_prob:
            flat = w.transpose(0, 2, 1).reshape(-1, C)  # the window's continuous signal [L S, C] (a copy)
            n = len(flat)
            start = int(rng.integers(n))
            lo, hi = np.log10(self.erase_min), np.log10(self.erase_max)
            length = int(10 ** rng.uniform(lo, hi) * n)
            noise = rng.normal(float(flat.mean()), 0.01, size=(length, C))
            idx = (start + np.arange(length)) % n  # wraps to the start, as the authors' augmenter
            flat[idx] = noise
            w[:] = flat.reshape(L, S, C).transpose(0, 2, 1)
        if self.channel_dropout_prob and C > 1 and rng.random() <= self.channel_dropout_prob:
            n_drop = max(int(C * self.channel_dropout_fraction), 1)
            if n_drop < C:
                for ch in rng.choice(C, n_drop, replace=False):
                    w[:, ch] = rng.normal(float(w[:, ch].mean()), 0.01, size=(L, S))

    # --- training ------------------------------------------------------------------------------------

    def train_module(self, train: EpochSet, valid: EpochSet) -> dict:
        """The authors' training (see the class docstring); returns the training report."""
        module, recipe = self.module_, self.recipe()
        device = module_device(module)
        rng = np.random.default_rng(self.seed)
        L, bs = int(self.seq_len), int(self.batch_size)
        recs = [(self.scaled(train, a, b), train.y[a:b].astype(np.int64))
                for a, b in train.spans() if b - a >= L]
        if not recs:
            raise ValueError(f"usleep: no training recording has seq_len = {L} epochs")
        by_class = [[np.flatnonzero(y == k) for k in range(N_CLASSES)] for _, y in recs]
        classes = np.array([k for k in range(N_CLASSES) if any(len(c[k]) for c in by_class)])
        steps = max(1, math.ceil(int(len(train) / L) / bs))
        if self.steps_per_pass:
            steps = min(steps, int(self.steps_per_pass))
        opt = torch.optim.Adam(module.parameters(), lr=self.lr, betas=(0.9, 0.999), eps=1e-8,
                               amsgrad=bool(self.amsgrad))
        tracker = PassTracker(module, recipe, steps, validation=len(valid) > 0)
        for _ in range(int(self.max_passes)):
            module.train()
            total = 0.0
            for _ in range(steps):
                xb, yb = zip(*(self._window(rng, recs, by_class, classes) for _ in range(bs)))
                xb = np.stack(xb)
                for w in xb:
                    self._augment(rng, w)
                xt = torch.from_numpy(xb).to(device)
                yt = torch.from_numpy(np.stack(yb)).to(device)
                with autocast(device):
                    logits = module(xt)
                loss = F.cross_entropy(logits.float().reshape(-1, N_CLASSES), yt.reshape(-1))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
            val_f1 = validation_macro_f1(valid, self._proba(valid, stride=L)) if len(valid) else None
            if tracker.end_pass(total / steps, val_f1, steps=steps):
                break
        return tracker.finish()

    # --- prediction ----------------------------------------------------------------------------------

    @torch.no_grad()
    def _proba(self, data: EpochSet, stride: int, batch: int = 16) -> np.ndarray:
        """Class probabilities [n_epochs, 5]: windows of ``seq_len`` epochs every ``stride`` epochs
        (and one aligned to each recording's end), softmax averaged over the windows of an epoch."""
        module = self.module_
        module.eval()
        device = module_device(module)
        L = int(self.seq_len)
        proba = np.zeros((len(data), N_CLASSES), dtype=np.float32)
        for a, b in data.spans():
            x = self.scaled(data, a, b)
            n = b - a
            if n <= L:
                starts, width = [0], n
            else:
                starts, width = list(range(0, n - L + 1, stride)), L
                if starts[-1] != n - L:
                    starts.append(n - L)
            acc = np.zeros((n, N_CLASSES), np.float64)
            count = np.zeros(n, np.float64)
            for i in range(0, len(starts), batch):
                s = np.asarray(starts[i:i + batch])
                xb = torch.from_numpy(x[s[:, None] + np.arange(width)[None]]).to(device)
                with autocast(device):
                    p = torch.softmax(module(xb).float(), dim=-1).cpu().numpy()
                for j, st in enumerate(s):
                    acc[st:st + width] += p[j]
                    count[st:st + width] += 1
            proba[a:b] = acc / count[:, None]
        return proba

    def predict_proba(self, data: EpochSet) -> np.ndarray:
        """Class probabilities [n_epochs, 5], the authors' sliding-window prediction (stride 1)."""
        return self._proba(data, stride=1)
