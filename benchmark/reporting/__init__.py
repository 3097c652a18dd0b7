"""Reporting: tables, contrasts and figures built from the run records.

Modules, by responsibility:

* :mod:`.records` - load records from ``results/runs/`` and check that they belong in one table;
* :mod:`.problems` - what is wrong with a row (missing folds or seeds, lost data, no validation,
  mixed CPU kernel sets) as typed data, which every rendering reads by kind;
* :mod:`.tables` - :class:`ProtocolTable` (the numbers, header and notes of one protocol's table)
  and :func:`write_tables`, the entry point of ``sleepbench tables``;
* :mod:`.selection` - which protocols and models a table shows (``--models/--exclude/--suite``);
* :mod:`.contrasts` - paired model-vs-reference comparisons and the declared, Holm-adjusted contrasts;
* :mod:`.entry_reports` - training budgets, passes and FIN imitation from ``entry_report``;
* :mod:`.learning_curves` - validation macro-F1 per pass, per deep entry;
* :mod:`.display`, :mod:`.markdown`, :mod:`.latex` - renderings; :mod:`.formatting` - every number
  and p-value they (and :mod:`.html`, :mod:`.paper`) print;
* :mod:`.figures` - PNG figures beside the tables;
* :mod:`.sleepstats` - the sleep-statistics agreement table and Bland-Altman figures
  (``<protocol>-sleepstats.*``, numbers from :mod:`sleepbench.benchmark.sleepstats`).
"""

from .problems import Problem
from .records import MixedRecordsError, Run, check_consistent, load_records
from .selection import Selection, make_selection
from .tables import (
                     DEFAULT_REFERENCES,
                     ProtocolTable,
                     build_table,
                     build_tables,
                     format_summary,
                     resolve_reference,
                     write_tables,
)

__all__ = ["DEFAULT_REFERENCES", "MixedRecordsError", "Problem", "ProtocolTable", "Run", "build_table",
           "build_tables", "check_consistent", "format_summary", "load_records", "resolve_reference",
           "write_tables", "Selection", "make_selection"]
