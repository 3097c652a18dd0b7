"""The origin project's ViViT and its FIN integration, as benchmark entries.

The project this benchmark re-implements (public repository SadafAram/fin-sleep-stage, notebooks
``scripts/1_simple_vivt.ipynb`` and ``scripts/2_integrated.ipynb``; Keras) classified one 30-s
epoch at a time with a ViViT (Arnab et al. 2021, model 1: joint space-time attention):

* input: 12 windows of 256 samples (2.56 s at 100 Hz; step 249, i.e. an overlap of 7 samples),
  each an STFT magnitude image of 128 frequency bins x 256 time steps (``ssqueezepy.ssq_stft``'s
  STFT: ``n_fft`` = 256, hop 1, cropped to [:128, :256]), min-max scaled per window;
* (8, 8, 8) tubelets (Conv3D, VALID padding), a learned position embedding, 8 pre-norm layers of
  joint attention (width 128, 8 heads, attention dropout 0.1) each with a 3-layer GELU MLP
  (1024, 512, 128), a final LayerNorm (eps 1e-6), average + max pooling over the tokens, a
  linear 64-d layer (the "ViViT vector"), then 32 and 5 units (no activation between them);
* Adamax, lr 1e-3, batches of 32, plain cross-entropy; 6,463,109 parameters.

Its VALID padding kept floor(12 / 8) = 1 temporal token, so windows 9-12 (the last 10 s of every
epoch) never reached the model. ``vivit-origin`` fixes that by default (``truncate=False``: the
12 frames are zero-padded to 16, two temporal tokens, 65,536 more position-embedding parameters:
6,528,645, +1.0 %); ``truncate=True`` reproduces the origin exactly (parameter count 6,463,109).

``fin-vivit-origin`` is the origin's integration (``2_integrated.ipynb``): each pre-trained FIN is
cut at a hidden layer (there: band power's 512-unit dense layer, entropy's ``layers[3]``; here: our
FINs' 32-d embeddings, :meth:`sleepbench.models.fin.FINModule.embed`), those features are concatenated with
the ViViT's 64-d vector, and everything is fine-tuned together (same optimiser and lr for all).

Differences kept on purpose: the STFT uses a periodic Hann window (ssqueezepy's default window
differs); dropout, early stopping and model selection are the harness's (validation macro-F1)
instead of Keras callbacks on validation loss; the learning rate is constant (the origin halved it
on plateaus of validation loss).

Cost: ~1,000 tokens of width 128 through 8 joint-attention layers per epoch (~17 GFLOP forward):
an entry for GPUs. It is in the ``full`` suite, not in ``quick`` (see the suite files).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from sleepbench.benchmark.epochs import N_CLASSES
from sleepbench.benchmark.registry import register
from sleepbench.benchmark.training import DeepEntry, predict_module

from .fin_vivit import FIN_KINDS, FeatureBranch, FINReportMixin, FINViViTModule
from .vivit import with_extra

#: The origin's windowing: 256-sample windows, overlap 7 -> step 249, 12 windows per 3000 samples.
WIN, OVERLAP = 256, 7


class OriginBlock(nn.Module):
    """One pre-norm layer of the origin: LN -> MHA (+ skip), LN -> GELU MLP (1024, 512, 128) (+ skip)."""

    def __init__(self, d_model: int, heads: int, mlp: tuple[int, ...], dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, eps=1e-6)
        self.attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-6)
        layers, width = [], d_model
        for units in mlp:  # every dense layer with GELU, the last one included (as in the origin)
            layers += [nn.Linear(width, units), nn.GELU()]
            width = units
        if width != d_model:
            raise ValueError(f"the MLP must end at the model width {d_model}, got {mlp}")
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        # need_weights=False: scaled-dot-product attention kernels, no [tokens x tokens] weights kept
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViViTOriginModule(nn.Module):
    """The origin's ViViT (see the module docstring).

    Input ``x`` [batch, seq_len, n_channels, 3000] µV (epochs independent; the entry uses seq_len 1),
    optional ``extra`` [batch, seq_len, extra_dim] (fused after the 64-d vector).
    Output: logits [batch, seq_len, 5].
    """

    def __init__(self, n_channels: int = 1, n_samples: int = 3000, truncate: bool = False,
                 d_model: int = 128, depth: int = 8, heads: int = 8, mlp=(1024, 512, 128),
                 tubelet=(8, 8, 8), n_freq: int = 128, n_time: int = 256, dropout: float = 0.1,
                 extra_dim: int = 0, n_classes: int = N_CLASSES):
        super().__init__()
        step = WIN - OVERLAP
        n_windows = (n_samples - OVERLAP) // step
        if n_windows < 1:
            raise ValueError(f"epochs of {n_samples} samples are shorter than a {WIN}-sample window")
        self.n_channels, self.n_samples, self.truncate = int(n_channels), int(n_samples), bool(truncate)
        self.n_freq, self.n_time, self.tubelet = int(n_freq), int(n_time), tuple(int(v) for v in tubelet)
        self.extra_dim = int(extra_dim)
        starts = step * np.arange(n_windows)
        self.register_buffer("window_index", torch.from_numpy(starts[:, None] + np.arange(WIN)),
                             persistent=False)
        self.register_buffer("window", torch.hann_window(WIN, periodic=True), persistent=False)
        t, f, tau = self.tubelet
        if n_freq % f or n_time % tau:
            raise ValueError(f"image {n_freq}x{n_time} is not a multiple of the tubelet {tubelet}")
        # VALID padding keeps floor(frames / t) temporal tokens (the origin: 1 of 12 / 8); the fix
        # pads the frames with zeros to the next multiple so every window is seen
        self.n_frames = (n_windows // t) * t if truncate else -(-n_windows // t) * t
        if self.n_frames == 0:
            raise ValueError(f"{n_windows} windows make no temporal token of {t} frames")
        n_tokens = (self.n_frames // t) * (n_freq // f) * (n_time // tau)
        self.tubelet_embed = nn.Conv3d(self.n_channels, d_model, kernel_size=self.tubelet, stride=self.tubelet)
        self.pos = nn.Parameter(torch.randn(n_tokens, d_model) * 0.02)
        self.blocks = nn.Sequential(*[OriginBlock(d_model, heads, tuple(mlp), dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(d_model, eps=1e-6)
        self.vector = nn.Linear(2 * d_model, 64)          # the "ViViT vector" of the integration
        self.fc = nn.Linear(64 + self.extra_dim, 32)
        self.out = nn.Linear(32, n_classes)

    def video(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [S, C, n] µV -> min-max scaled STFT magnitudes [S, C, frames, n_freq, n_time]."""
        s, c, _ = x.shape
        w = x.float()[..., self.window_index].reshape(-1, WIN)           # [S*C*windows, 256]
        spec = torch.stft(w, WIN, 1, window=self.window, center=True, pad_mode="reflect",
                          return_complex=True).abs()[:, :self.n_freq, :self.n_time]
        lo = spec.amin((1, 2), keepdim=True)
        rng = spec.amax((1, 2), keepdim=True) - lo
        spec = torch.where(rng > 0, (spec - lo) / rng.clamp_min(1e-12), torch.zeros_like(spec))
        v = spec.reshape(s, c, -1, self.n_freq, self.n_time)
        fr = v.shape[2]
        return v[:, :, :self.n_frames] if fr >= self.n_frames else F.pad(v, (0, 0, 0, 0, 0, self.n_frames - fr))

    def vector64(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` [batch, seq_len, C, n] µV -> the 64-d ViViT vector [batch, seq_len, 64]."""
        if x.ndim != 4 or x.shape[2] != self.n_channels or x.shape[3] != self.n_samples:
            raise ValueError(f"expected x [batch, seq_len, {self.n_channels}, {self.n_samples}], "
                             f"got {tuple(x.shape)}")
        b, length = x.shape[:2]
        tok = self.tubelet_embed(self.video(x.reshape(b * length, *x.shape[2:])))
        z = self.blocks(tok.flatten(2).transpose(1, 2) + self.pos)
        z = self.norm(z)
        z = torch.cat([z.mean(1), z.amax(1)], dim=-1)
        return self.vector(z).reshape(b, length, -1)

    def forward(self, x: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        z = self.vector64(x)
        z = with_extra(z, extra, self.extra_dim)
        return self.out(self.fc(z))


class _OriginTrunk(ViViTOriginModule):
    """The trunk as an entry trains it: ``optimizer_class`` tells the harness to use Adamax."""

    optimizer_class = torch.optim.Adamax


@register("vivit-origin")
class ViViTOrigin(DeepEntry):
    """The origin project's ViViT (6.5 M parameters, joint attention on 12 STFT windows per epoch).

    Module: :class:`ViViTOriginModule` (see the module docstring); ``truncate=True`` reproduces the
    origin's dropping of the last 4 windows. Recipe: the origin's Adamax (lr 1e-3, no weight decay,
    constant lr), batches of 32 epochs, plain cross-entropy (``class_weight=False``), at most
    ``max_passes`` = 15 passes; early stopping on validation macro-F1 (the harness's rule).
    """

    def __init__(self, seed: int = 0, truncate: bool = False, d_model: int = 128, depth: int = 8,
                 heads: int = 8, mlp=(1024, 512, 128), tubelet=(8, 8, 8), dropout: float = 0.1,
                 max_passes: int = 15, batch_size: int = 32, lr: float = 1e-3,
                 weight_decay: float = 0.0, patience: int = 4, class_weight: bool = False,
                 schedule: str = "constant", steps_per_pass: int | None = None):
        self.seed = seed
        self.truncate = truncate
        self.d_model = d_model
        self.depth = depth
        self.heads = heads
        self.mlp = mlp
        self.tubelet = tubelet
        self.dropout = dropout
        self.max_passes = max_passes
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.class_weight = class_weight
        self.schedule = schedule
        self.steps_per_pass = steps_per_pass

    def build_trunk(self, n_channels: int, n_samples: int, extra_dim: int = 0) -> ViViTOriginModule:
        return _OriginTrunk(n_channels, n_samples, truncate=self.truncate, d_model=self.d_model,
                            depth=self.depth, heads=self.heads, mlp=tuple(self.mlp),
                            tubelet=tuple(self.tubelet), dropout=self.dropout, extra_dim=extra_dim)

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        torch.manual_seed(self.seed)
        return self.build_trunk(n_channels, n_samples)

    def predict_proba(self, data) -> np.ndarray:
        # one epoch per window (seq_len 1, the recipe's default): the origin classifies epochs alone
        with torch.inference_mode():
            return predict_module(self.module_, data, self.recipe().seq_len, batch_size=64)


class _OriginFusion(FINViViTModule):
    """Trunk + FIN embeddings, trained with Adamax like the trunk alone."""

    optimizer_class = torch.optim.Adamax


class FINViViTOrigin(FINReportMixin, ViViTOrigin):
    ("The origin's integration: our FINs' 32-d hidden embeddings fused with the origin ViViT's 64-d vector, "
     "fine-tuned.")

    def __init__(self, seed: int = 0, fins: tuple = FIN_KINDS, pretrained: bool = True,
                 fin_config: dict | None = None, fin_lr_scale: float = 1.0,
                 fin_weight_decay: float | None = None, truncate: bool = False, d_model: int = 128,
                 depth: int = 8, heads: int = 8, mlp=(1024, 512, 128), tubelet=(8, 8, 8),
                 dropout: float = 0.1, max_passes: int = 15, batch_size: int = 32, lr: float = 1e-3,
                 weight_decay: float = 0.0, patience: int = 4, class_weight: bool = False,
                 schedule: str = "constant", steps_per_pass: int | None = None):
        super().__init__(seed=seed, truncate=truncate, d_model=d_model, depth=depth, heads=heads,
                         mlp=mlp, tubelet=tubelet, dropout=dropout, max_passes=max_passes,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                         class_weight=class_weight, schedule=schedule,
                         steps_per_pass=steps_per_pass)
        self.fins = fins
        self.pretrained = pretrained
        self.fin_config = fin_config
        self.fin_lr_scale = fin_lr_scale
        self.fin_weight_decay = fin_weight_decay

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        if n_samples != 3000:
            raise ValueError(f"FINs take 30-s epochs at 100 Hz (3000 samples), got {n_samples}")
        branch = FeatureBranch(tuple(self.fins), self.pretrained, False, False, seed=self.seed,
                               fin_config=self.fin_config, fusion="embed")
        torch.manual_seed(self.seed)  # the trunk's init does not depend on how the FINs were built
        trunk = self.build_trunk(n_channels, n_samples, extra_dim=branch.out_dim)
        return _OriginFusion(trunk, branch, self.fin_lr_scale, self.fin_weight_decay)


register("fin-vivit-origin")(FINViViTOrigin)
