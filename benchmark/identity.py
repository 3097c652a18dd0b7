"""What makes two runs of an entry the same experiment: resolved parameters, code, data, preprocessing.

A record is reused (the job is skipped) only when its :func:`config_hash` matches; that hash covers
the :func:`run_identity` of the job, so a record is redone when any of these changes:

* the entry's **resolved parameters**: ``get_params()`` of the entry as constructed (class
  defaults after the suite's or the command line's overrides), not just the overrides;
* the **code** (:func:`code_identity`): the source files of the entry's class and its bases, of every
  project module they import (transitively: e.g. ``models/fin.py`` for the FIN-ViViTs), and of
  the harness modules every job runs through (:data:`HARNESS_MODULES`);
* the **preprocessing**: ``sleepbench.datasets.cache.CACHE_VERSION`` and the protocol's ``prep`` block
  (channels, sampling rate, wake margin...);
* the **data**: the checksums of every recording the fold uses;
* the protocol (its hash), the fold, the seed and :data:`HARNESS_VERSION`.

Everything is stored in the record (``record["identity"]``), so ``sleepbench tables`` can tell
records of one model apart when they disagree.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import json
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

#: Bump when the harness changes what a record means, so old records are redone.
HARNESS_VERSION = 2  # 2: identity block (resolved params, code hash, cache version)

#: Harness modules every job runs through; their source is part of every entry's code hash.
#: (``sleepbench.benchmark.device`` is included when present.)
HARNESS_MODULES = ("sleepbench.benchmark.runner", "sleepbench.benchmark.identity", "sleepbench.benchmark.registry",
                   "sleepbench.benchmark.training",
                   "sleepbench.benchmark.epochs", "sleepbench.benchmark.protocol_data", "sleepbench.benchmark.metrics",
                   "sleepbench.benchmark.device")

#: The folder holding sleepbench's subpackages: the repository (editable install) or
#: ``site-packages/sleepbench`` (wheel); shipped data are named relative to it.
_ROOT = Path(__file__).resolve().parents[1]
_INSTALLED = tuple(Path(p).resolve() for k, p in sysconfig.get_paths().items()
                   if k in ("stdlib", "platstdlib", "purelib", "platlib"))


@lru_cache(maxsize=1)
def _package_dirs() -> tuple[Path, ...]:
    """The folders of sleepbench's own packages, wherever it is installed."""
    dirs = []
    for name in ("sleepbench", "sleepbench.benchmark", "sleepbench.datasets", "sleepbench.models",
                 "sleepbench.baselines"):
        spec = importlib.util.find_spec(name)
        dirs += [Path(p).resolve() for p in (spec.submodule_search_locations or [])]
    return tuple(dirs)


def _own(path: Path) -> bool:
    return any(path.is_relative_to(d) for d in _package_dirs())


def _project_file(path) -> Path | None:
    """``path`` when it is project source (sleepbench's own modules, installed or not, or a plugin
    file), else None (the standard library and installed packages are covered by their versions)."""
    if not path or not str(path).endswith(".py"):
        return None
    path = Path(path).resolve()
    if _own(path):
        return path
    if any(path.is_relative_to(p) for p in _INSTALLED) or {"site-packages", "dist-packages"} & set(path.parts):
        return None
    return path


def _walkable(name: str) -> bool:
    """Project modules that are hashed and followed: entries, datasets, plugins and the harness,
    but not the rest of ``benchmark`` (command line, reporting), which never runs inside a job."""
    return not name.startswith("sleepbench.benchmark.") or name in HARNESS_MODULES


def _label(name: str, path: Path) -> str:
    """A machine-independent name for a module (plugin files get a path-derived module name)."""
    if name.startswith("sleepbench_plugin_") or not _own(path):
        return f"plugin:{path.name}"
    return name


def _origin(name: str) -> str | None:
    """The source file of module ``name`` without executing it (its parent packages are imported)."""
    if name in sys.modules:
        return getattr(sys.modules[name], "__file__", None)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None
    return spec.origin if spec is not None else None


