"""Model registry: an entry is one file in ``models/`` or ``baselines/`` that registers a name.

Two kinds of entry share one interface, so the runner treats them alike (scikit-learn style:
parameters in ``__init__``, learned state only after ``fit``):

* classic entries subclass :class:`Entry` and implement ``fit`` and ``predict_proba``;
* deep entries subclass :class:`sleepbench.benchmark.training.DeepEntry` and supply a ``torch.nn.Module``
  (``build_module``) and a training recipe; fitting and prediction come from the harness.

Conventions (README "Add a model"; worked examples in ``examples/``; ``sleepbench new-entry``
writes a ready-to-edit file and its test):

* every parameter is an ``__init__`` argument with a default, stored unchanged as an attribute of
  the same name (``self.lr = lr``): scikit-learn's ``get_params`` reads them back, and suites,
  records and config hashes are built from them; learned state gets a trailing underscore
  (``self.module_``) and exists only after ``fit``;
* ``fit`` sees :class:`sleepbench.benchmark.epochs.EpochSet`: ``.x`` [n, channels, samples] float32 in µV,
  raw and unnormalised (normalise inside the entry, and say how), ``.y`` in 0..4 (W, N1, N2, N3,
  REM), ``.sfreq``, ``.channels``, ``.recordings`` (whole nights, in order), ``.subject``,
  ``.night``, ``.epoch``, ``.offsets``;
* ``n_params()`` / ``n_trainable_params()`` feed the tables' Params column;
* :func:`register_variant` registers an entry that differs from another only in defaults;
* ``SLEEPBENCH_PLUGINS``: .py files, folders or module names separated by ``os.pathsep``.

Example (a complete entry; drop it in ``models/my_model.py``)::

    from sleepbench.benchmark.registry import Entry, register

    @register("my-majority")
    class MyMajority(Entry):
        '''Predicts the most frequent training stage.'''
        def fit(self, train, valid):
            self.prior_ = np.bincount(train.y, minlength=5) / len(train.y)
            return self
        def predict_proba(self, data):
            return np.tile(self.prior_, (len(data), 1))
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from sleepbench.errors import UserError

#: Packages searched for entries; SLEEPBENCH_PLUGINS adds files or folders (os.pathsep-separated).
ENTRY_PACKAGES = ("sleepbench.baselines", "sleepbench.models")


@dataclass(frozen=True)
class Reported:
    """A result an entry's authors published: shown beside the measured rows, never merged into them.

    Figures as fractions (``accuracy`` 0.82 is 82 %), as the measured columns. Each field says what
    made the figure, so a reader sees how that protocol differs from this benchmark's (e.g. the
    authors' folds, how much wake they kept, which data release, how the model was selected).

    Parameters
    ----------
    source : str
        Where the figure is printed, e.g. ``"Supratak et al. 2017, Table 4"``.
    cite : str
        BibTeX key of that paper (in :mod:`sleepbench.benchmark.reporting.bibliography`).
    dataset : str
        Data and channel, e.g. ``"Sleep-EDF-20 (SC, Fpz-Cz)"``.
    accuracy, macro_f1, kappa : float or None
        Overall accuracy, macro-F1 and Cohen's kappa as the paper reports them (None where it does
        not).
    folds : str
        The paper's evaluation, e.g. ``"20-fold subject-wise CV (one subject per fold)"``.
    wake_trimming : str
        How much wake the paper kept, e.g. ``"30 min before and after sleep"``.
    data_version : str
        Which Sleep-EDF release and recordings, e.g. ``"Sleep-EDF Expanded 2013, SC subjects 0-19"``.
    selection : str
        How the reported model was chosen, e.g. ``"best validation macro-F1"``.
    note : str
        Anything else a reader needs to compare (optional).
    """

    source: str
    cite: str
    dataset: str
    accuracy: float | None
    macro_f1: float | None
    kappa: float | None
    folds: str
    wake_trimming: str
    data_version: str
    selection: str
    note: str = ""

    def __post_init__(self):
        if not isinstance(self.cite, str) or not re.fullmatch(r"[^\s,{}]+", self.cite):
            raise ValueError(f"Reported({self.source!r}): cite = {self.cite!r} is not one BibTeX key "
                             "(e.g. 'supratak2020tinysleepnet')")
        for key in ("accuracy", "macro_f1", "kappa"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise ValueError(f"Reported({self.source!r}): {key} = {v!r} is not a number (a fraction "
                                 "in [0, 1], or None where the paper does not report it)")
            if v is not None and not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"Reported({self.source!r}): {key} = {v!r} is not a fraction in [0, 1] "
                                 "(write 82 % as 0.82)")


class Entry(BaseEstimator):
    """Base of every model entry. Subclasses take their parameters (and ``seed``) in ``__init__``.

    ``fit(train, valid)`` gets two :class:`sleepbench.benchmark.epochs.EpochSet` (validation for early
    stopping / model selection only); ``predict_proba(data)`` returns [n_epochs, 5] class
    probabilities (W, N1, N2, N3, REM) in ``data``'s epoch order.
    """

    #: set by :func:`register`
    name: str = ""
    kind: str = "classic"
    #: results the entry's authors published (:class:`Reported`), shown apart from measured rows
    reported: tuple = ()

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, train, valid):  # pragma: no cover - interface
        raise NotImplementedError

    def predict_proba(self, data) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def predict(self, data) -> np.ndarray:
        return np.argmax(self.predict_proba(data), axis=1)

    def n_params(self) -> int | None:
        """Number of parameters (trainable and frozen), when the entry can tell (reported in tables)."""
        return None

    def n_trainable_params(self) -> int | None:
        """Number of parameters the entry's training updates (``n_params`` when not overridden)."""
        return self.n_params()

    def report(self, test) -> dict:
        """JSON-able facts about the fitted entry, stored in the record as ``entry_report``.

        Called by the runner after ``predict_proba(test)``. Conventions: ``"training"`` (deep
        entries: budget, passes run, per-pass history), ``"fin"`` (FIN entries: weight hashes,
        imitation R^2/MAE before and after fine-tuning on ``test``). Default: nothing to report.
        """
        return {}


