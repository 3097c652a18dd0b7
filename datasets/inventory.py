"""Record tables of Sleep-EDF Expanded and the files a data folder holds for them.

The tables are read from MNE-Python's own copies (``mne/datasets/sleep_physionet/*_records.csv``),
never retyped, so names and SHA-1 checksums are the ones MNE's downloader verifies.

References
----------
Kemp B, Zwinderman AH, Tuk B, Kamphuisen HAC, Oberye JJL (2000). Analysis of a sleep-dependent
neuronal feedback loop: the slow-wave microcontinuity of the EEG. IEEE Trans Biomed Eng 47(9).
Goldberger AL et al. (2000). PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

from sleepbench.errors import UserError

#: Name of the manifest a surrogate dataset folder carries (see :mod:`sleepbench.datasets.surrogate`).
SURROGATE_MANIFEST = "SURROGATE.json"


@dataclass(frozen=True)
class Record:
    """One night: a PSG file and its hypnogram, with the checksums they must have."""

    study: str  # "SC" (sleep cassette), "ST" (sleep telemetry) or "surrogate"
    subject: int
    night: int
    psg: str
    psg_sha1: str
    hypnogram: str
    hypnogram_sha1: str

    @property
    def name(self) -> str:
        """Recording name as PhysioNet writes it, e.g. ``SC4001E0``."""
        return self.psg.split("-")[0]


@dataclass
class Inventory:
    """What a data folder holds for a record table."""

    complete: dict[str, tuple[Record, Path, Path]] = field(default_factory=dict)
    incomplete: list[tuple[Record, list[str]]] = field(default_factory=list)  # record, missing files
    absent: list[Record] = field(default_factory=list)  # neither file present
    corrupt: list[tuple[Record, str, str]] = field(default_factory=list)  # record, file, problem

    def describe_problems(self) -> list[str]:
        lines = [f"{r.name}: incomplete, missing {', '.join(m)}" for r, m in self.incomplete]
        lines += [f"{r.name}: {fname}: {problem}" for r, fname, problem in self.corrupt]
        return lines


def _mne_records_dir() -> Path:
    from mne.datasets.sleep_physionet import _utils

    return Path(_utils.AGE_SLEEP_RECORDS).parent


@lru_cache(maxsize=None)
def sleep_cassette_records() -> tuple[Record, ...]:
    """The 153 nights of the sleep-cassette (age) study: subjects 0-82, nights 1-2."""
    table = pd.read_csv(_mne_records_dir() / "age_records.csv")
    psg = table[table["record type"] == "PSG"].set_index(["subject", "night"])
    hyp = table[table["record type"] == "Hypnogram"].set_index(["subject", "night"])
    return tuple(
        Record("SC", int(s), int(n), psg.loc[(s, n), "fname"], psg.loc[(s, n), "sha"],
               hyp.loc[(s, n), "fname"], hyp.loc[(s, n), "sha"])
        for s, n in sorted(psg.index)
    )


@lru_cache(maxsize=None)
def sleep_telemetry_records() -> tuple[Record, ...]:
    """The 44 nights of the sleep-telemetry (temazepam) study: 22 subjects, placebo and drug night."""
    table = pd.read_csv(_mne_records_dir() / "temazepam_records.csv")
    return tuple(
        Record("ST", int(r.subject), int(r["night nr"]), r.fname_PSG, r.sha_PSG,
               r.fname_Hypnogram, r.sha_Hypnogram)
        for _, r in table.sort_values(["subject", "night nr"]).iterrows()
    )


@lru_cache(maxsize=None)
def telemetry_conditions() -> dict[str, str]:
    """Drug condition of each sleep-telemetry night by recording name (``ST7011J0`` ->
    ``"placebo"``): the study gave temazepam before one night and placebo before the other, in
    either order, so the night number does not tell (MNE's ``temazepam_records.csv``)."""
    table = pd.read_csv(_mne_records_dir() / "temazepam_records.csv")
    return {str(r.fname_PSG).split("-")[0]: str(r.drug).strip().lower() for _, r in table.iterrows()}


def records_for(study: str) -> tuple[Record, ...]:
    """Record table of ``study``: ``"cassette"`` or ``"telemetry"``."""
    tables = {"cassette": sleep_cassette_records, "telemetry": sleep_telemetry_records}
    if study not in tables:
        raise UserError(f"unknown Sleep-EDF study {study!r}; choose from {sorted(tables)}")
    return tables[study]()


def read_surrogate_manifest(data_dir: Path) -> dict | None:
    """The surrogate manifest of ``data_dir``, or None when it is a real Sleep-EDF folder."""
    path = Path(data_dir) / SURROGATE_MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    manifest["records"] = [Record(**r) for r in manifest["records"]]
    return manifest


def surrogate_records(manifest: dict, study: str) -> list[Record]:
    """The records of a surrogate folder that stand in for ``study``: those written in the
    sleep-telemetry layout (``study == "surrogate-ST"``) for ``"telemetry"``, the others (the
    sleep-cassette layout, ``"surrogate"``) for ``"cassette"``."""
    if study not in ("cassette", "telemetry"):
        raise UserError(f"unknown Sleep-EDF study {study!r}; choose from ['cassette', 'telemetry']")
    telemetry = study == "telemetry"
    return [r for r in manifest["records"] if (r.study == "surrogate-ST") == telemetry]


def write_surrogate_manifest(data_dir: Path, manifest: dict) -> None:
    data = dict(manifest, records=[asdict(r) for r in manifest["records"]])
    (Path(data_dir) / SURROGATE_MANIFEST).write_text(json.dumps(data, indent=1))


def sha1_of(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def index_edf_files(data_dir: Path) -> dict[str, Path]:
    """Every ``*.edf`` below ``data_dir`` by file name: PhysioNet's ``sleep-cassette/`` layout,
    MNE's ``physionet-sleep-data/`` layout and a flat folder all work."""
    found: dict[str, Path] = {}
    for path in sorted(Path(data_dir).rglob("*.edf")):
        found.setdefault(path.name, path)
    return found


def take_inventory(data_dir: Path, records: tuple[Record, ...] | list[Record],
                   verify: bool = True, checksum=sha1_of) -> Inventory:
    """Sort ``records`` into complete, incomplete (a file absent) and corrupt (SHA-1 mismatch).

    A night whose PSG is absent is *incomplete*, not an error: the folder may hold only the
    hypnograms of some nights. ``checksum`` lets a caller memoise hashing (see :mod:`.cache`).
    """
    files = index_edf_files(data_dir)
    inv = Inventory()
    for rec in records:
        missing = [f for f in (rec.psg, rec.hypnogram) if f not in files]
        if len(missing) == 2:
            inv.absent.append(rec)
            continue
        if missing:
            inv.incomplete.append((rec, missing))
            continue
        bad = False
        if verify:
            for fname, expected in ((rec.psg, rec.psg_sha1), (rec.hypnogram, rec.hypnogram_sha1)):
                got = checksum(files[fname])
                if got != expected:
                    inv.corrupt.append((rec, str(files[fname]),
                                        f"SHA-1 {got} differs from the expected {expected}"))
                    bad = True
        if not bad:
            inv.complete[rec.name] = (rec, files[rec.psg], files[rec.hypnogram])
    return inv
