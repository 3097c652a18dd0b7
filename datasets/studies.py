"""Two Sleep-EDF studies as one dataset: cross-study protocols train on one and test on the other.

The sleep-cassette (SC, age study, home recordings) and sleep-telemetry (ST, temazepam study,
hospital recordings) nights are read by the same :class:`~datasets.sleep_edf.SleepEDF` reader and
preprocessing rule; :class:`StudyUnion` puts a training study's and a test study's datasets behind
the interface the harness uses (``load``, ``inventory``, ``failed``, ``source``, ``config``,
``records``), dispatching each recording by name (``SC4...`` / ``ST7...`` never collide).
"""

from __future__ import annotations

from .inventory import Inventory, telemetry_conditions
from .sleep_edf import Recording, SleepEDF

#: Protocol units of the test study are its subject numbers plus this, so they never collide with
#: the training study's subject numbers (ST subject 3 is unit 103).
TEST_UNIT_OFFSET = 100


class StudyUnion:
    """The union of :class:`SleepEDF` datasets of different studies (same preprocessing)."""

    def __init__(self, datasets: list[SleepEDF]):
        if not datasets:
            raise ValueError("StudyUnion needs at least one dataset")
        configs = {d.config for d in datasets}
        if len(configs) != 1:
            raise ValueError(f"datasets of a StudyUnion must share one preprocessing, got {configs}")
        self.datasets = list(datasets)
        self.config = datasets[0].config
        self.cache_dir = datasets[0].cache_dir
        sources = sorted({d.source for d in datasets})
        # a surrogate stand-in in any study makes the whole set surrogate, never Sleep-EDF
        self.source = "surrogate" if "surrogate" in sources else "+".join(sources)

    def _owner(self, name: str) -> SleepEDF:
        for d in self.datasets:
            if name in d.inventory.complete:
                return d
        raise KeyError(f"recording {name!r} is in none of the studies "
                       f"({', '.join(d.study for d in self.datasets)})")

    @property
    def inventory(self) -> Inventory:
        inv = Inventory()
        for d in self.datasets:
            inv.complete.update(d.inventory.complete)
            inv.incomplete += d.inventory.incomplete
            inv.corrupt += d.inventory.corrupt
            inv.absent += d.inventory.absent
        return inv

    @property
    def failed(self) -> dict[str, str]:
        return {k: v for d in self.datasets for k, v in d.failed.items()}

    @property
    def records(self):
        return [r for d in self.datasets for r in d.records]

    def prepare(self, progress: bool = True) -> list[str]:
        return sorted(n for d in self.datasets for n in d.prepare(progress=progress))

    def load(self, name: str, signals: bool = True) -> Recording:
        return self._owner(name).load(name, signals=signals)


def cross_study_units(train: SleepEDF, test: SleepEDF, condition: str | None) -> dict[int, list[str]]:
    """Protocol units of a cross-study protocol: training-study subjects by their number, test-study
    subjects at ``TEST_UNIT_OFFSET + number``, keeping only test nights of ``condition``
    (``"placebo"`` or ``"temazepam"`` for the telemetry study; None keeps every night)."""
    units: dict[int, list[str]] = {}
    for rec in train.records:
        units.setdefault(rec.subject, []).append(rec.name)
    conditions = telemetry_conditions()
    for rec in test.records:
        if condition is not None:
            if rec.name not in conditions:
                raise ValueError(f"{rec.name}: no drug condition in the telemetry record table")
            if conditions[rec.name] != condition:
                continue
        units.setdefault(TEST_UNIT_OFFSET + rec.subject, []).append(rec.name)
    return units