@dataclass(frozen=True)
class EntryInfo:
    name: str
    cls: type
    description: str
    kind: str
    source: str

    @property
    def builtin(self) -> bool:
        """Whether the entry ships with sleepbench (not a plugin)."""
        return self.cls.__module__.startswith(tuple(f"{p}." for p in ENTRY_PACKAGES))


_REGISTRY: dict[str, EntryInfo] = {}


def register(name: str, description: str | None = None):
    """Class decorator registering a model entry under ``name``."""

    def deco(cls):
        if not (inspect.isclass(cls) and issubclass(cls, Entry)):
            raise TypeError(f"{cls!r}: a registered entry must subclass benchmark.registry.Entry")
        doc = description or (inspect.getdoc(cls) or "").strip().splitlines()[0:1]
        desc = doc if isinstance(doc, str) else (doc[0] if doc else "")
        old = _REGISTRY.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise UserError(f"entry name {name!r} registered twice ({old.source} and {cls.__module__})")
        cls.name = name
        _REGISTRY[name] = EntryInfo(name, cls, desc, getattr(cls, "kind", "classic"),
                                    inspect.getsourcefile(cls) or cls.__module__)
        return cls

    return deco


class PluginError(UserError):
    """A ``SLEEPBENCH_PLUGINS`` item (or ``extra`` plugin) that cannot be loaded; says which and why."""


#: How plugins are named, repeated in every plugin error message.
PLUGINS_SYNTAX = (f"SLEEPBENCH_PLUGINS is a list of .py files, folders of .py files or importable "
                  f"module names, separated by {os.pathsep!r} (os.pathsep), e.g. "
                  f"SLEEPBENCH_PLUGINS=examples/small_cnn.py{os.pathsep}my_entries/")


