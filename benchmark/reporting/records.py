"""Run records on disk, as tables read them: loading, and the checks that records belong together.

A record is ``runs/<protocol>/<model>/seed-<s>/fold-<k>.json`` (context) beside its ``.npz``
(per-epoch predictions), written by :mod:`sleepbench.benchmark.runner` in the record schema
:data:`sleepbench.benchmark.store.SCHEMA`. Reporting reads the fields that schema always writes; a
record of an older schema is refused (:func:`load_records`), never read with guessed defaults.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from sleepbench.errors import UserError

from ..store import SCHEMA
from .problems import LOST_DATA, NO_VALIDATION, Problem, problem

log = logging.getLogger(__name__)

#: The per-epoch arrays tables need from a record's ``.npz``.
ARRAYS = ("y_true", "y_pred", "subject", "recording", "epoch")
#: Fields of the current record schema that reporting reads (dotted paths). Records made before
#: some of them existed carry the same schema number; they are refused like an older schema.
REQUIRED_FIELDS = (
    "protocol.name", "protocol.version", "protocol.hash", "protocol.title", "protocol.kind",
    "dataset.source", "dataset.channels", "dataset.sfreq", "dataset.wake_margin_min", "dataset.epoch_sec",
    "dataset.checksums", "identity.code_hash", "identity.code_files", "identity.cache_version",
    "model.name", "model.params", "model.code_hash", "model.n_params", "model.n_trainable_params",
    "entry_report", "prediction_context", "seed", "fold", "precision", "subjects.train", "subjects.valid",
    "subjects.test", "timing.fit_s", "environment.python", "environment.packages", "environment.platform",
    "environment.git_commit", "environment.cpu_kernel_set", "environment.device.type",
    "environment.device.name",
)


class MixedRecordsError(UserError):
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

    A record whose JSON does not parse, whose schema is unknown (newer than this sleepbench) or
    whose ``.npz`` is missing is skipped with a warning (its fold then shows as missing in the
    table).

    Raises
    ------
    UserError
        A record of an older schema than :data:`~sleepbench.benchmark.store.SCHEMA` (or none), or
        of the current one without some of :data:`REQUIRED_FIELDS` (made by an older sleepbench):
        it lacks fields the tables read, and must be made again with ``sleepbench run``.
    """
    out: dict[str, list[Run]] = defaultdict(list)
    for js in record_files(results_dir):
        try:
            record = json.loads(js.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("skipping unreadable record %s: %s", js, exc)
            continue
        check_schema(js, record)
        if record.get("schema") != SCHEMA:  # newer than this sleepbench
            log.warning("skipping %s: unknown record schema %r", js, record.get("schema"))
            continue
        if not js.with_suffix(".npz").is_file():
            log.warning("skipping %s: its predictions (.npz) are missing", js)
            continue
        out[record["protocol"]["name"]].append(Run(js, record))
    return dict(sorted(out.items()))


def _has(record: dict, path: str) -> bool:
    for key in path.split("."):
        if not isinstance(record, dict) or key not in record:
            return False
        record = record[key]
    return True


def check_schema(js: Path, record: dict) -> None:
    """Raise :class:`~sleepbench.errors.UserError` when the record at ``js`` is of an older schema
    than :data:`~sleepbench.benchmark.store.SCHEMA` (or has none), or of the current one but lacks
    some of :data:`REQUIRED_FIELDS`. A newer schema passes (:func:`load_records` skips it)."""
    schema = record.get("schema")
    rerun = "rerun `sleepbench run` for it (with --force), or move it out of runs/"
    if schema is None or (isinstance(schema, int) and not isinstance(schema, bool) and schema < SCHEMA):
        raise UserError(f"{js} is a run record of schema {schema if schema is not None else 'none'}, older "
                        f"than the current schema {SCHEMA}, which the tables need: {rerun}")
    missing = [f for f in REQUIRED_FIELDS if not _has(record, f)] if schema == SCHEMA else []
    if missing:
        raise UserError(f"{js} is a run record of schema {schema} made by an older sleepbench, without "
                        f"{', '.join(missing)}, which the tables need: {rerun}")


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
    disagree("the preprocessing version (datasets.cache.CACHE_VERSION)",
             lambda rec: rec["identity"]["cache_version"])
    # the strongest check of all: every record of a fold scored the same epochs against the same truth
    truth: dict[int, tuple] = {}
    for r in sorted(runs, key=lambda r: (r.fold, r.seed, r.model)):
        a = r.arrays
        first = truth.setdefault(r.fold, (r, a))
        if first[0] is r:
            continue
        b = first[1]
        same = all(len(a[k]) == len(b[k]) and (a[k] == b[k]).all() for k in ("recording", "epoch", "y_true"))
        if not same:
            raise MixedRecordsError(
                f"protocol {protocol!r}, fold {r.fold}: {r.path} and {first[0].path} scored different "
                "test epochs or labels (the data or its preparation changed between them). A table "
                f"never mixes them: rerun the stale records (--force) or move them out of runs/{protocol}/.")
    sums = defaultdict(set)
    for r in runs:
        for name, pair in r.record["dataset"]["checksums"].items():
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


# --- one row = one experiment ---------------------------------------------------------------------

#: Package versions that must agree between the records of one row (they change the numbers).
ROW_PACKAGES = ("torch", "numpy", "scikit-learn", "mne")


def _params(rec: dict) -> dict:
    """Resolved parameters without the seed (which differs between seeds of one experiment)."""
    return {k: v for k, v in rec["model"]["params"].items() if k != "seed"}


def code_hash(rec: dict) -> str:
    return rec["identity"]["code_hash"]


def fin_weights(rec: dict) -> dict | None:
    """The FIN weights a FIN entry reports (None for every other entry)."""
    return (rec["entry_report"].get("fin") or {}).get("weights")


def device_text(device: dict) -> str:
    """``cpu`` or ``cuda (NVIDIA H100 80GB HBM3)`` (a record's ``environment.device``)."""
    kind = device["type"]
    return str(kind) if kind == "cpu" else f"{kind} ({device['name']})"


#: (what, how to read it from a record) for every field the records of one row must share.
ROW_FIELDS = (
    ("resolved parameters", _params),
    ("code hash", code_hash),
    ("FIN weights", fin_weights),
    ("device", lambda rec: rec["environment"]["device"]),
    ("precision", lambda rec: rec["precision"]),
    # a package not installed where the record was made is absent from its versions
    *((f"{pkg} version", (lambda pkg: lambda rec: rec["environment"]["packages"].get(pkg))(pkg))
      for pkg in ROW_PACKAGES),
)


def _differing_keys(values: list) -> list[str]:
    """For dict values: the keys whose values differ (to keep the message short)."""
    if not all(isinstance(v, dict) for v in values):
        return []
    keys = sorted(set().union(*values))
    return [k for k in keys if len({json.dumps(v.get(k), sort_keys=True, default=str) for v in values}) > 1]


def check_model_consistent(protocol: str, model: str, runs: list[Run]) -> None:
    """Raise :class:`MixedRecordsError` unless the records of one model are one experiment.

    They must agree on the resolved parameters (seed aside), the code hash, the FIN weights, the
    device, the precision and the versions of :data:`ROW_PACKAGES`; the message names the field, the values and a
    record holding each.
    """
    for what, key in ROW_FIELDS:
        seen: dict[str, list[Path]] = defaultdict(list)
        values = {}
        for r in sorted(runs, key=lambda r: (r.seed, r.fold)):
            v = key(r.record)
            k = json.dumps(v, sort_keys=True, default=str)
            seen[k].append(r.path)
            values[k] = v
        if len(seen) <= 1:
            continue
        keys = _differing_keys(list(values.values()))
        if keys:
            shown = {k: {kk: values[k].get(kk) for kk in keys} for k in seen}
            what = f"{what} ({', '.join(keys)})"
        else:
            shown = {k: values[k] for k in seen}
        detail = "; ".join(f"{json.dumps(shown[k], default=str)} in {len(p)} record(s), e.g. {p[0]}"
                           for k, p in seen.items())
        raise MixedRecordsError(
            f"protocol {protocol!r}, model {model!r}: records differ in {what}: {detail}. One table "
            f"row is one experiment: rerun the stale records (sleepbench run ... --force) or move "
            f"them out of runs/{protocol}/{model}/.")


def fold_problems(run: Run, fold: dict | None) -> list[Problem]:
    """What is wrong with the data one record was trained or tested on (empty when nothing):
    ``lost_data`` per role that lacks units of the protocol's fold, ``no_validation`` when it was
    trained without validation data (:mod:`.problems`).

    ``fold`` is the protocol's fold (its subject lists), or None when the committed protocol
    file does not match the records (then only the validation check is possible).
    """
    rec = run.record
    used = rec["subjects"]
    out = []
    if fold is not None:
        for role in ("train", "valid", "test"):
            lost = sorted(set(map(int, fold[role])) - set(map(int, used[role])))
            if lost:
                out.append(problem(LOST_DATA, role=role, units="unit" if len(lost) == 1 else "units",
                                   ids=", ".join(map(str, lost))))
    training = rec["entry_report"].get("training") or {}
    if not used["valid"] or training.get("validation") == "none":
        out.append(problem(NO_VALIDATION))
    return out
