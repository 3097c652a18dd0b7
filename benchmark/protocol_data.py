"""The recordings a protocol evaluates on: Sleep-EDF folders, generated surrogates, night blocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from sleepbench.datasets.cache import config_key, default_cache_dir
from sleepbench.datasets.inventory import read_surrogate_manifest
from sleepbench.datasets.sleep_edf import Recording, SleepEDF
from sleepbench.errors import UserError

from .epochs import EpochSet

log = logging.getLogger(__name__)


def surrogate_dir(spec: dict, cache_dir: Path | None = None) -> Path:
    """Where the surrogate set of ``spec`` lives in the cache (one folder per spec)."""
    from sleepbench.datasets.surrogate import GENERATOR_VERSION

    # the generator's version is in the key: a new generator never reuses an older set
    return Path(cache_dir or default_cache_dir()) / "surrogate" / config_key(spec, GENERATOR_VERSION)


def ensure_surrogate(spec: dict, cache_dir: Path | None = None, n_jobs: int = 1) -> Path:
    """Generate the protocol's surrogate set into the cache unless it is already there."""
    from sleepbench.datasets.surrogate import GENERATOR_VERSION, SurrogateSpec, generate

    out = surrogate_dir(spec, cache_dir)
    manifest = read_surrogate_manifest(out)
    # compared as specs, so a field added later with its default does not force a regeneration
    if (manifest is None or SurrogateSpec(**manifest["spec"]) != SurrogateSpec(**spec)
            or manifest.get("generator_version") != GENERATOR_VERSION):
        log.warning("generating surrogate data %s into %s", spec, out)
        generate(out, SurrogateSpec(**spec), n_jobs=n_jobs)
    return out


@dataclass
class ProtocolData:
    """Recordings of a protocol grouped by evaluation unit (subject, or night block).

    Subject units hold recording names, loaded from the cache only when a fold asks for them, so a
    job holds in memory just the subjects of its fold.
    """

    protocol: dict
    dataset: SleepEDF
    units: dict[int, list]  # unit -> recording names (subjects) or Recordings (night blocks)

    @property
    def source(self) -> str:
        return self.dataset.source

    def recordings(self, units: list[int]) -> list[Recording]:
        return [r if isinstance(r, Recording) else self.dataset.load(r)
                for u in units for r in self.units.get(u, [])]

    def epoch_set(self, units: list[int]) -> EpochSet:
        return EpochSet(self.recordings(units), self.dataset.config.sfreq,
                        self.dataset.config.channels)

    def checksums(self, units: list[int]) -> dict[str, list[str]]:
        out = {}
        for u in units:
            for r in self.units.get(u, []):
                name = r.name.split("-")[0] if isinstance(r, Recording) else r
                rec = self.dataset.inventory.complete[name][0]
                out[name] = [rec.psg_sha1, rec.hypnogram_sha1]
        return out

    def problems(self) -> list[str]:
        """One line per recording left out: incomplete, corrupt or unreadable (file and reason)."""
        return self.dataset.inventory.describe_problems() + [
            self.dataset.failed[n] for n in sorted(self.dataset.failed)]

    def missing_units(self) -> list[int]:
        return [u for u in self.protocol["subjects"] if not self.units.get(u)]

    def predict_proba(self, entry, test: EpochSet) -> tuple[np.ndarray, str]:
        """``entry.predict_proba(test)`` and the context the entry saw (``"test epochs"``).

        An entry with ``needs_whole_night = True`` (a zero-shot stager whose features are
        normalised over, or depend on the time of, the whole night, e.g. YASA) gets, for a test
        recording that is a block of a night (within-night protocols), the whole night's signal
        (no labels) and is scored on the block's epochs only (``"whole night"``). Nothing is learned
        from the other blocks' signals: such an entry learns nothing at all.
        """
        blocks = [r for r in test.recordings if "block_of" in r.meta]
        if not getattr(entry, "needs_whole_night", False) or not blocks:
            return np.asarray(entry.predict_proba(test)), "test epochs"
        parts = []
        for rec in test.recordings:
            if "block_of" not in rec.meta:
                parts.append(entry.predict_proba(EpochSet([rec], test.sfreq, test.channels)))
                continue
            whole = self.dataset.load(rec.meta["block_of"])
            a, z = rec.meta["block_span"]
            proba = np.asarray(entry.predict_proba(EpochSet([whole], test.sfreq, test.channels)))
            parts.append(proba[a:z])
        return np.concatenate(parts), "whole night"