def _import_file(path: Path) -> None:
    # a stable name (not hash(): salted per process) so entries pickle into worker processes
    import hashlib

    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    mod_name = f"sleepbench_plugin_{path.stem}_{digest}"
    if mod_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(mod_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[mod_name]
        raise PluginError(f"plugin {path}: importing it failed: {type(exc).__name__}: {exc}") from exc


def _load_plugin(item: str | Path) -> None:
    """Import one plugin: a ``.py`` file, a folder of them, or a dotted module name."""
    path = Path(item)
    if path.is_dir():
        for f in sorted(path.glob("*.py")):
            _import_file(f)
        return
    if path.is_file():
        if path.suffix != ".py":
            raise PluginError(f"plugin {path}: not a .py file. {PLUGINS_SYNTAX}")
        _import_file(path)
        return
    text = str(item)
    if "," in text:
        raise PluginError(f"plugin {text!r}: no such file or folder; items are separated by "
                          f"{os.pathsep!r}, not commas. {PLUGINS_SYNTAX}")
    if text.endswith(".py") or "/" in text or os.sep in text:
        raise PluginError(f"plugin {text!r}: no such file or folder. {PLUGINS_SYNTAX}")
    if not all(part.isidentifier() for part in text.split(".")):
        raise PluginError(f"plugin {text!r}: neither a file, a folder nor a module name. {PLUGINS_SYNTAX}")
    try:
        importlib.import_module(text)
    except ModuleNotFoundError as exc:
        raise PluginError(f"plugin {text!r}: no such file or folder, and no importable module of "
                          f"that name ({exc}). {PLUGINS_SYNTAX}") from exc
    except Exception as exc:
        raise PluginError(f"plugin module {text!r}: importing it failed: "
                          f"{type(exc).__name__}: {exc}") from exc


def discover(extra: list[str | Path] | None = None) -> dict[str, EntryInfo]:
    """Import every module of ``baselines/`` and ``models/`` (and plugin files) and return the registry."""
    for pkg_name in ENTRY_PACKAGES:
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{pkg_name}.{info.name}")
    env = [p.strip() for p in os.environ.get("SLEEPBENCH_PLUGINS", "").split(os.pathsep) if p.strip()]
    for item in [*env, *(extra or [])]:
        _load_plugin(item)
    return dict(sorted(_REGISTRY.items()))


def get_entry(name: str) -> EntryInfo:
    entries = discover()
    if name not in entries:
        raise UserError(f"unknown model {name!r}; registered: {', '.join(entries)}")
    return entries[name]


#: Parameters that were renamed: old name -> new name. "epoch" means a 30-s window only; a pass
#: over the training data is a "pass".
RENAMED_PARAMETERS = {"max_epochs": "max_passes", "steps_per_epoch": "steps_per_pass",
                      "bn_calibration_epochs": "precise_bn_epochs"}


def renamed_parameters_error(params, where: str) -> str | None:
    """The message naming the new names of renamed parameters in ``params``, or None."""
    old = [k for k in params or {} if k in RENAMED_PARAMETERS]
    if not old:
        return None
    return (f"{where}: parameter(s) renamed: "
            + ", ".join(f"{k} is now {RENAMED_PARAMETERS[k]}" for k in old))


def make_entry(name: str, seed: int, params: dict | None = None) -> Entry:
    """Instantiate entry ``name`` with ``seed`` and parameters (e.g. a suite's training budget)."""
    info = get_entry(name)
    renamed = renamed_parameters_error(params, f"model {name!r}")
    if renamed:
        raise UserError(renamed)
    accepted = info.cls().get_params()
    unknown = set(params or {}) - set(accepted)
    if unknown:
        raise UserError(f"model {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(accepted)}")
    return info.cls(seed=seed, **(params or {}))


def register_variant(name: str, base: type, doc: str, module_globals: dict, **defaults) -> type:
    """Register a subclass of ``base`` that differs only in parameter defaults.

    The subclass gets its own ``__init__`` signature (scikit-learn's ``get_params`` reads the
    parameters from it), a class name derived from ``name`` placed in ``module_globals`` (so it
    pickles), and ``doc`` as its docstring (the first line is what ``sleepbench models`` shows).
    """
    import inspect

    sig = inspect.signature(base.__init__)
    unknown = set(defaults) - set(sig.parameters)
    if unknown:
        raise TypeError(f"{base.__name__} has no parameter(s) {sorted(unknown)}")
    new_sig = sig.replace(parameters=[p.replace(default=defaults.get(p.name, p.default))
                                      for p in sig.parameters.values()])

    def __init__(self, *args, **kwargs):
        bound = new_sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        base.__init__(**bound.arguments)

    __init__.__signature__ = new_sig
    cls = type(name.title().replace("-", ""), (base,),
               {"__init__": __init__, "__doc__": doc, "__module__": module_globals["__name__"]})
    module_globals[cls.__name__] = cls
    return register(name)(cls)
