"""What a model entry sees: the prepared recordings of one role (train, valid or test) of a fold."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sleepbench.datasets.sleep_edf import STAGES, Recording

N_CLASSES = len(STAGES)


@dataclass
class EpochSet:
    """Recordings kept whole and in order, so sequence models see consecutive epochs.

    Attributes
    ----------
    recordings : list of Recording
        Each with ``x`` [n_epochs, n_channels, n_samples] (µV, float32) and ``y`` [n_epochs] (0..4).
    sfreq : float
        Sampling rate of ``x`` (Hz).
    channels : tuple of str
        Channel names, in the order of ``x``'s second axis.
    """

    recordings: list[Recording]
    sfreq: float
    channels: tuple[str, ...]

    @cached_property
    def x(self) -> np.ndarray:
        """All epochs concatenated in recording order: [n_epochs, n_channels, n_samples]."""
        return np.concatenate([r.x for r in self.recordings]) if self.recordings else np.empty((0, 0, 0), np.float32)

    @cached_property
    def y(self) -> np.ndarray:
        return (np.concatenate([r.y for r in self.recordings]).astype(np.int64) if self.recordings
                else np.empty(0, np.int64))

    @cached_property
    def subject(self) -> np.ndarray:
        return (np.concatenate([np.full(len(r.y), r.subject) for r in self.recordings]) if self.recordings
                else np.empty(0, int))

    @cached_property
    def night(self) -> np.ndarray:
        return (np.concatenate([np.full(len(r.y), r.night) for r in self.recordings]) if self.recordings
                else np.empty(0, int))

    @cached_property
    def epoch(self) -> np.ndarray:
        """Epoch index within its recording (its onset / 30 s)."""
        return (np.concatenate([np.rint(r.onsets / 30.0).astype(np.int64) for r in self.recordings]) if self.recordings
                else np.empty(0, np.int64))

    @property
    def offsets(self) -> np.ndarray:
        """Start of each recording in the concatenated arrays (length n_recordings + 1)."""
        return np.concatenate([[0], np.cumsum([len(r.y) for r in self.recordings])])

    def spans(self) -> list[tuple[int, int]]:
        """``(first, end)`` epoch index of each non-empty recording in the concatenated arrays."""
        o = self.offsets
        return [(int(a), int(b)) for a, b in zip(o[:-1], o[1:]) if b > a]

    def __len__(self) -> int:
        return int(sum(len(r.y) for r in self.recordings))
