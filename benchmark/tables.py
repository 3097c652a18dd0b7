"""Compatibility re-export: the reporting code lives in :mod:`sleepbench.benchmark.reporting`."""

from .reporting.records import ARRAYS, MixedRecordsError, Run, check_consistent, load_records  # noqa: F401
from .reporting.tables import (DEFAULT_REFERENCES, ProtocolTable, build_table,  # noqa: F401
                               build_tables, format_summary, resolve_reference, write_tables)
