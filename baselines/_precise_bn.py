"""Precise BatchNorm (Wu & Johnson 2021) for the sequence stagers whose BatchNorm sits among dropout.

Wu Y, Johnson J. *Rethinking "Batch" in BatchNorm.* arXiv:2105.07576, 2021 (section 3, "precise
BN"): the running averages BatchNorm keeps while training are taken under dropout and from changing
weights; population statistics re-estimated on a fixed sample of training epochs, with the final
weights and dropout off, remove that mismatch. TinySleepNet and DeepSleepNet use it (their
``precise_bn_epochs``; 0 turns it off), each declaring it as a deviation from its authors' code.

* :class:`PreciseBNModule`: a module that re-estimates its BatchNorm statistics on ``bn_sample``
  whenever it switches from training to eval (before each validation and after training);
* :func:`fit_with_precise_bn`: an entry's fit with that sample drawn and handed to its module.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class PreciseBNModule(nn.Module):
    """A ``torch.nn.Module`` whose switch from training to eval re-estimates BatchNorm statistics.

    Subclasses say which BatchNorm layers (:meth:`batch_norms`) and how a batch of epochs
    [n, n_channels, n_samples] µV reaches them (:meth:`bn_forward`).
    """

    #: epochs [n, n_channels, n_samples] (µV) used to re-estimate BatchNorm statistics; None = off
    bn_sample: torch.Tensor | None = None

    def batch_norms(self) -> list[nn.BatchNorm1d]:
        return [m for m in self.modules() if isinstance(m, nn.BatchNorm1d)]

    def bn_forward(self, x: torch.Tensor) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def train(self, mode: bool = True):
        """Switching from training to eval re-estimates BatchNorm statistics when ``bn_sample`` is set."""
        reestimate = (not mode) and self.training and self.bn_sample is not None
        super().train(mode)
        if reestimate:
            self.reestimate_bn(self.bn_sample)
        return self

    @torch.no_grad()
    def reestimate_bn(self, epochs: torch.Tensor, batch: int = 256) -> None:
        """Every layer of :meth:`batch_norms` gets the cumulative mean and variance over ``epochs``
        under the current weights, dropout off. Deterministic."""
        bns = self.batch_norms()
        momenta = [bn.momentum for bn in bns]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches
            bn.train()
        device = next(self.parameters()).device  # the sample stays on the host; batches follow the module
        try:
            for i in range(0, len(epochs), batch):
                self.bn_forward(epochs[i:i + batch].to(device))
        finally:
            for bn, mom in zip(bns, momenta):
                bn.momentum = mom
                bn.eval()


def fit_with_precise_bn(entry, train, valid, fit) -> None:
    """``fit(train, valid)`` (the entry's DeepEntry fit) with ``entry._bn_sample`` set to a fixed
    seeded sample of ``entry.precise_bn_epochs`` training epochs (None when 0), which the entry's
    ``build_module`` hands to its :class:`PreciseBNModule`; the sample is dropped afterwards."""
    bn_sample = None
    if entry.precise_bn_epochs:
        rng = np.random.default_rng([entry.seed, 7])
        n = min(int(entry.precise_bn_epochs), len(train))
        idx = np.sort(rng.choice(len(train), n, replace=False))
        bn_sample = torch.from_numpy(np.ascontiguousarray(train.x[idx]))
    entry._bn_sample = bn_sample
    try:
        fit(train, valid)
        if entry.module_.training:  # no validation pass ran: re-estimate now
            entry.module_.eval()
    finally:
        del entry._bn_sample
        if hasattr(entry, "module_"):
            entry.module_.bn_sample = None
