"""Which records a table shows: ``--protocol``, ``--models``, ``--exclude``, ``--suite``.

Every name the user gives is checked against what exists; a wrong one is an error listing the
choices (``sleepbench tables`` exits 2), never an empty or silently partial table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sleepbench.errors import UserError

from .records import Run, record_files


@dataclass
class Selection:
    """What to tabulate. ``contrasts``/``seeds`` come from a suite (None: none declared / any)."""

    protocols: list[str] | None = None
    models: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    reference: str | None = None
    contrasts: list[tuple[str, str]] | None = None
    seeds: list[int] | None = None
    suite: str | None = None
    #: model -> the parameters the suite sets (its records must have been made with them)
    settings: dict | None = None


def _names(text) -> list[str]:
    if text is None:
        return []
    if isinstance(text, str):
        text = text.split(",")
    return [t.strip() for t in text if t and t.strip()]


def make_selection(protocol: str | None = None, models=None, exclude=None, suite: str | None = None,
                   reference: str | None = None) -> Selection:
    """A :class:`Selection` from command-line style arguments (comma-separated names allowed).

    A suite selects its protocol, models, reference, contrasts and seeds; ``models``/``exclude``
    narrow it further and an explicit ``reference`` wins over the suite's.
    """
    sel = Selection(models=_names(models) or None, exclude=_names(exclude), reference=reference)
    if suite is not None:
        from ..suites import load_suite

        s = load_suite(suite)
        if protocol is not None and protocol != s["protocol"]:
            raise UserError(f"suite {s['name']!r} runs protocol {s['protocol']!r}, not {protocol!r}")
        protocol = s["protocol"]
        outside = [m for m in sel.models or [] if m not in s["models"]]
        if outside:
            raise UserError(f"model(s) {', '.join(outside)} not in suite {s['name']!r} "
                             f"(its models: {', '.join(s['models'])})")
        narrowed = sel.models is not None
        sel.models = sel.models or list(s["models"])
        sel.reference = reference or s.get("reference")
        if not reference and narrowed and sel.reference not in sel.models:
            # `--models` left the suite's reference out (e.g. `make benchmark MODELS=majority`):
            # a table without comparisons, not an error; an explicit --reference still must exist
            sel.reference = None
        sel.contrasts = list(s["contrasts"])
        sel.seeds = [int(x) for x in s["seeds"]]
        sel.suite = s["name"]
        sel.settings = {m: dict(p) for m, p in s["models"].items()}
    sel.protocols = [protocol] if protocol else None
    return sel


def check_results_dir(results_dir) -> None:
    """Raise with a clear message when ``results_dir`` is missing or holds no run records."""
    root = Path(results_dir)
    if not root.is_dir():
        raise UserError(f"results folder {root} does not exist (run `sleepbench run ...` first, "
                                "or point --results at the folder holding runs/)")
    if not record_files(root):
        raise UserError(f"no run records under {root / 'runs'} (expected "
                         "runs/<protocol>/<model>/seed-<s>/fold-<k>.json): run `sleepbench run ...` first")


def apply_selection(records: dict[str, list[Run]], sel: Selection) -> dict[str, list[Run]]:
    """The records of the selected protocols and models; errors name what exists.

    Raises
    ------
    ValueError
        An unknown protocol, model (in ``models`` or ``exclude``) or reference, or a selection
        that leaves nothing.
    """
    from ..protocols import available as known_protocols

    if sel.protocols:
        absent = [p for p in sel.protocols if p not in records]
        if absent:
            raise UserError(f"no records of protocol {', '.join(map(repr, absent))}; protocols with "
                             f"records: {', '.join(records) or 'none'} (known protocols: "
                             f"{', '.join(known_protocols())})")
        records = {p: records[p] for p in sel.protocols}
    with_records = sorted({r.model for runs in records.values() for r in runs})
    asked = (sel.models or []) + sel.exclude
    unknown = [m for m in asked if m not in with_records]
    if unknown and not (sel.suite and sel.models):
        raise UserError(f"model(s) {', '.join(unknown)} have no records in "
                         f"{', '.join(records)}; models with records: {', '.join(with_records)}")
    if sel.suite:  # a suite's models that were not run are reported in the table, not an error
        unknown = [m for m in sel.exclude if m not in with_records]
        if unknown:
            raise UserError(f"model(s) {', '.join(unknown)} have no records in {', '.join(records)}; "
                             f"models with records: {', '.join(with_records)}")
    keep = set(sel.models) if sel.models else set(with_records)
    keep -= set(sel.exclude)
    out = {p: [r for r in runs if r.model in keep] for p, runs in records.items()}
    out = {p: runs for p, runs in out.items() if runs}
    if not out:
        raise UserError(f"the selection leaves no records (models with records: {', '.join(with_records)})")
    if sel.settings:
        check_suite_settings(out, sel)
    if sel.reference is not None:
        present = sorted({r.model for runs in out.values() for r in runs})
        if sel.reference not in present:
            raise UserError(f"reference {sel.reference!r} has no records among the selected models; "
                             f"choose one of: {', '.join(present)}")
    return out


def check_suite_settings(records: dict[str, list[Run]], sel: Selection) -> None:
    """Raise ``ValueError`` when a record was made with other values of the parameters the suite
    sets (e.g. a budget): such a row is not the suite's experiment."""
    wrong = {}
    for runs in records.values():
        for r in runs:
            params = r.record["model"]["params"]
            for key, want in (sel.settings.get(r.model) or {}).items():
                if key in params and params[key] != want and (r.model, key) not in wrong:
                    wrong[(r.model, key)] = f"{r.model}: {key} = {params[key]!r} in {r.path}, the suite sets {want!r}"
    if wrong:
        raise UserError(f"records do not match suite {sel.suite!r}: " + "; ".join(wrong.values())
                         + ". Rerun them with `sleepbench run --suite ... --force`, or tabulate without --suite.")