def _open_cross_study(protocol: dict, data_dir: Path, cache_dir, n_jobs: int,
                      progress: bool) -> ProtocolData:
    """Train-study and test-study recordings of a cross-study protocol (e.g. Sleep-EDF cassette ->
    telemetry), test units at ``TEST_UNIT_OFFSET + subject`` (:mod:`sleepbench.datasets.studies`).

    A surrogate folder holding both studies' layouts (``SurrogateSpec.telemetry_subjects``) may
    stand in: its records say ``surrogate`` and so does every table made from them.
    """
    from sleepbench.datasets.studies import TEST_UNIT_OFFSET, StudyUnion, cross_study_units

    spec, prep = protocol["dataset"], protocol["prep"]
    subjects = protocol["subjects"]
    open_study = lambda study, subs: SleepEDF(  # noqa: E731
        data_dir, channels=prep["channels"], sfreq=prep["sfreq"],
        wake_margin_min=prep["wake_margin_min"], study=study, subjects=subs, cache_dir=cache_dir,
        n_jobs=n_jobs)
    train = open_study(spec["study"], [u for u in subjects if u < TEST_UNIT_OFFSET])
    test = open_study(spec["test_study"], [u - TEST_UNIT_OFFSET for u in subjects
                                           if u >= TEST_UNIT_OFFSET])
    if len({train.source == "surrogate", test.source == "surrogate"}) > 1:
        raise UserError(f"{data_dir}: protocol {protocol['name']!r} needs both studies from one "
                         "kind of folder (real Sleep-EDF, or a surrogate with both layouts)")
    data = StudyUnion([train, test])
    data.prepare(progress=progress)
    return ProtocolData(protocol, data, cross_study_units(train, test, spec.get("test_condition")))


def split_blocks(rec: Recording, n_blocks: int) -> list[Recording]:
    """Cut one night into ``n_blocks`` contiguous blocks (unit = block index)."""
    bounds = np.linspace(0, len(rec.y), n_blocks + 1).round().astype(int)
    # block_of / block_span: where the block lies in its night (ProtocolData.predict_proba)
    return [replace(rec, name=f"{rec.name}-b{b}", subject=b, x=rec.x[a:z], y=rec.y[a:z],
                    onsets=rec.onsets[a:z],
                    meta={**rec.meta, "block_of": rec.name, "block_span": [int(a), int(z)]})
            for b, (a, z) in enumerate(zip(bounds[:-1], bounds[1:]))]


def open_protocol_data(protocol: dict, data_dir: Path | None = None, cache_dir: Path | None = None,
                       n_jobs: int = 1, progress: bool = True) -> ProtocolData:
    """Open (generating or preparing as needed) the data of ``protocol``.

    Sleep-EDF protocols need ``data_dir``. Surrogate protocols use ``data_dir`` only when it holds a
    surrogate set (its manifest); any other folder (empty, absent, or real Sleep-EDF: what
    ``--data-dir`` names in a Sleep-EDF workflow such as ``make benchmark``) is ignored and the
    protocol's own surrogate set is generated into the cache. Recordings that fail to prepare are
    reported and left out.
    """
    spec = protocol["dataset"]
    prep = protocol["prep"]
    if spec["type"] == "surrogate":
        if data_dir and read_surrogate_manifest(Path(data_dir)) is None:
            log.info("%s holds no surrogate set: protocol %r uses its own, generated into the cache",
                     data_dir, protocol["name"])
            data_dir = None
        data_dir = Path(data_dir) if data_dir else ensure_surrogate(spec["spec"], cache_dir, n_jobs)
    elif data_dir is None:
        raise UserError(f"protocol {protocol['name']!r} runs on Sleep-EDF: pass --data-dir "
                         "(fetch it with `sleepbench data fetch --data-dir DIR`)")
    if protocol["kind"] == "cross-study":
        return _open_cross_study(protocol, Path(data_dir), cache_dir, n_jobs, progress)
    within = protocol["kind"] == "within-night"
    subjects = [int(spec["recording"][3:5])] if within else protocol["subjects"]
    ds = SleepEDF(data_dir, channels=prep["channels"], sfreq=prep["sfreq"],
                  wake_margin_min=prep["wake_margin_min"], study=spec.get("study", "cassette"),
                  subjects=subjects, cache_dir=cache_dir, n_jobs=n_jobs)
    if spec["type"] == "surrogate" and ds.source != "surrogate":
        raise UserError(f"{data_dir}: protocol {protocol['name']!r} needs a surrogate folder")
    if spec["type"] == "sleep-edf" and ds.source == "surrogate":
        raise UserError(f"{data_dir}: a surrogate folder cannot stand in for Sleep-EDF "
                         f"(protocol {protocol['name']!r})")
    ds.prepare(progress=progress)
    units: dict[int, list[Recording]] = {}
    if within:
        if spec["recording"] not in {r.name for r in ds.records}:
            raise UserError(f"{data_dir}: recording {spec['recording']} not found or unusable")
        for block in split_blocks(ds.load(spec["recording"]), protocol["n_blocks"]):
            units[block.subject] = [block]
    else:
        for rec in ds.records:
            units.setdefault(rec.subject, []).append(rec.name)
    return ProtocolData(protocol, ds, units)
