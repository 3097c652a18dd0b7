"""sleepbench: a subject-wise cross-validated benchmark for automatic sleep staging on Sleep-EDF.

The one installed package. Its subpackages are the repository's top-level folders, in the order
data flows through them:

- ``sleepbench.datasets``: Sleep-EDF and surrogate recordings, caches (imports nothing above it);
- ``sleepbench.benchmark``: the harness: protocols, suites, runner, training loop, statistics,
  reports and the command line;
- ``sleepbench.models`` and ``sleepbench.baselines``: the entries;
- records and tables are written to a results folder (``results/`` in the repository).

What an entry author needs comes from here::

    from sleepbench import DeepEntry, Entry, register      # an entry
    from sleepbench import discover, make_entry            # its tests
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["Entry", "DeepEntry", "register", "register_variant", "discover", "make_entry", "Reported",
           "N_CLASSES", "STAGES"]

#: public name -> the module defining it; imported on first use, so that ``import sleepbench.datasets``
#: does not load torch and the harness
_API = {"Entry": "sleepbench.benchmark.registry", "register": "sleepbench.benchmark.registry",
        "register_variant": "sleepbench.benchmark.registry", "discover": "sleepbench.benchmark.registry",
        "make_entry": "sleepbench.benchmark.registry",
        "Reported": "sleepbench.benchmark.registry", "DeepEntry": "sleepbench.benchmark.training",
        "N_CLASSES": "sleepbench.benchmark.epochs", "STAGES": "sleepbench.benchmark.epochs"}


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'sleepbench' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
