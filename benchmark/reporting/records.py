"""Run records on disk, as tables read them: loading, and the checks that records belong together.

A record is ``runs/<protocol>/<model>/seed-<s>/fold-<k>.json`` (context) beside its ``.npz``
(per-epoch predictions), written by :mod:`benchmark.runner`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: The per-epoch arrays tables need from a record's ``.npz``.
ARRAYS = ("y_true", "y_pred", "subject", "recording", "epoch")


class MixedRecordsError(ValueError):
    """Records of one protocol come from different protocol versions or datasets."""


@dataclass
class Run:
    """One finished (protocol, model, seed, fold) record; its predictions load on first use."""

    path: Path
    record: dict

    model = property(lambda self: self.record["model"]["name"])
    seed = property(lambda self: int(self.record["seed"]))
    fold = property(lambda self: int(self.record["fold"]))

    @cached_property
    def arrays(self) -> dict[str, np.ndarray]:
        with np.load(self.path.with_suffix(".npz")) as z:
            return {k: z[k] for k in ARRAYS}


def record_files(results_dir) -> list[Path]:
    """Every record JSON under ``results_dir/runs/``, sorted."""
    return sorted(Path(results_dir).glob("runs/*/*/seed-*/fold-*.json"))


def load_records(results_dir) -> dict[str, list[Run]]:
    """Every finished record under ``results_dir/runs/*/*/seed-*/fold-*.json``, by protocol name.

    A record whose JSON does not parse, whose schema is unknown or whose ``.npz`` is missing is
    skipped with a warning (its fold then shows as missing in the table).
    """
    out: dict[str, list[Run]] = defaultdict(list)
    for js in record_files(results_dir):
        try:
            record = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable record %s: %s", js, exc)
            continue
        if record.get("schema") != 1:
            log.warning("skipping %s: unknown record schema %r", js, record.get("schema"))
            continue
        if not js.with_suffix(".npz").is_file():
            log.warning("skipping %s: its predictions (.npz) are missing", js)
            continue
        out[record["protocol"]["name"]].append(Run(js, record))
    return dict(sorted(out.items()))


def check_consistent(protocol: str, runs: list[Run]) -> None:
    """Raise :class:`MixedRecordsError` unless all ``runs`` share protocol version and dataset."""
    def disagree(what: str, key) -> None:
        seen = defaultdict(list)
        for r in runs:
            seen[json.dumps(key(r.record), sort_keys=True)].append(r.path)
        if len(seen) > 1:
            detail = "; ".join(f"{v} in {len(p)} record(s), e.g. {p[0]}" for v, p in seen.items())
            raise MixedRecordsError(
                f"protocol {protocol!r}: records disagree on {what} ({detail}). A table never mixes "
                f"protocol versions or datasets: move the stale records out of runs/{protocol}/ "
                "(or rerun them with --force) and try again.")

    disagree("the protocol hash", lambda rec: rec["protocol"]["hash"])
    disagree("the dataset source", lambda rec: rec["dataset"]["source"])
    disagree("the preprocessing", lambda rec: {k: v for k, v in rec["dataset"].items()
                                               if k not in ("source", "checksums")})
    sums = defaultdict(set)
    for r in runs:
        for name, pair in r.record["dataset"].get("checksums", {}).items():
            sums[name].add(tuple(pair))
    changed = sorted(n for n, s in sums.items() if len(s) > 1)
    if changed:
        raise MixedRecordsError(
            f"protocol {protocol!r}: records were computed on different files for recording(s) "
            f"{', '.join(changed)} (checksums differ). Move the stale records out of runs/{protocol}/.")


def expected_folds(protocol: str, runs: list[Run]) -> tuple[list[int], bool]:
    """The protocol's folds when its committed file matches the records' hash, else those seen."""
    from ..protocols import load_protocol

    try:
        p = load_protocol(protocol)
        if p["hash"] == runs[0].record["protocol"]["hash"]:
            return [int(f["fold"]) for f in p["folds"]], True
    except (ValueError, KeyError, OSError):
        pass
    return sorted({r.fold for r in runs}), False
