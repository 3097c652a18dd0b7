"""The FIN file format and the shipped default FINs: ``models/weights/`` and its checksum manifest.

The default FINs of each design (:class:`~sleepbench.models.fin.FINConfig` defaults: raw signal,
version 6; :class:`~sleepbench.models.fin.FixedFrontConfig` defaults: fixed front ends, version 5;
seed 0) are files of the repository, ``models/weights/fin-<kind>-v<version>.pt``, listed with their
SHA-256 in ``models/weights/MANIFEST.json`` under ``<kind>-v<version>``. They are loaded only after their hash matches
(:func:`load_shipped`), so every user of a commit gets the same FINs and each record carries their
hash. ``sleepbench fin pretrain --write`` (:func:`sleepbench.models.fin_rebuild.rebuild_fins`)
rewrites them through :func:`write_shipped` and :func:`update_manifest`.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import torch

from sleepbench.datasets.cache import atomic_write_bytes, default_cache_dir, file_lock

from .fin import FIN_VERSION, FIXEDFRONT_VERSION, FINConfig, FINModule, build_fin

#: The shipped default FINs and their checksums (``sleepbench fin pretrain --write`` rewrites them).
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MANIFEST = WEIGHTS_DIR / "MANIFEST.json"
#: Manifest layout: ``{"format": 2, "fins": {"<kind>-v<version>": entry}}`` (format 1, one version
#: keyed by kind, held only version 5).
MANIFEST_FORMAT = 2
#: FIN versions the repository ships (raw signal, fixed front ends); entries of others are dropped.
SHIPPED_VERSIONS = (FIN_VERSION, FIXEDFRONT_VERSION)


def manifest_key(kind: str, version: int = FIN_VERSION) -> str:
    """The manifest's name of the shipped FIN of ``kind`` and ``version``: ``<kind>-v<version>``."""
    return f"{kind}-v{version}"


def shipped_path(kind: str, version: int = FIN_VERSION) -> Path:
    """Where the shipped default FIN of ``kind`` and ``version`` lives
    (``models/weights/fin-<kind>-v<version>.pt``)."""
    return WEIGHTS_DIR / f"fin-{kind}-v{version}.pt"


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``: what the manifest lists and a record carries."""
    return hashlib.sha256(data).hexdigest()


def serialize_fin(module: FINModule, info: dict) -> bytes:
    """The bytes of a FIN file: its state dict and the deterministic part of its training record.

    The wall time is left out (kept in the manifest / a sidecar), so that a rebuild at one thread
    on CPU gives a byte-identical file and the SHA-256 says whether two FINs are the same.
    """
    buf = io.BytesIO()
    torch.save({"state_dict": module.state_dict(),
                "info": {k: v for k, v in info.items() if k != "train_seconds"}}, buf)
    return buf.getvalue()


def fin_from_bytes(kind: str, data: bytes, config, source: Path) -> FINModule:
    """The FIN of ``kind`` and ``config`` in the file bytes ``data`` read from ``source``, carrying
    ``info`` (its training record), ``sha256`` (of ``data``) and ``source``."""
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        module = build_fin(kind, config, seed=config.seed)
        module.load_state_dict(blob["state_dict"])
    except Exception as exc:  # a damaged or foreign file: say which
        raise ValueError(f"{source}: not a {kind} FIN of this version ({type(exc).__name__}: {exc})") from exc
    module.info = dict(blob.get("info", {}))
    module.sha256 = sha256_bytes(data)
    module.source = str(source)
    return module.eval()


def read_manifest() -> dict:
    """``models/weights/MANIFEST.json``: per ``<kind>-v<version>``, its file, SHA-256, config key and
    training facts."""
    if not MANIFEST.is_file():
        return {}
    try:
        return json.loads(MANIFEST.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{MANIFEST}: not valid JSON ({exc})") from exc


def shipped_entry(kind: str, config=None) -> dict | None:
    """The manifest entry of the shipped FIN that ``config`` (default: the default raw FIN) asks
    for, or None when nothing is shipped for it (another configuration, or another version)."""
    config = replace(config or FINConfig(), kind=kind)
    entry = read_manifest().get("fins", {}).get(manifest_key(kind, config.version))
    if entry is None or entry.get("config_key") != config.key():
        return None
    return entry


def load_shipped(kind: str, config=None) -> FINModule | None:
    """The shipped FIN of ``kind``, checked against its SHA-256, or None when none is shipped for
    ``config``. A file whose hash differs from the manifest's is refused (ValueError naming it)."""
    config = replace(config or FINConfig(), kind=kind)
    entry = shipped_entry(kind, config)
    if entry is None:
        return None
    path = WEIGHTS_DIR / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the shipped {kind} FIN listed in {MANIFEST} is missing; "
                                "restore it from the repository or rebuild it with "
                                "`sleepbench fin pretrain --write`")
    data = path.read_bytes()
    digest = sha256_bytes(data)
    if digest != entry["sha256"]:
        raise ValueError(f"{path}: SHA-256 {digest} does not match {entry['sha256']} in {MANIFEST}; "
                         "the shipped FIN weights were changed or damaged. Restore the file from the "
                         "repository, or rebuild both with `sleepbench fin pretrain --write`")
    module = fin_from_bytes(kind, data, config, path)
    module.info.setdefault("train_seconds", entry.get("train_seconds"))
    return module


def write_shipped(kind: str, data: bytes, version: int = FIN_VERSION) -> Path:
    """Replace the shipped FIN file of ``kind`` and ``version`` with ``data`` (a
    :func:`serialize_fin`); the manifest is left to :func:`update_manifest`."""
    path = shipped_path(kind, version)
    atomic_write_bytes(path, data)
    path.chmod(0o644)  # readable by an image's non-root user (mkstemp creates 0600)
    return path


def update_manifest(entries: dict) -> None:
    """Merge ``{"<kind>-v<version>": entry}`` into the manifest as it is now (another kind may have
    been rebuilt meanwhile); entries of versions no longer shipped (:data:`SHIPPED_VERSIONS`) are
    dropped."""
    with file_lock(Path(default_cache_dir()) / "fin" / "manifest.lock"):
        manifest = read_manifest()
        fins = dict(manifest.get("fins", {})) if manifest.get("format") == MANIFEST_FORMAT else {}
        fins.update(entries)
        fins = {k: v for k, v in fins.items() if v.get("version") in SHIPPED_VERSIONS}
        atomic_write_bytes(MANIFEST, (json.dumps({"format": MANIFEST_FORMAT, "fins": dict(sorted(fins.items()))},
                                                 indent=1) + "\n").encode())
        MANIFEST.chmod(0o644)
