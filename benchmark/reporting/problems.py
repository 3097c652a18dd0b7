"""What is wrong with a table row, as data: a :class:`Problem` is a kind and a sentence.

Every decision about a row (is it flagged, is it compared, which marker, header line and note
the renderings show) reads the *kind*; the *text* is only ever shown (the table header, the CSV's
``flags`` column). So rewording a message (:data:`MESSAGES`) cannot change what is flagged.

Kinds (:data:`KINDS`):

* ``missing_folds`` - a seed of the row lacks some of the protocol's folds;
* ``missing_seeds`` - a seed the row should have (the suite's, else every seed of the protocol) has
  no records at all;
* ``lost_data`` - a record was trained, validated or tested without some of its fold's units;
* ``no_validation`` - a record was trained without validation data;
* ``mixed_kernel_sets`` - the row's records were made under several CPU kernel sets (each a valid
  run of the experiment: flagged, still compared).

The first two make a row *incomplete* (:data:`INCOMPLETE`), the next two are problems of the
*data* a record saw (:data:`DATA`); a row with any of these four is never compared
(:data:`NOT_COMPARED`): no ΔMF1, CI or p-value, in the main table or the declared contrasts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MISSING_FOLDS = "missing_folds"
MISSING_SEEDS = "missing_seeds"
LOST_DATA = "lost_data"
NO_VALIDATION = "no_validation"
MIXED_KERNEL_SETS = "mixed_kernel_sets"

#: Every kind of problem, in the order a row lists them.
KINDS = (MISSING_FOLDS, MISSING_SEEDS, LOST_DATA, NO_VALIDATION, MIXED_KERNEL_SETS)
#: Kinds that make a row incomplete (records missing).
INCOMPLETE = frozenset({MISSING_FOLDS, MISSING_SEEDS})
#: Kinds of what is wrong with the data a record was trained or tested on.
DATA = frozenset({LOST_DATA, NO_VALIDATION})
#: Kinds that keep a row out of every comparison.
NOT_COMPARED = INCOMPLETE | DATA
#: Kinds whose texts the CSV's ``flags`` column lists (missing folds have columns of their own,
#: ``folds_found_min/max``, and kernel sets ``cpu_kernel_sets`` / ``mixed_kernel_sets``).
FLAGS_COLUMN = frozenset({MISSING_SEEDS, LOST_DATA, NO_VALIDATION})

#: The sentence of each kind (``str.format`` templates; the wording is free, the kind decides).
MESSAGES = {
    MISSING_FOLDS: "seed {seed}: fold(s) {folds} missing",
    MISSING_SEEDS: "seed(s) {seeds} missing",
    LOST_DATA: "{role} lacks {units} {ids}",
    NO_VALIDATION: "trained without validation data",
    MIXED_KERNEL_SETS: "trained under several CPU kernel sets: {sets}",
}
#: Where in the row a problem of one record is (prefixed to its text).
IN_RECORD = "seed {seed} fold {fold}: {text}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a table row: its ``kind`` (one of :data:`KINDS`) and the sentence shown."""

    kind: str
    text: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown problem kind {self.kind!r} (known: {', '.join(KINDS)})")

    def in_record(self, seed: int, fold: int) -> Problem:
        """The same problem, its text naming the record (seed and fold) it was found in."""
        return Problem(self.kind, IN_RECORD.format(seed=seed, fold=fold, text=self.text))


def problem(kind: str, **fields) -> Problem:
    """A :class:`Problem` of ``kind`` whose text is :data:`MESSAGES` ``[kind]`` filled with ``fields``."""
    return Problem(kind, MESSAGES[kind].format(**fields))


def kinds(problems: Iterable[Problem]) -> set[str]:
    """The kinds among ``problems``."""
    return {p.kind for p in problems}


def is_complete(problems: Iterable[Problem]) -> bool:
    """No folds or seeds missing."""
    return not kinds(problems) & INCOMPLETE


def is_compared(problems: Iterable[Problem]) -> bool:
    """Nothing that keeps the row out of comparisons (:data:`NOT_COMPARED`)."""
    return not kinds(problems) & NOT_COMPARED


def texts(problems: Iterable[Problem], among: Iterable[str] = KINDS) -> list[str]:
    """The texts of the problems whose kind is ``among``, in order."""
    among = set(among)
    return [p.text for p in problems if p.kind in among]


__all__ = ["DATA", "FLAGS_COLUMN", "INCOMPLETE", "IN_RECORD", "KINDS", "LOST_DATA", "MESSAGES",
           "MISSING_FOLDS", "MISSING_SEEDS", "MIXED_KERNEL_SETS", "NOT_COMPARED", "NO_VALIDATION",
           "Problem", "is_compared", "is_complete", "kinds", "problem", "texts"]
