"""Suites: a protocol, the model entries with their training budgets, the seeds, the reference and
the declared contrasts.

``benchmark/suites/<name>.yaml``::

    name: quick                  # optional, default: the file's stem
    protocol: quick              # benchmark/protocols/<protocol>.json
    seeds: [0]
    reference: vivit             # optional: the model the table's Delta columns compare with
    budget_rule: >-              # optional: the rule that sets every deep entry's budget, in words
      ...
    models:                      # entry name -> parameters passed to its __init__
      majority: {}
      tinysleepnet: {max_passes: 4}
    contrasts:                   # optional: (model, reference) pairs tested together, Holm-adjusted
      - [fin-vivit, vivit]
    projection: false            # optional (default true): whether `sleepbench run` calibrates each
                                 # entry to project the wall time first (`--[no-]projection` overrides)

Any other top-level key is an error (a typo such as ``contrast:`` must not be silently ignored).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from sleepbench.benchmark.registry import renamed_parameters_error
from sleepbench.errors import UserError

SUITE_DIR = Path(__file__).parent
#: The top-level keys a suite file may have.
KEYS = ("name", "protocol", "seeds", "reference", "budget_rule", "description", "models", "contrasts",
        "projection")


def available() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.yaml"))


def load_suite(name_or_path: str) -> dict:
    """Read and check a suite; returns it with ``name`` set and ``contrasts`` a list of (model, ref).

    Raises
    ------
    ValueError
        Unknown suite; a missing or unknown top-level key; contrasts that are not pairs of the
        suite's models; a reference that is not one of its models.
    """
    path = Path(name_or_path)
    if not path.is_file():
        path = SUITE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise UserError(f"unknown suite {name_or_path!r}; available: {', '.join(available())}")
    suite = yaml.safe_load(path.read_text())
    if not isinstance(suite, dict):
        raise UserError(f"{path}: a suite is a YAML mapping (protocol, seeds, models, ...)")
    missing = {"protocol", "models", "seeds"} - set(suite)
    if missing:
        raise UserError(f"{path}: suite lacks {sorted(missing)}")
    unknown = sorted(set(suite) - set(KEYS))
    if unknown:
        raise UserError(f"{path}: unknown top-level key(s) {unknown}; a suite has {', '.join(KEYS)}")
    suite["models"] = {m: dict(p or {}) for m, p in suite["models"].items()}
    for m, params in suite["models"].items():
        renamed = renamed_parameters_error(params, f"{path}: model {m!r}")
        if renamed:
            raise UserError(renamed)
    suite.setdefault("name", path.stem)
    suite.setdefault("projection", True)
    if not isinstance(suite["projection"], bool):
        raise UserError(f"{path}: projection is true or false, got {suite['projection']!r}")
    contrasts = []
    for item in suite.get("contrasts") or []:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise UserError(f"{path}: each contrast is a [model, reference] pair, got {item!r}")
        absent = [m for m in item if m not in suite["models"]]
        if absent:
            raise UserError(f"{path}: contrast {list(item)} names model(s) {absent} not in the suite's "
                             f"models ({', '.join(suite['models'])})")
        if item[0] == item[1]:
            raise UserError(f"{path}: contrast {list(item)} compares a model with itself")
        contrasts.append((item[0], item[1]))
    if len(set(contrasts)) != len(contrasts):
        raise UserError(f"{path}: a contrast is listed twice")
    suite["contrasts"] = contrasts
    ref = suite.get("reference")
    if ref is not None and ref not in suite["models"]:
        raise UserError(f"{path}: reference {ref!r} is not one of the suite's models")
    return suite


def suites_for_protocol(protocol: str) -> list[dict]:
    """Every committed suite that runs ``protocol`` (used to find a table's declared contrasts)."""
    out = []
    for name in available():
        try:
            suite = load_suite(name)
        except ValueError:
            continue
        if suite["protocol"] == protocol:
            out.append(suite)
    return out
