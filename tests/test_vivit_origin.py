"""The origin project's ViViT (``vivit-origin``) and integration (``fin-vivit-origin``).

The full-size model runs ~17 GFLOP per epoch, so the end-to-end fits use ``depth=1`` (one of the
8 identical layers; every other part of the configuration as shipped); the configuration itself is
checked by its parameter count and shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sleepbench.benchmark.registry import discover, make_entry
from sleepbench.models.vivit_origin import ViViTOriginModule
from tests.support.synthetic import synthetic_set

SMALL_FIN = dict(n_train=1200, n_valid=200, epochs=2, batch_size=64)
TINY = dict(depth=1, max_passes=1, steps_per_pass=2, batch_size=4)


#: FINs of other configurations pre-train into a cache of this module's own
pytestmark = [pytest.mark.usefixtures("module_cache"), pytest.mark.slow]


def test_registered_and_the_origins_parameter_count():
    entries = discover()
    assert entries["vivit-origin"].description and entries["fin-vivit-origin"].description
    origin = ViViTOriginModule(truncate=True)            # the origin exactly: 1 temporal token
    assert sum(p.numel() for p in origin.parameters()) == 6_463_109
    assert origin.pos.shape == (1 * 16 * 32, 128)
    fixed = ViViTOriginModule()                          # default: all 12 windows seen
    n = sum(p.numel() for p in fixed.parameters())
    assert abs(n / 6_463_109 - 1) < 0.05 and fixed.pos.shape == (2 * 16 * 32, 128)


def test_video_is_the_origins_windowing_and_scaling():
    m = ViViTOriginModule(truncate=True)
    starts = m.window_index[:, 0].numpy()
    np.testing.assert_array_equal(starts, 249 * np.arange(12))     # 256-sample windows, overlap 7
    x = torch.randn(2, 1, 3000) * 30
    v = m.video(x)
    assert v.shape == (2, 1, 8, 128, 256)                 # truncated to the first 8 windows
    assert float(v.amin()) == 0.0 and float(v.amax()) == 1.0
    flat = m.video(torch.zeros(1, 1, 3000))
    assert torch.all(flat == 0)                          # an all-zero window: zeros, not NaN
    full = ViViTOriginModule().video(x)
    assert full.shape == (2, 1, 16, 128, 256)
    assert torch.all(full[:, :, 12:] == 0) and torch.equal(full[:, :, :8], v)


def test_vivit_origin_trains_end_to_end():
    train, valid, test = synthetic_set(2, 8, seed=1), synthetic_set(1, 6, seed=2), synthetic_set(1, 6, seed=3)
    entry = make_entry("vivit-origin", seed=0, params=TINY)
    assert entry.recipe().seq_len == 1 and entry.recipe().lr == 1e-3
    before = {k: v.clone() for k, v in entry.build_module(1, 3000).state_dict().items()}
    entry.fit(train, valid)
    assert isinstance(entry.module_.optimizer_class(entry.module_.parameters()), torch.optim.Adamax)
    changed = [k for k, v in entry.module_.state_dict().items() if not torch.equal(v, before[k])]
    assert changed                                       # it trained
    proba = entry.predict_proba(test)
    assert proba.shape == (len(test), 5) and np.allclose(proba.sum(1), 1, atol=1e-5)
    again = make_entry("vivit-origin", seed=0, params=TINY).fit(train, valid).predict_proba(test)
    assert np.array_equal(proba, again)                  # a seed fixes everything on CPU


def test_fin_vivit_origin_fuses_fin_embeddings_with_the_64d_vector():
    train, valid, test = synthetic_set(2, 6, seed=1), synthetic_set(1, 4, seed=2), synthetic_set(1, 4, seed=3)
    entry = make_entry("fin-vivit-origin", seed=0, params={**TINY, "fin_config": SMALL_FIN})
    module = entry.build_module(1, 3000)
    assert module.vivit.fc.in_features == 64 + 32 + 32   # ViViT vector + two FIN embeddings
    entry.fit(train, valid)
    entry.predict_proba(test)
    rep = entry.report(test)["fin"]
    assert rep["fusion"] == "embed" and set(rep["imitation"]) == {"entropy", "bandpower"}
    assert entry.n_trainable_params() == entry.n_params()   # everything fine-tuned
