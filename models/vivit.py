"""ViViT (Arnab et al., 2021, ICCV) on log-power spectrogram "videos" of EEG, and its entries.

Reference: Arnab A, Dehghani M, Heigold G, Sun C, Lučić M, Schmid C (2021). ViViT: A Video Vision
Transformer. ICCV, pp. 6836-6846 (arXiv:2103.15691). Model 1 ("spatio-temporal attention") is
``attention="joint"``; model 2 ("factorised encoder") is ``attention="factorised"``; the tubelet
embedding (their Fig. 3) is an ``nn.Conv3d`` whose kernel equals its stride.

Differences from the project this benchmark re-implements (kept on purpose): the whole 30-s epoch
is used (the origin fed only its first 20 s), and inputs are never min-max scaled per epoch (that
erases amplitude, i.e. the > 75 µV slow-wave criterion of N3). The module takes raw µV and computes
a log-power spectrogram (µV²/Hz, log10 with an offset, then an affine map), so scaling the signal
by ``a`` shifts every feature by the same ``2 log10(a) / log_std``: amplitude stays visible to the
network. The offset and the affine map are **fitted by each entry on its fold's training epochs**
(:func:`fit_input_scaling`, stored as the fitted attribute ``input_scaling_``), never constants
chosen on a recording: the test subjects do not influence them.

Two layouts of the "video" (see :class:`ViViTModule`):

* ``"context"`` (default entry ``vivit``): ``seq_len`` consecutive epochs, one frame per epoch;
  every epoch of the window is predicted;
* ``"seed"`` (entry ``vivit-seed``): one epoch cut into 12 overlapping 2.56-s windows, one frame per
  window, one prediction per epoch (the origin project's layout, minus its 20-s crop and scaling).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sleepbench.benchmark.epochs import N_CLASSES
from sleepbench.benchmark.registry import register, register_variant
from sleepbench.benchmark.training import DeepEntry, predict_module

LAYOUTS = ("context", "seed")
ATTENTIONS = ("factorised", "joint")
POOLS = ("mean", "cls")

#: Default tubelet (frames t, frequency bins f, STFT time steps tau) per layout.
DEFAULT_TUBELET = {"context": (1, 20, 5), "seed": (2, 19, 5)}

#: Placeholder spectrogram scaling of a module built outside an entry (unit tests, speed
#: benchmarks): log10(PSD + LOG_OFFSET) unshifted and unscaled. Entries never use it: they fit the
#: three numbers on each fold's training data (:func:`fit_input_scaling`).
LOG_OFFSET = 1e-3
LOG_MEAN = 0.0
LOG_STD = 1.0
#: Quantile of the training PSD bins used as the log offset: it only floors the near-zero
#: periodogram values (the smallest 1 % of the bins), so log10 never sees 0.
OFFSET_QUANTILE = 0.01
#: Training epochs (evenly spaced) the scaling is fitted on: plenty for three numbers.
SCALING_EPOCHS = 2000


def with_extra(z: torch.Tensor, extra: torch.Tensor | None, extra_dim: int) -> torch.Tensor:
    """``z`` [batch, seq_len, D] with per-epoch ``extra`` [batch, seq_len, extra_dim] appended.

    The fusion point of the FIN-ViViT variants: the ViViTs' heads read ``D + extra_dim`` numbers
    per epoch, so a missing or misshaped ``extra`` is an error rather than a silent broadcast.
    """
    if extra_dim:
        if extra is None or extra.shape != (*z.shape[:2], extra_dim):
            raise ValueError(f"extra must be [batch, seq_len, {extra_dim}], got "
                             f"{None if extra is None else tuple(extra.shape)}")
        return torch.cat([z, extra.to(z.dtype)], dim=-1)
    if extra is not None:
        raise ValueError("extra given but the model was built with extra_dim=0")
    return z

class LogSpectrogram(nn.Module):
    """Fixed (non-learned) log-power spectrogram computed with ``torch.stft``.

    Input: ``x`` [..., n] float32 in µV (any leading dimensions).
    Output: [..., n_freqs, n_frames] float32, ``(log10(PSD + offset) - mean) / std``, PSD the
    one-sided power spectral density in µV²/Hz of each Hann-windowed segment
    (``2 |X_k|² / (sfreq * sum(w²))``), frequencies cropped to ``[fmin, fmax]``.

    Each signal's mean is removed first (``demean``): a DC offset is no EEG content, and through the
    Hann window's main lobe it would land in the 0.5-Hz bin (a flat epoch at a non-zero level would
    look like pure delta). ``pad`` samples are then reflected at both ends, so with
    ``pad = (n_fft - hop) / 2`` the frames are centred on the hop grid and the last samples of the
    signal are not dropped.
    """

    def __init__(self, sfreq: float, n_fft: int, hop: int, pad: int = 0, fmin: float = 0.5,
                 fmax: float = 30.0, log_offset: float = LOG_OFFSET, log_mean: float = LOG_MEAN,
                 log_std: float = LOG_STD, demean: bool = True):
        super().__init__()
        self.sfreq, self.n_fft, self.hop, self.pad = float(sfreq), int(n_fft), int(hop), int(pad)
        self.demean = bool(demean)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float32)
        self.register_buffer("window", window, persistent=False)
        freqs = np.arange(self.n_fft // 2 + 1) * self.sfreq / self.n_fft
        keep = np.flatnonzero((freqs >= fmin - 1e-9) & (freqs <= fmax + 1e-9))
        if keep.size == 0:
            raise ValueError(f"no STFT bin between {fmin} and {fmax} Hz (n_fft={n_fft}, sfreq={sfreq})")
        self.k_lo, self.k_hi = int(keep[0]), int(keep[-1]) + 1
        self.freqs = freqs[self.k_lo:self.k_hi]
        self.psd_scale = 2.0 / (self.sfreq * float((window ** 2).sum()))
        self.log_offset, self.log_mean, self.log_std = float(log_offset), float(log_mean), float(log_std)

    @property
    def n_freqs(self) -> int:
        return self.k_hi - self.k_lo

    def n_frames(self, n: int) -> int:
        return (n + 2 * self.pad - self.n_fft) // self.hop + 1

    def psd(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [..., n] µV -> one-sided PSD [..., n_freqs, n_frames] µV²/Hz (no log, no scaling)."""
        lead, n = x.shape[:-1], x.shape[-1]
        x = x.reshape(-1, n).float()
        if self.demean:
            x = x - x.mean(-1, keepdim=True)
        if self.pad:
            x = F.pad(x[:, None], (self.pad, self.pad), mode="reflect")[:, 0]
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window, center=False,
                          return_complex=True)[:, self.k_lo:self.k_hi]
        power = spec.real.square().add_(spec.imag.square()).mul_(self.psd_scale)
        return power.reshape(*lead, self.n_freqs, power.shape[-1])

    def log_scale(self, psd: torch.Tensor) -> torch.Tensor:
        """A :meth:`psd` -> ``(log10(PSD + offset) - mean) / std``, in place (the input never needs
        a gradient): a caller that also wants the PSD itself (FIN-ViViT) computes it once."""
        return psd.add_(self.log_offset).log10_().sub_(self.log_mean).div_(self.log_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.log_scale(self.psd(x))


def _encoder(n_layers: int, d_model: int, heads: int, dim_ff: int, dropout: float) -> nn.Module:
    """``n_layers`` pre-norm transformer layers followed by the final LayerNorm pre-norm needs."""
    layers = [nn.TransformerEncoderLayer(d_model, heads, dim_ff, dropout, activation="gelu",
                                         batch_first=True, norm_first=True)
              for _ in range(n_layers)]
    return nn.Sequential(*layers, nn.LayerNorm(d_model))


class ViViTModule(nn.Module):
    """ViViT over log-power spectrograms of raw EEG.

    Input ``x``: [batch, seq_len, n_channels, n_samples] float32 in µV (raw, unnormalised);
    optional ``extra``: [batch, seq_len, extra_dim] per-epoch features.
    Output: logits [batch, seq_len, 5] (W, N1, N2, N3, REM).

    Spectrogram video (fixed, :class:`LogSpectrogram`, 0.5-30 Hz):

    * ``layout="context"``: each of the ``seq_len`` epochs is one frame: STFT with a 2-s Hann window
      (0.5-Hz bins) and a 1-s hop over the whole epoch (reflect-padded by 0.5 s at both ends), i.e.
      60 frequency bins x 30 time steps per frame at 100 Hz. Video [batch, C, seq_len, 60, 30].
      The tubelet's frame size must be 1 (one epoch per frame token, so every epoch keeps its own
      output). ``seq_len`` (the model's maximum; shorter inputs use the first positions) is the
      window length L of consecutive epochs.
    * ``layout="seed"``: each epoch is cut into 12 windows of 2.56 s (256 samples at 100 Hz;
      starts spread evenly, hop (3000 - 256) / 11 ≈ 249.5 samples, rounded per window); each window
      is one frame, an STFT with a 1.28-s Hann window (0.78-Hz bins) and a 0.32-s hop: 38 bins
      (0.78-29.7 Hz) x 5 time steps. Video [batch * seq_len, C, 12, 38, 5]; epochs are independent
      (any ``seq_len`` works; the entry uses 1).

    Tubelet embedding: ``nn.Conv3d(C, d_model, kernel=stride=tubelet)`` over [C, frames, freq,
    time]; the image is zero-padded (after normalisation) to a multiple of the tubelet so nothing
    is dropped. It is computed as the equivalent reshape + matmul with the conv's weights (several
    times faster than ``conv3d`` on CPU for kernel = stride); ``tubelet_conv`` gives the conv result.

    Attention:

    * ``"factorised"`` (ViViT model 2, factorised encoder): a spatial transformer over each
      frame's tokens (``depth[0]`` layers; mean-pooled, or a CLS token with ``pool="cls"``), then a
      temporal transformer over the frame embeddings (``depth[1]`` layers);
    * ``"joint"`` (ViViT model 1): one transformer (``sum(depth)`` layers) over all tubelet tokens
      of the video; a frame's embedding is the mean of its tokens (context), or the video's CLS /
      mean token (seed).

    Learned positional embeddings (spatial and temporal for factorised; one per token for joint),
    pre-norm layers (``nn.TransformerEncoderLayer(norm_first=True)``, GELU, feed-forward width
    ``mlp_ratio * d_model``) with a final LayerNorm. The per-epoch embedding (:meth:`epoch_embedding`,
    [batch, seq_len, d_model]) is the temporal token of the epoch (context) or the pooled video
    (seed); ``extra`` is concatenated to it right before the linear classifier head.
    """

    def __init__(self, n_channels: int = 1, n_samples: int = 3000, sfreq: float = 100.0,
                 layout: str = "context", seq_len: int = 10, attention: str = "factorised",
                 d_model: int = 64, depth: int | Sequence[int] = (2, 1), heads: int = 4,
                 mlp_ratio: float = 2.0, tubelet: Sequence[int] | None = None, dropout: float = 0.1,
                 pool: str = "mean", extra_dim: int = 0, fmin: float = 0.5, fmax: float = 30.0,
                 log_offset: float = LOG_OFFSET, log_mean: float = LOG_MEAN, log_std: float = LOG_STD,
                 n_classes: int = N_CLASSES):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout {layout!r}: choose from {LAYOUTS}")
        if attention not in ATTENTIONS:
            raise ValueError(f"attention {attention!r}: choose from {ATTENTIONS}")
        if pool not in POOLS:
            raise ValueError(f"pool {pool!r}: choose from {POOLS}")
        depth = (int(depth), int(depth)) if isinstance(depth, (int, np.integer)) else tuple(int(d) for d in depth)
        if len(depth) != 2 or min(depth) < 0 or sum(depth) < 1:
            raise ValueError(f"depth {depth!r}: an int or (spatial, temporal) layer counts")
        tubelet = tuple(int(v) for v in (tubelet or DEFAULT_TUBELET[layout]))
        if len(tubelet) != 3 or min(tubelet) < 1:
            raise ValueError(f"tubelet {tubelet!r}: (frames, freq bins, time steps), each >= 1")
        if layout == "context" and tubelet[0] != 1:
            raise ValueError("layout 'context' predicts every epoch: the tubelet's frame size must be 1")
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not a multiple of heads {heads}")
        self.n_channels, self.n_samples, self.sfreq = int(n_channels), int(n_samples), float(sfreq)
        self.layout, self.attention, self.pool = layout, attention, pool
        self.seq_len, self.d_model, self.depth, self.tubelet = int(seq_len), int(d_model), depth, tubelet
        self.extra_dim = int(extra_dim)

        if layout == "context":
            n_fft, hop = int(round(2.0 * sfreq)), int(round(1.0 * sfreq))
            self.spectrogram = LogSpectrogram(sfreq, n_fft, hop, (n_fft - hop) // 2, fmin, fmax,
                                              log_offset, log_mean, log_std)
            n_frames, n_time = self.seq_len, self.spectrogram.n_frames(self.n_samples)
        else:
            win = int(round(2.56 * sfreq))
            if win > self.n_samples:
                raise ValueError(f"epochs of {n_samples} samples are shorter than a {win}-sample window")
            starts = np.round(np.linspace(0, self.n_samples - win, 12)).astype(np.int64)
            self.register_buffer("window_index", torch.from_numpy(starts[:, None] + np.arange(win)),
                                 persistent=False)
            n_fft, hop = int(round(1.28 * sfreq)), int(round(0.32 * sfreq))
            self.spectrogram = LogSpectrogram(sfreq, n_fft, hop, 0, fmin, fmax,
                                              log_offset, log_mean, log_std)
            n_frames, n_time = 12, self.spectrogram.n_frames(win)
        n_freq = self.spectrogram.n_freqs
        t, f, tau = tubelet
        self.grid = (-(-n_frames // t), -(-n_freq // f), -(-n_time // tau))  # tokens (nt, nf, ntau)
        self.image = (n_frames, n_freq, n_time)
        n_t, n_s = self.grid[0], self.grid[1] * self.grid[2]

        d = self.d_model
        dim_ff = int(round(mlp_ratio * d))
        self.tubelet_embed = nn.Conv3d(self.n_channels, d, kernel_size=tubelet, stride=tubelet)
        std = 0.02
        if attention == "factorised":
            self.pos_space = nn.Parameter(torch.randn(n_s, d) * std)
            self.pos_time = nn.Parameter(torch.randn(n_t, d) * std)
            self.cls_space = nn.Parameter(torch.randn(d) * std) if pool == "cls" else None
            self.spatial = _encoder(depth[0], d, heads, dim_ff, dropout)
            self.temporal = _encoder(depth[1], d, heads, dim_ff, dropout)
        else:
            self.pos_joint = nn.Parameter(torch.randn(n_t, n_s, d) * std)
            self.encoder = _encoder(sum(depth), d, heads, dim_ff, dropout)
        # video-level CLS (seed layout only: the context layout keeps one output per frame)
        self.cls_video = nn.Parameter(torch.randn(d) * std) if (layout == "seed" and pool == "cls") else None
        self.head_dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d + self.extra_dim, n_classes)

    # --- video ----------------------------------------------------------------------------------

    def video(self, x: torch.Tensor, psd: torch.Tensor | None = None) -> torch.Tensor:
        """Raw ``x`` [batch, seq_len, C, n] µV -> spectrogram video [S, C, frames, freq, time].

        ``S`` = batch (context; frames = seq_len) or batch * seq_len (seed; frames = 12).
        ``psd``: ``self.spectrogram.psd(x)`` when the caller has it (context layout; consumed).
        """
        if x.ndim != 4:
            raise ValueError(f"expected x [batch, seq_len, n_channels, n_samples], got {tuple(x.shape)}")
        b, length, c, n = x.shape
        if c != self.n_channels or n != self.n_samples:
            raise ValueError(f"built for {self.n_channels} channel(s) x {self.n_samples} samples, "
                             f"got {c} x {n}")
        x = x.float()
        if self.layout == "context":
            if length > self.seq_len:
                raise ValueError(f"seq_len {length} exceeds the model's {self.seq_len}")
            spec = self.spectrogram(x) if psd is None else self.spectrogram.log_scale(psd)
            return spec.permute(0, 2, 1, 3, 4)                           # [B, C, L, F, T]
        spec = self.spectrogram(x[..., self.window_index])               # [B, L, C, 12, F, T]
        return spec.reshape(b * length, c, *spec.shape[-3:])

    def frame_signals(self, x: torch.Tensor) -> torch.Tensor:
        """Epochs [..., n] -> what the spectrogram is taken of: the epoch (context) or its 12
        windows [..., 12, win] (seed)."""
        return x if self.layout == "context" else x[..., self.window_index]

    def set_input_scaling(self, log_offset: float, log_mean: float, log_std: float) -> None:
        """Use a fitted spectrogram scaling (see :func:`fit_input_scaling`)."""
        spec = self.spectrogram
        spec.log_offset, spec.log_mean, spec.log_std = float(log_offset), float(log_mean), float(log_std)

    def _pad_video(self, v: torch.Tensor) -> torch.Tensor:
        t, f, tau = self.tubelet
        fr, nf, nt = v.shape[-3:]
        pads = (0, -nt % tau, 0, -nf % f, 0, -fr % t)
        return F.pad(v, pads) if any(pads) else v

    def tubelet_tokens(self, v: torch.Tensor) -> torch.Tensor:
        """Video [S, C, frames, freq, time] -> tokens [S, n_t, n_f * n_tau, d_model].

        Same numbers as ``tubelet_conv`` (Conv3d with kernel = stride), as a reshape and a matmul.
        """
        v = self._pad_video(v)
        s, c, fr, nf, nt = v.shape
        t, f, tau = self.tubelet
        v = v.reshape(s, c, fr // t, t, nf // f, f, nt // tau, tau)
        v = v.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(s, fr // t, (nf // f) * (nt // tau), c * t * f * tau)
        w = self.tubelet_embed.weight
        return F.linear(v, w.reshape(w.shape[0], -1), self.tubelet_embed.bias)

    def tubelet_conv(self, v: torch.Tensor) -> torch.Tensor:
        """Reference path: ``nn.Conv3d`` on the padded video -> [S, n_t, n_f * n_tau, d_model]."""
        z = self.tubelet_embed(self._pad_video(v))                       # [S, D, nt, nf, ntau]
        return z.flatten(3).permute(0, 2, 3, 1)

    # --- encoders -------------------------------------------------------------------------------

    def _encode(self, tok: torch.Tensor) -> torch.Tensor:
        """Tokens [S, n_t, n_s, D] -> per-frame embeddings [S, n_t, D]."""
        s, n_t, n_s, d = tok.shape
        if self.attention == "factorised":
            z = (tok + self.pos_space).reshape(s * n_t, n_s, d)
            if self.cls_space is not None:
                z = torch.cat([self.cls_space.expand(s * n_t, 1, d), z], dim=1)
            z = self.spatial(z)
            z = (z[:, 0] if self.cls_space is not None else z.mean(1)).reshape(s, n_t, d)
            z = z + self.pos_time[:n_t]
            if self.cls_video is not None:
                z = torch.cat([self.cls_video.expand(s, 1, d), z], dim=1)
            return self.temporal(z)                                      # [S, (1+) n_t, D]
        z = (tok + self.pos_joint[:n_t]).reshape(s, n_t * n_s, d)
        if self.cls_video is not None:
            z = torch.cat([self.cls_video.expand(s, 1, d), z], dim=1)
            return self.encoder(z)                                       # [S, 1 + n_t n_s, D]
        return self.encoder(z).reshape(s, n_t, n_s, d).mean(2)           # [S, n_t, D]

    def epoch_embedding(self, x: torch.Tensor, psd: torch.Tensor | None = None) -> torch.Tensor:
        """Raw ``x`` [batch, seq_len, C, n] µV -> per-epoch embeddings [batch, seq_len, d_model]."""
        b, length = x.shape[:2]
        z = self._encode(self.tubelet_tokens(self.video(x, psd)))
        if self.layout == "context":
            return z                                                     # n_t = seq_len
        z = z[:, 0] if self.cls_video is not None else z.mean(1)        # [B * L, D]
        return z.reshape(b, length, -1)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None,
                psd: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [batch, seq_len, C, n] µV (+ ``extra`` [batch, seq_len, extra_dim]) -> logits
        [batch, seq_len, 5]; ``psd``: the spectrogram's PSD of ``x`` if already computed (consumed)."""
        z = self.epoch_embedding(x, psd)
        z = with_extra(z, extra, self.extra_dim)
        return self.head(self.head_dropout(z))


def fit_input_scaling(module: ViViTModule, x: np.ndarray, n_epochs: int = SCALING_EPOCHS) -> dict:
    """The spectrogram scaling of ``module`` fitted on training epochs ``x`` [n, C, n_samples] µV.

    On up to ``n_epochs`` evenly spaced epochs (all channels pooled), with the module's own STFT:
    ``log_offset`` = the :data:`OFFSET_QUANTILE` quantile of the PSD bins (floors near-zero
    periodogram values), then ``log_mean`` / ``log_std`` = mean and sd of ``log10(PSD +
    log_offset)``: the trunk then sees features of mean 0 and sd 1 on its training data. Only the
    training epochs are used, so the scaling cannot depend on a test subject.

    Returns
    -------
    dict
        ``{"log_offset", "log_mean", "log_std"}`` (floats), as :meth:`ViViTModule.set_input_scaling`
        takes them.
    """
    if len(x) == 0:
        raise ValueError("cannot fit the spectrogram scaling on an empty training set")
    idx = np.unique(np.round(np.linspace(0, len(x) - 1, min(len(x), n_epochs))).astype(np.int64))
    with torch.no_grad():
        psd = module.spectrogram.psd(module.frame_signals(torch.from_numpy(np.asarray(x[idx], np.float32))))
    psd = psd.double().numpy().ravel()
    offset = float(np.quantile(psd, OFFSET_QUANTILE))
    if not offset > 0:  # flat training data: fall back on the placeholder floor
        offset = LOG_OFFSET
    z = np.log10(psd + offset)
    return {"log_offset": offset, "log_mean": float(z.mean()), "log_std": float(max(z.std(), 1e-6))}


# --- entries ---------------------------------------------------------------------------------------

#: Entry parameters that configure the module (the rest are the recipe and the seed).
MODULE_PARAMS = ("layout", "seq_len", "attention", "d_model", "depth", "heads", "mlp_ratio",
                 "tubelet", "dropout", "pool")


class _ViViTBase(DeepEntry):
    """Shared by ``vivit``, ``vivit-seed`` and subclasses (e.g. ``fin-vivit``).

    Subclasses call :meth:`build_vivit` (``extra_dim`` > 0 for a fusion head) and may override
    :meth:`build_module`. Prediction runs under ``torch.inference_mode``.
    """

    def vivit_kwargs(self) -> dict:
        """Module keyword arguments taken from the entry's parameters."""
        params = self.get_params()
        return {k: params[k] for k in MODULE_PARAMS if k in params}

    def build_vivit(self, n_channels: int, n_samples: int, extra_dim: int = 0) -> ViViTModule:
        """A :class:`ViViTModule` for epochs of ``n_samples`` (30 s, so sfreq = n_samples / 30),
        with the spectrogram scaling fitted by :meth:`fit` (the placeholder before any fit)."""
        module = ViViTModule(n_channels, n_samples, sfreq=n_samples / 30.0, extra_dim=extra_dim,
                             **self.vivit_kwargs())
        scaling = getattr(self, "input_scaling_", None)
        if scaling is not None:
            module.set_input_scaling(**scaling)
        return module

    def fit(self, train, valid):
        """Fit the spectrogram scaling on ``train`` (:func:`fit_input_scaling`), then train."""
        self.input_scaling_ = None
        probe = ViViTModule(train.x.shape[1], train.x.shape[2], sfreq=train.x.shape[2] / 30.0,
                            **self.vivit_kwargs())
        self.input_scaling_ = fit_input_scaling(probe, train.x)
        return super().fit(train, valid)

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        return self.build_vivit(n_channels, n_samples)

    def predict_proba(self, data) -> np.ndarray:
        with torch.inference_mode():
            return predict_module(self.module_, data, self.recipe().seq_len)


@register("vivit")
class ViViT(_ViViTBase):
    """ViViT factorised encoder on log-power spectrograms of 10 consecutive epochs, per-epoch output.

    Module: :class:`ViViTModule` with ``layout="context"``: a window of ``seq_len`` = 10
    consecutive epochs (5 min) is a video of 10 frames, one log-power STFT image (60 bins of 0.5 Hz
    from 0.5 to 30 Hz x 30 one-second steps) per epoch; tubelets of 1 epoch x 10 Hz x 5 s (18
    tokens per epoch), d_model 64, 4 heads, feed-forward 128, dropout 0.1; factorised encoder with
    2 spatial layers per epoch (mean-pooled) and 1 temporal layer over the 10 epochs; ~94 k
    parameters for one channel. Every epoch of the window gets logits from its temporal token.

    Why these defaults:

    * ``seq_len`` = 10: AASM scoring looks at neighbouring epochs (N2/N3 continuity, the
      N1/REM and arousal context of the 2-3 epochs around); 10 gives every epoch 4-5 neighbours on
      the median side of a tiled window, and with per-epoch outputs (below) a window is 10 labelled
      examples. Longer windows cost linearly here but leave fewer windows per recording
      (~300 per quick fold) for training; ``seq_len`` = 1 is the no-context ablation.
    * Per-epoch rather than centre-epoch prediction: the loss covers all L epochs of a window (L
      times more supervision per forward pass), and the harness tiles windows at inference, so a
      centre-only model would need L overlapping windows (L times the compute) to label a night.
    * ``attention="factorised"`` (ViViT model 2): spatial attention is within an epoch (18 tokens)
      and temporal attention across epochs (10 tokens), O(L n² + L²) instead of the joint model's
      O((L n)²) over 180 tokens; it runs several times faster on CPU, and the per-epoch temporal
      token is a natural per-epoch embedding for the fusion head. The ViViT paper likewise found
      model 2 the best speed / accuracy trade-off. ``"joint"`` is available for the comparison.

    Recipe (2 CPU cores; one quick-protocol fold, ~3,000 training epochs, in <= ~40 s): AdamW
    (lr 2e-3, weight decay 0.05), cosine decay over the run, batches of 16 windows (160 epochs: a
    quick fold has only ~300 windows, and larger batches leave too few steps),
    at most ``steps_per_pass`` = 40 batches per pass, ``max_passes`` = 25 passes, early stopping on
    validation macro-F1 with ``patience`` = 6, no wall-clock budget (a budget in seconds would make
    reruns differ between machines), inverse-frequency class weights. Raise the budget for Sleep-EDF-scale folds.
    """

    def __init__(self, seed: int = 0, layout: str = "context", seq_len: int = 10,
                 attention: str = "factorised", d_model: int = 64, depth=(2, 1), heads: int = 4,
                 mlp_ratio: float = 2.0, tubelet=None, dropout: float = 0.1, pool: str = "mean",
                 max_passes: int = 25, batch_size: int = 16, lr: float = 2e-3,
                 weight_decay: float = 0.05, patience: int = 6, class_weight: bool = True,
                 steps_per_pass: int | None = 40):
        self.seed = seed
        self.layout = layout
        self.seq_len = seq_len
        self.attention = attention
        self.d_model = d_model
        self.depth = depth
        self.heads = heads
        self.mlp_ratio = mlp_ratio
        self.tubelet = tubelet
        self.dropout = dropout
        self.pool = pool
        self.max_passes = max_passes
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.class_weight = class_weight
        self.steps_per_pass = steps_per_pass


ViViTSeed = register_variant(
    "vivit-seed", ViViT,
    """ViViT on one epoch as a 12-frame video of 2.56-s window spectrograms (origin layout, whole epoch).

    Module: :class:`ViViTModule` with ``layout="seed"``: the 30-s epoch is cut into 12 windows of
    256 samples (hop ≈ 249.5), each an STFT image of 38 bins (0.78-29.7 Hz) x 5 steps; tubelets of
    2 frames x 19 bins x 5 steps (12 tokens per epoch), d_model 64, factorised encoder (2 spatial
    layers, 1 temporal layer, mean pooling), one prediction per epoch (``seq_len`` = 1). Unlike the
    origin project, the whole epoch is used and there is no per-epoch min-max scaling.

    Recipe: as ``vivit`` but batches of 256 epochs (one epoch per window).
    """, globals(),
                             layout="seed", seq_len=1, batch_size=256)
