"""Zero-shot entries on within-night protocols predict on the whole night and are scored on the
test block's epochs (``needs_whole_night``); every other entry sees only its block."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from sleepbench.benchmark.epochs import EpochSet
from sleepbench.benchmark.protocol_data import ProtocolData, split_blocks

from .support.synthetic import synthetic_recording

CONFIG = SimpleNamespace(sfreq=100.0, channels=("EEG Fpz-Cz",))


class PositionEntry:
    """Predicts class (position of the epoch in what it was given) % 5, and logs input lengths."""

    needs_whole_night = False

    def __init__(self):
        self.seen = []

    def predict_proba(self, data):
        n = len(data)
        self.seen.append(n)
        return np.eye(5)[np.arange(n) % 5]


class WholeNightEntry(PositionEntry):
    needs_whole_night = True


def _data():
    night = synthetic_recording(200, seed=0, name="SC4001E0")
    blocks = split_blocks(night, 5)
    dataset = SimpleNamespace(load=lambda name: night if name == "SC4001E0" else None, config=CONFIG)
    units = {b.subject: [b] for b in blocks}
    return ProtocolData({"subjects": list(units)}, dataset, units), night, blocks


def test_blocks_know_their_night():
    _, night, blocks = _data()
    spans = [b.meta["block_span"] for b in blocks]
    assert spans[0][0] == 0 and spans[-1][1] == len(night.y)
    assert all(b.meta["block_of"] == "SC4001E0" for b in blocks)
    assert all(np.array_equal(b.y, night.y[a:z]) for b, (a, z) in zip(blocks, spans))


def test_whole_night_entry_scored_on_block_epochs():
    data, night, blocks = _data()
    test = data.epoch_set([2])
    entry = WholeNightEntry()
    proba, context = data.predict_proba(entry, test)
    a, z = blocks[2].meta["block_span"]
    assert context == "whole night" and entry.seen == [len(night.y)]
    assert proba.shape == (z - a, 5)
    np.testing.assert_array_equal(proba.argmax(1), np.arange(a, z) % 5)  # positions in the night


def test_other_entries_see_only_the_block():
    data, _, blocks = _data()
    test = data.epoch_set([2])
    entry = PositionEntry()
    proba, context = data.predict_proba(entry, test)
    assert context == "test epochs" and entry.seen == [len(blocks[2].y)]
    np.testing.assert_array_equal(proba.argmax(1), np.arange(len(blocks[2].y)) % 5)


def test_whole_recordings_are_passed_as_they_are():
    rec = synthetic_recording(50, seed=1, name="SC4011E0")
    data = ProtocolData({"subjects": [1]}, SimpleNamespace(load=lambda n: rec, config=CONFIG), {1: [rec]})
    entry = WholeNightEntry()
    proba, context = data.predict_proba(entry, EpochSet([rec], 100.0, ("EEG Fpz-Cz",)))
    assert context == "test epochs" and entry.seen == [50] and len(proba) == 50
