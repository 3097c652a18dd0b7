"""FIN-ViViT: the ViViT fused with Feature Imitating Networks, and its ablations and controls.

The FINs are the raw-signal FINs by default (:class:`sleepbench.models.fin.FINModule`, version 6:
learned layers on the standardised 30-s signal); ``fin_front="fixed"`` takes the version-5 FINs
whose learned layers read a fixed amplitude histogram or spectrum (``fin-vivit-fixedfront``).

Fusion is per epoch, late: each epoch's EEG (first channel) goes through the FINs, and what they
compute is concatenated to the ViViT's per-epoch embedding (the temporal-encoder token of that
epoch); one linear head classifies the result. Why per epoch: both imitated features (Shannon
entropy of the amplitude distribution, relative band powers) are defined on a 30-s epoch, the unit
that is scored; fusing per STFT frame would ask a FIN for a feature of a window it was never
trained on. Why late: the ViViT trunk stays identical across every entry below, so a difference
between entries is the feature branch and nothing else.

What the trunk receives (``fusion``):

* ``"output"`` (default, the FIN way of Saba-Sadiya et al. 2022): each FIN's *output*, the imitated
  feature itself (1 entropy value, 5 log10 relative band powers per epoch), standardised by the
  same fixed constants as the oracle's exact features (:func:`sleepbench.models.fin.target_stats`). So
  ``fin-vivit-frozen`` and ``vivit-oracle`` differ only by the imitation error, and a single-FIN
  ablation receives only its own feature.
* ``"embed"``: each FIN's 32-d hidden embedding (the layer before its output head), a pre-trained
  branch rather than a feature: ``fin-vivit-embed``, close to the origin project's
  integration, which does not test imitation.

Fine-tuning (both fusions): the FIN parameters train at ``fin_lr_scale`` = 0.01 x the trunk's
learning rate and without weight decay (``fin_weight_decay``), so that fine-tuning adapts the
feature without washing out what pre-training put there; the imitation R² before and after, on
each fold's test epochs, is in every record (:meth:`FINViViT.report`). Why 0.01: FINs fine-tuned
at the trunk's lr and weight decay, or at 0.1x lr without decay, stop imitating (R² far below 0 on
the quick protocol's test epochs): no longer the features they are named after. At 0.01x without
decay they keep imitating (quick protocol, folds 0-2, version-5 FINs: entropy R² 0.987
pre-trained -> 0.981 fine-tuned, band power 0.979 -> 0.979; not re-measured with the version-6
raw FINs). The measurements, accuracy included: docs/models.md, "FIN fine-tuning recipe".
``fin-vivit-scratch`` trains the FIN layers like the trunk on purpose: it is the network trained
from scratch, not a feature imitator.

Entries (all share the ``vivit`` trunk and recipe):

=======================  ========================================================================
``fin-vivit``            entropy + band-power FIN outputs, pre-trained, fine-tuned (default)
``fin-vivit-entropy``    the entropy FIN only (its 1 feature)
``fin-vivit-bandpower``  the band-power FIN only (its 5 features)
``fin-vivit-frozen``     both FINs pre-trained and frozen: pure imitated features
``fin-vivit-random``     both FIN architectures, randomly initialised, trained as ``fin-vivit``
                         (FINs at 0.01x lr, no decay): the control for pre-training at equal
                         architecture and recipe
``fin-vivit-scratch``    both FIN architectures, randomly initialised, FIN layers at the trunk's
                         lr and weight decay: the same network trained from scratch (the FIN
                         paper's comparison)
``fin-vivit-fixedfront`` the fixed-front-end FINs (version 5: "FINs on the histogram and the
                         spectrum"; the trunk's STFT feeds the band-power FIN), pre-trained and
                         fine-tuned as ``fin-vivit``
``fin-vivit-embed``      both FINs' hidden embeddings (pre-trained branch, 64-d)
``vivit-oracle``         the exact features (models.features) in place of the FINs: the ceiling of
                         what imitation can add
=======================  ========================================================================

Reference: Saba-Sadiya S, Alhanai T, Ghassemi MM (2022) "Feature Imitating Networks", ICASSP,
pp. 4128-4132, doi:10.1109/ICASSP43922.2022.9746397; Arnab A et al. (2021) "ViViT: A Video Vision
Transformer", ICCV.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sleepbench.benchmark.registry import register, register_variant

from .vivit import ViViT

FIN_KINDS = ("entropy", "bandpower")
FUSIONS = ("output", "embed")


class FeatureBranch(nn.Module):
    """Per-epoch features of the first channel: FIN outputs or embeddings, or the exact features.

    Input [batch, seq_len, n_channels, n_samples] µV -> [batch, seq_len, out_dim]; ``out_dim`` is
    1 per entropy and 5 per band-power feature (oracle and ``fusion="output"``) or the FINs'
    embedding widths (``fusion="embed"``).
    """

    def __init__(self, fins: tuple[str, ...], pretrained: bool, freeze: bool, oracle: bool,
                 cache_dir=None, seed: int = 0, fin_config: dict | None = None,
                 fusion: str = "output", front: str = "raw"):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion {fusion!r}: choose from {FUSIONS}")
        if not fins or set(fins) - set(FIN_KINDS):
            raise ValueError(f"fins {fins!r}: one or more of {FIN_KINDS}")
        self.kinds = tuple(k for k in FIN_KINDS if k in fins)   # fixed order: entropy, bandpower
        self.oracle, self.freeze, self.fusion = oracle, freeze, fusion
        self.fin_config, self.pretrained, self.seed, self.cache_dir = fin_config, pretrained, seed, cache_dir
        self.front = front
        self.fins = nn.ModuleDict()
        from .fin import target_stats

        # exact features and FIN outputs share one fixed standardisation (as the FINs' targets)
        stats = [target_stats(kind) for kind in self.kinds]
        self.register_buffer("feat_mean", torch.from_numpy(np.concatenate([m for m, _ in stats])))
        self.register_buffer("feat_std", torch.from_numpy(np.concatenate([s for _, s in stats])))
        if oracle:
            self.out_dim = int(self.feat_mean.numel())
            return
        self.weights_sha256 = {}
        for kind in self.kinds:
            fin = self.load(kind)
            self.weights_sha256[kind] = fin.sha256
            if freeze:
                fin.requires_grad_(False)
            self.fins[kind] = fin
        # the FINs share one front end (one design and configuration builds them all: the raw FINs'
        # standardisation, or the fixed histogram / spectrum): what it must compute for all of them
        # is fixed here, not looked up per batch
        if len({(type(fin), getattr(fin, "hist_bins", None)) for fin in self.fins.values()}) > 1:
            raise ValueError("the FINs of one branch must share their front end")
        self.front_paths = tuple(p for p in ("amplitude", "spectral", "conv")
                                 if any(p in fin.paths for fin in self.fins.values()))
        if fusion == "output":
            self.out_dim = int(self.feat_mean.numel())
        else:
            self.out_dim = sum(int(f.embed_dim) for f in self.fins.values())

    def load(self, kind: str):
        """The FIN of ``kind`` as this branch starts from (shipped / cached weights, or the random
        init of ``seed``): also what :meth:`FINViViT.report` scores as "before"."""
        from .fin import make_config
        from .fin_pretrain import load_fin

        config = make_config(self.front, **(self.fin_config or {}))
        # one pre-training (seed 0) serves every run; the random control's init follows the seed
        return load_fin(kind, pretrained=self.pretrained, cache_dir=self.cache_dir,
                        seed=0 if self.pretrained else self.seed, config=config)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:  # frozen FINs stay in eval mode
            self.fins.eval()
        return self

    def front_end(self, eeg: torch.Tensor, spectrum: torch.Tensor | None = None) -> dict:
        """What precedes the FINs' learned layers, computed once for all of them
        (:meth:`sleepbench.models.fin.FINModule.front_end`: the standardised signal of the raw FINs;
        :meth:`sleepbench.models.fin.FixedFrontFIN.front_end`: the histogram and the spectrum):
        every FIN of a branch is built from one configuration, so what one FIN reads is the
        other's too."""
        return self.fins[self.kinds[0]].front_end(eeg, spectrum, paths=self.front_paths)

    def fin_outputs(self, eeg: torch.Tensor, spectrum: torch.Tensor | None = None) -> torch.Tensor:
        """``eeg`` [n, n_samples] µV -> the FINs' outputs [n, out] in feature units (not standardised)."""
        front = self.front_end(eeg, spectrum)
        return torch.cat([self.fins[k].output(self.fins[k].embed_front(front)) for k in self.kinds], dim=-1)

    def forward(self, x: torch.Tensor, spectrum: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [batch, seq_len, C, n] µV -> features [batch, seq_len, out_dim]; ``spectrum``
        [batch * seq_len, n_freqs]: the first channel's relative spectrum when the caller has
        computed it (FIN-ViViT reuses its trunk's STFT)."""
        b, length, _, n = x.shape
        eeg = x[:, :, 0].reshape(b * length, n)
        if self.oracle:
            # exact, in float64 on the job's device (no host round trip; equal to the numpy
            # reference implementations to ~1e-15)
            from .features import relative_log_band_powers_torch, shannon_entropy_torch

            with torch.no_grad():
                parts = []
                if "entropy" in self.kinds:
                    parts.append(shannon_entropy_torch(eeg)[:, None])
                if "bandpower" in self.kinds:
                    parts.append(relative_log_band_powers_torch(eeg))
                feats = (torch.cat(parts, dim=1).float() - self.feat_mean) / self.feat_std
        else:
            # frozen FINs need no graph: skip the autograd bookkeeping
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
                if self.fusion == "output":
                    feats = (self.fin_outputs(eeg, spectrum) - self.feat_mean) / self.feat_std
                else:
                    front = self.front_end(eeg, spectrum)
                    feats = torch.cat([self.fins[k].embed_front(front) for k in self.kinds], dim=-1)
        return feats.reshape(b, length, -1)


class FINViViTModule(nn.Module):
    """ViViT trunk + feature branch; input [batch, seq_len, C, n] µV -> logits [batch, seq_len, 5].

    When a FIN reads the spectrum and the trunk's spectrogram is the FINs' (the default), the STFT
    is computed once: its PSD feeds the FINs' relative spectrum (first channel) and then the trunk,
    bit-identical to each computing its own (tested)."""

    def __init__(self, vivit: nn.Module, branch: FeatureBranch, fin_lr_scale: float = 1.0,
                 fin_weight_decay: float | None = None):
        super().__init__()
        self.vivit = vivit
        self.branch = branch
        self.fin_lr_scale = float(fin_lr_scale)
        self.fin_weight_decay = fin_weight_decay
        self.shares_spectrogram = self._shares_spectrogram()

    def _shares_spectrogram(self) -> bool:
        """Whether a FIN reads the spectrum and its spectrogram is the trunk's (same STFT), so one
        STFT serves both (the ViViT's context layout and the FINs' default front end)."""
        fins = list(self.branch.fins.values())
        spec = getattr(self.vivit, "spectrogram", None)
        mine = getattr(fins[0], "spectrogram", None) if fins else None   # raw FINs read no spectrum
        if mine is None or spec is None or getattr(self.vivit, "layout", None) != "context":
            return False
        same = all(getattr(spec, a) == getattr(mine, a) for a in ("sfreq", "n_fft", "hop", "pad", "k_lo", "k_hi"))
        return same and any("spectral" in fin.paths for fin in fins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.shares_spectrogram:
            return self.vivit(x, extra=self.branch(x))
        from .fin import relative_spectrum

        x = x.float()
        psd = self.vivit.spectrogram.psd(x)                              # [B, L, C, F, T]
        spectrum = relative_spectrum(psd[:, :, 0]).reshape(-1, psd.shape[-2])
        return self.vivit(x, extra=self.branch(x, spectrum), psd=psd)

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """Optimiser groups: the trunk at the recipe's lr / weight decay, the (trainable) FIN
        parameters at ``fin_lr_scale`` x lr and ``fin_weight_decay`` (None: the recipe's)."""
        fin = [p for p in self.branch.fins.parameters() if p.requires_grad]
        groups = [{"params": [p for p in self.vivit.parameters() if p.requires_grad]}]
        if fin:
            groups.append({"params": fin, "lr": lr * self.fin_lr_scale,
                           "weight_decay": weight_decay if self.fin_weight_decay is None
                           else self.fin_weight_decay})
        return groups


def imitation_scores(fins: dict, eeg: np.ndarray, batch: int = 1024) -> dict:
    """R² and MAE of each FIN's output against the exact feature on epochs ``eeg`` [n, 3000] µV.

    R² of a multi-output FIN is the uniform mean over its outputs (scikit-learn ``r2_score``),
    MAE likewise (``mean_absolute_error``), both in the feature's units (bits; log10 power).
    """
    from sklearn.metrics import mean_absolute_error, r2_score

    from .features import compute_feature

    out = {}
    for kind, fin in fins.items():
        y = compute_feature(kind, eeg)
        device = next(fin.parameters()).device
        was_training = fin.training
        fin.eval()
        with torch.inference_mode():
            pred = torch.cat([fin(torch.from_numpy(np.ascontiguousarray(eeg[i:i + batch])).to(device)).cpu()
                              for i in range(0, len(eeg), batch)]).double().numpy()
        fin.train(was_training)
        out[kind] = {"r2": float(r2_score(y, pred)), "mae": float(mean_absolute_error(y, pred)),
                     "n": int(len(y))}
    return out


class FINReportMixin:
    """``report`` / parameter counts of an entry whose fitted module has a :class:`FeatureBranch`
    at ``module_.branch`` (FIN-ViViT and the origin's integration)."""

    def n_trainable_params(self) -> int | None:
        module = getattr(self, "module_", None)
        return None if module is None else int(sum(p.numel() for p in module.parameters() if p.requires_grad))

    def report(self, test) -> dict:
        """The harness's report plus ``"fin"``: the FIN weights' SHA-256 (None: random init) and
        each FIN's imitation (R², MAE vs the exact feature on ``test``'s epochs, first channel),
        ``before`` = as built (pre-trained / random), ``after`` = fine-tuned inside the fitted model.
        """
        out = dict(super().report(test))
        branch = self.module_.branch
        if branch.oracle or len(test) == 0:
            return out
        eeg = np.asarray(test.x[:, 0], dtype=np.float32)
        before = imitation_scores({k: branch.load(k) for k in branch.kinds}, eeg)
        after = imitation_scores(dict(branch.fins.items()), eeg)
        out["fin"] = {"weights": {k: (v if v is not None else "random-init")
                                  for k, v in branch.weights_sha256.items()},
                      "fusion": branch.fusion, "frozen": bool(branch.freeze),
                      "imitation": {k: {"before": {m: before[k][m] for m in ("r2", "mae")},
                                        "after": {m: after[k][m] for m in ("r2", "mae")}}
                                    for k in branch.kinds}}
        return out


class FINViViT(FINReportMixin, ViViT):
    """ViViT fused per epoch with the outputs of the pre-trained entropy and band-power FINs (fine-tuned)."""

    def __init__(self, seed: int = 0, fins: tuple = FIN_KINDS, pretrained: bool = True,
                 freeze: bool = False, oracle: bool = False, fin_config: dict | None = None,
                 fusion: str = "output", fin_lr_scale: float = 0.01, fin_weight_decay: float | None = 0.0,
                 fin_front: str = "raw", layout: str = "context",
                 seq_len: int = 10, attention: str = "factorised", d_model: int = 64, depth=(2, 1),
                 heads: int = 4, mlp_ratio: float = 2.0, tubelet=None, dropout: float = 0.1,
                 pool: str = "mean", max_passes: int = 25, batch_size: int = 16, lr: float = 2e-3,
                 weight_decay: float = 0.05, patience: int = 6, class_weight: bool = True,
                 steps_per_pass: int | None = 40):
        super().__init__(seed=seed, layout=layout, seq_len=seq_len, attention=attention,
                         d_model=d_model, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                         tubelet=tubelet, dropout=dropout, pool=pool, max_passes=max_passes,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                         class_weight=class_weight,
                         steps_per_pass=steps_per_pass)
        self.fins = fins
        self.pretrained = pretrained
        self.freeze = freeze
        self.oracle = oracle
        self.fin_config = fin_config
        self.fusion = fusion
        self.fin_lr_scale = fin_lr_scale
        self.fin_weight_decay = fin_weight_decay
        self.fin_front = fin_front

    def build_branch(self) -> FeatureBranch:
        return FeatureBranch(tuple(self.fins), self.pretrained, self.freeze, self.oracle,
                             seed=self.seed, fin_config=self.fin_config, fusion=self.fusion,
                             front=self.fin_front)

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        if n_samples != 3000:
            raise ValueError(f"FINs take 30-s epochs at 100 Hz (3000 samples), got {n_samples}")
        branch = self.build_branch()
        torch.manual_seed(self.seed)  # the trunk's init does not depend on how the FINs were built
        return FINViViTModule(self.build_vivit(n_channels, n_samples, extra_dim=branch.out_dim), branch,
                              self.fin_lr_scale, self.fin_weight_decay)


def _variant(name: str, doc: str, **defaults):
    return register_variant(name, FINViViT, doc, globals(), **defaults)


register("fin-vivit")(FINViViT)
_variant("fin-vivit-entropy", "ViViT fused with the pre-trained entropy FIN's output only (ablation).",
         fins=("entropy",))
_variant("fin-vivit-bandpower", "ViViT fused with the pre-trained band-power FIN's outputs only (ablation).",
         fins=("bandpower",))
_variant("fin-vivit-frozen", "ViViT fused with both pre-trained FINs' outputs, FINs frozen (imitated features).",
         freeze=True)
_variant("fin-vivit-random", "ViViT fused with both FIN architectures' outputs, randomly initialised, "
         "same recipe as fin-vivit (control: does pre-training help?).", pretrained=False)
_variant("fin-vivit-scratch", "ViViT fused with both FIN architectures, randomly initialised, FIN layers at "
         "the trunk's lr and weight decay (control: the same network trained from scratch).",
         pretrained=False, fin_lr_scale=1.0, fin_weight_decay=None)
_variant("fin-vivit-fixedfront", "ViViT fused with the outputs of the fixed-front-end FINs (version 5: "
         "FINs on the amplitude histogram and the spectrum), pre-trained, fine-tuned.", fin_front="fixed")
_variant("fin-vivit-embed", "ViViT fused with both FINs' hidden embeddings (pre-trained branch).",
         fusion="embed")
_variant("vivit-oracle", "ViViT fused with the exact entropy and band-power features (imitation ceiling).",
         oracle=True)
