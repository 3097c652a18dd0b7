"""Spies for the two-stage entries' recipe tests: what each optimiser was built with, and the
weights before and after an entry's pre-training stage. Each patches through a ``MonkeyPatch``
that the caller undoes."""

from __future__ import annotations

import torch


def record_adams(mp, log: dict, describe) -> None:
    """Append, for every ``torch.optim.Adam`` built, ``describe(group)`` of each of its param groups
    to ``log["adam"]``."""
    real_adam = torch.optim.Adam

    class Adam(real_adam):
        def __init__(self, params, **kw):
            super().__init__(params, **kw)
            log["adam"].append([describe(g) for g in self.param_groups])

    mp.setattr(torch.optim, "Adam", Adam)


def snapshot_pretraining(mp, entry_cls, log: dict) -> None:
    """Copy the module's state into ``log["snap"]["init"]`` before ``entry_cls.pretrain`` and into
    ``log["snap"]["pretrained"]`` after it."""
    real_pretrain = entry_cls.pretrain

    def pretrain(self, *args):
        log["snap"]["init"] = {k: v.clone() for k, v in self.module_.state_dict().items()}
        out = real_pretrain(self, *args)
        log["snap"]["pretrained"] = {k: v.clone() for k, v in self.module_.state_dict().items()}
        return out

    mp.setattr(entry_cls, "pretrain", pretrain)


def fit_spied(mp, model: str, params: dict, train, valid):
    """``make_entry(model, 0, params).fit(train, valid)`` with the spies set on ``mp``, which is
    undone after, fit or not."""
    from sleepbench.benchmark.registry import make_entry

    try:
        return make_entry(model, 0, params).fit(train, valid)
    finally:
        mp.undo()