def _imports(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (lazy imports inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)  # "from pkg import submodule"
    return out


@lru_cache(maxsize=None)
def _code_identity_of(cls: type) -> tuple[str, tuple[tuple[str, str], ...]]:
    todo = [(c.__module__, getattr(sys.modules.get(c.__module__), "__file__", None))
            for c in cls.__mro__]
    todo += [(name, _origin(name)) for name in HARNESS_MODULES]
    seen: dict[str, str] = {}
    visited: set[str] = set()
    while todo:
        name, origin = todo.pop()
        if name in visited:
            continue
        visited.add(name)
        path = _project_file(origin)
        if path is None or not _walkable(name):
            continue
        seen[_label(name, path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        # shipped weights beside a module (models/weights/: the pre-trained FINs) decide results
        # as much as its source: rewriting them must redo the records that used them
        weights = path.parent / "weights"
        if weights.is_dir() and _own(path):
            for f in sorted(weights.iterdir()):
                if f.is_file():
                    seen[f"data:{f.relative_to(_ROOT)}"] = hashlib.sha256(f.read_bytes()).hexdigest()
        todo += [(m, _origin(m)) for m in sorted(_imports(path, name)) if m not in visited]
    files = tuple(sorted(seen.items()))
    digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    return digest, files


def code_identity(entry_or_class) -> dict:
    """``{"hash": sha256, "files": {module: sha256 of its source}}`` of an entry's code.

    Parameters
    ----------
    entry_or_class : Entry or type
        The entry (or its class).

    Notes
    -----
    The files are the modules of the class and its bases, every project module they import
    (anywhere in the file, followed transitively), and :data:`HARNESS_MODULES`. Installed packages are
    not hashed (their versions are in the record's ``environment``). Hashed once per process.
    """
    cls = entry_or_class if inspect.isclass(entry_or_class) else type(entry_or_class)
    digest, files = _code_identity_of(cls)
    return {"hash": digest, "files": dict(files)}


def jsonable(obj):
    """``obj`` as it reads back from JSON (tuples -> lists, unknown objects -> str)."""
    return json.loads(json.dumps(obj, default=str))


def run_identity(entry, protocol: dict, checksums: dict) -> dict:
    """Everything besides (protocol, model, seed, fold) that decides a run's result; stored in the
    record as ``identity``."""
    from sleepbench.datasets.cache import CACHE_VERSION

    code = code_identity(entry)
    return {"harness": HARNESS_VERSION, "params": jsonable(entry.get_params()),
            "code_hash": code["hash"], "code_files": code["files"], "cache_version": CACHE_VERSION,
            "prep": jsonable(protocol["prep"]), "data": jsonable(checksums)}


def config_hash(job, protocol: dict, identity: dict, device: str = "cpu", precision: str = "fp32") -> str:
    """The key a finished record is found by: protocol hash, fold, model, seed, the identity, the
    device type (``"cuda"`` records are never a finished CPU job, nor the reverse) and the
    precision (a ``bf16`` record is never a finished ``fp32`` job)."""
    where = {"device": "cuda"} if device == "cuda" else {}
    if precision != "fp32":
        where["precision"] = precision
    blob = json.dumps({"protocol": protocol["hash"], "fold": job.fold, "model": job.model,
                       "seed": job.seed, "identity": identity, **where}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def params_diff(old: dict, new: dict) -> list[str]:
    """``["lr: 0.001 (record) -> 0.0001 (now)", ...]`` for every parameter that differs."""
    keys = sorted(set(old) | set(new))
    missing = object()
    out = []
    for k in keys:
        a, b = old.get(k, missing), new.get(k, missing)
        if a != b:
            show = lambda v: "absent" if v is missing else json.dumps(v)
            out.append(f"{k}: {show(a)} (record) -> {show(b)} (now)")
    return out
