"""Compatibility re-export: the figures live in :mod:`sleepbench.benchmark.reporting.figures`."""

from .reporting.figures import *  # noqa: F401,F403
from .reporting.figures import write_figures  # noqa: F401
