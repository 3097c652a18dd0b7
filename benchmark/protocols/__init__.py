"""Fixed evaluation protocols: explicit subject lists per fold, versioned and hashed.

The JSON files here are generated once by ``python -m benchmark.protocols.make_protocols`` and
committed; the harness only reads them. A protocol's ``hash`` is the SHA-256 of its canonical JSON
(sorted keys, no whitespace) without the ``hash`` field, so it is the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from sleepbench.errors import UserError

PROTOCOL_DIR = Path(__file__).parent


def content_hash(protocol: dict) -> str:
    body = {k: v for k, v in protocol.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def available() -> list[str]:
    return sorted(p.stem for p in PROTOCOL_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def _load(name: str) -> str:
    path = PROTOCOL_DIR / f"{name}.json"
    if not path.is_file():
        raise UserError(f"unknown protocol {name!r}; available: {', '.join(available())}")
    return path.read_text()


def load_protocol(name: str) -> dict:
    """The committed protocol ``name``; refuses one whose content no longer matches its hash."""
    protocol = json.loads(_load(name))
    if content_hash(protocol) != protocol["hash"]:
        raise UserError(f"protocol {name!r}: content does not match its hash (edited by hand?); "
                         "regenerate with python -m benchmark.protocols.make_protocols")
    return protocol
