"""FIN-ViViT: the ViViT fused with Feature Imitating Networks, and its ablations and controls.

Fusion is per epoch, late: each epoch's EEG (first channel) goes through the FINs, their embeddings
are concatenated to the ViViT's per-epoch embedding (the temporal-encoder token of that epoch) and
one linear head classifies the result. Why per epoch: both imitated features (Shannon entropy of the
amplitude distribution, relative band powers) are defined on a 30-s epoch, the unit that is scored;
fusing per STFT frame would ask a FIN for a feature of a window it was never trained on. Why late:
the ViViT trunk stays identical across every entry below, so a difference between entries is the
FIN branch and nothing else.

Entries (all share the ``vivit`` trunk and recipe):

=====================  ==========================================================================
``fin-vivit``          entropy + band-power FINs, pre-trained, fine-tuned with the ViViT (default)
``fin-vivit-entropy``  entropy FIN only
``fin-vivit-bandpower`` band-power FIN only
``fin-vivit-frozen``   both FINs pre-trained and frozen (pure imitated features, no fine-tuning)
``fin-vivit-random``   both FIN architectures, randomly initialised, trained: the capacity control
``vivit-oracle``       the exact features (models.features) in place of the FINs: the ceiling of
                       what imitation can add
=====================  ==========================================================================

Reference: Saba SM et al. (2021) "Feature Imitating Networks", arXiv:2110.04831; Arnab A et al.
(2021) "ViViT: A Video Vision Transformer", ICCV.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from benchmark.registry import register, register_variant

from .vivit import ViViT, ViViTModule

FIN_KINDS = ("entropy", "bandpower")


class FeatureBranch(nn.Module):
    """Per-epoch features of the first channel: FIN embeddings or the exact (oracle) features.

    Input [batch, seq_len, n_channels, n_samples] µV -> [batch, seq_len, out_dim].
    """

    def __init__(self, fins: tuple[str, ...], pretrained: bool, freeze: bool, oracle: bool,
                 cache_dir=None, seed: int = 0, fin_config: dict | None = None):
        super().__init__()
        self.oracle = oracle
        self.fin_config = fin_config
        self.freeze = freeze
        self.fins = nn.ModuleDict()
        if oracle:  # exact features, standardised by fixed constants (as the FINs' targets are)
            from .fin import target_stats

            self.kinds = tuple(fins)
            stats = [target_stats(kind) for kind in self.kinds]
            self.register_buffer("feat_mean", torch.from_numpy(np.concatenate([m for m, _ in stats])))
            self.register_buffer("feat_std", torch.from_numpy(np.concatenate([s for _, s in stats])))
            self.out_dim = int(self.feat_mean.numel())
            return
        from .fin import FINConfig, load_fin

        config = FINConfig(**fin_config) if fin_config else None
        for kind in fins:
            # one pre-training (seed 0) serves every run; the random control's init follows the seed
            fin = load_fin(kind, pretrained=pretrained, cache_dir=cache_dir,
                           seed=0 if pretrained else seed, config=config)
            if freeze:
                fin.requires_grad_(False)
            self.fins[kind] = fin
        with torch.no_grad():
            probe = torch.zeros(2, 3000)
            self.out_dim = sum(int(f.embed(probe).shape[-1]) for f in self.fins.values())

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:  # frozen FINs keep their pre-trained normalisation statistics
            self.fins.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, length, _, n = x.shape
        eeg = x[:, :, 0].reshape(b * length, n)
        if self.oracle:
            from .features import relative_log_band_powers, shannon_entropy

            arr = eeg.detach().cpu().numpy()
            parts = []
            if "entropy" in self.kinds:
                parts.append(shannon_entropy(arr)[:, None])
            if "bandpower" in self.kinds:
                parts.append(relative_log_band_powers(arr))
            feats = torch.from_numpy(np.concatenate(parts, axis=1).astype(np.float32))
            feats = (feats - self.feat_mean) / self.feat_std
        else:
            feats = torch.cat([fin.embed(eeg) for fin in self.fins.values()], dim=-1)
        return feats.reshape(b, length, -1)


class FINViViTModule(nn.Module):
    """ViViT trunk + feature branch; input [batch, seq_len, C, n] µV -> logits [batch, seq_len, 5]."""

    def __init__(self, vivit: ViViTModule, branch: FeatureBranch):
        super().__init__()
        self.vivit = vivit
        self.branch = branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vivit(x, extra=self.branch(x))


class FINViViT(ViViT):
    """ViViT fused per epoch with pre-trained entropy and band-power FINs (fine-tuned)."""

    def __init__(self, seed: int = 0, fins: tuple = FIN_KINDS, pretrained: bool = True,
                 freeze: bool = False, oracle: bool = False, fin_config: dict | None = None,
                 layout: str = "context",
                 seq_len: int = 10, attention: str = "factorised", d_model: int = 64, depth=(2, 1),
                 heads: int = 4, mlp_ratio: float = 2.0, tubelet=None, dropout: float = 0.1,
                 pool: str = "mean", max_epochs: int = 25, batch_size: int = 16, lr: float = 2e-3,
                 weight_decay: float = 0.05, patience: int = 6, class_weight: bool = True,
                 max_train_seconds: float | None = None, steps_per_epoch: int | None = 40,
                 gain_augment: float | None = None):
        super().__init__(seed=seed, layout=layout, seq_len=seq_len, attention=attention,
                         d_model=d_model, depth=depth, heads=heads, mlp_ratio=mlp_ratio,
                         tubelet=tubelet, dropout=dropout, pool=pool, max_epochs=max_epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, patience=patience,
                         class_weight=class_weight, max_train_seconds=max_train_seconds,
                         steps_per_epoch=steps_per_epoch, gain_augment=gain_augment)
        self.fins = fins
        self.pretrained = pretrained
        self.freeze = freeze
        self.oracle = oracle
        self.fin_config = fin_config

    def build_module(self, n_channels: int, n_samples: int) -> nn.Module:
        if n_samples != 3000:
            raise ValueError(f"FINs take 30-s epochs at 100 Hz (3000 samples), got {n_samples}")
        branch = FeatureBranch(tuple(self.fins), self.pretrained, self.freeze, self.oracle,
                               seed=self.seed, fin_config=self.fin_config)
        torch.manual_seed(self.seed)  # the trunk's init does not depend on how the FINs were built
        return FINViViTModule(self.build_vivit(n_channels, n_samples, extra_dim=branch.out_dim), branch)


def _variant(name: str, doc: str, **defaults):
    return register_variant(name, FINViViT, doc, globals(), **defaults)


register("fin-vivit")(FINViViT)
_variant("fin-vivit-entropy", "ViViT fused with the pre-trained entropy FIN only (ablation).",
         fins=("entropy",))
_variant("fin-vivit-bandpower", "ViViT fused with the pre-trained band-power FIN only (ablation).",
         fins=("bandpower",))
_variant("fin-vivit-frozen", "ViViT fused with both pre-trained FINs kept frozen (control).",
         freeze=True)
_variant("fin-vivit-random", "ViViT fused with both FIN architectures, not pre-trained (capacity control).",
         pretrained=False)
_variant("vivit-oracle", "ViViT fused with the exact entropy and band-power features (imitation ceiling).",
         oracle=True)
