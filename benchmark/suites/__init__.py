"""Suites: a protocol, the model entries with their training budgets, and the seeds.

``benchmark/suites/<name>.yaml``::

    name: quick
    protocol: quick
    seeds: [0]
    models:              # entry name -> parameters passed to its __init__
      majority: {}
      tinysleepnet: {max_epochs: 4}
"""

from __future__ import annotations

from pathlib import Path

import yaml

SUITE_DIR = Path(__file__).parent


def available() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> dict:
    path = Path(name_or_path)
    if not path.is_file():
        path = SUITE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown suite {name_or_path!r}; available: {', '.join(available())}")
    suite = yaml.safe_load(path.read_text())
    missing = {"protocol", "models", "seeds"} - set(suite)
    if missing:
        raise ValueError(f"{path}: suite lacks {sorted(missing)}")
    suite["models"] = {m: dict(p or {}) for m, p in suite["models"].items()}
    suite.setdefault("name", path.stem)
    return suite
