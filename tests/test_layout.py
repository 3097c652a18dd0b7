"""The architecture as the README's Layout table states it: data flows datasets -> benchmark ->
models / baselines; no import circles; no module imports another module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the installed package -> its folder in the repository (pyproject.toml's package-dir)
PACKAGES = {"sleepbench": "sleepbench", "sleepbench.benchmark": "benchmark", "sleepbench.datasets": "datasets",
            "sleepbench.models": "models", "sleepbench.baselines": "baselines"}
#: module prefix -> prefixes it must not import (anywhere in the file, lazy imports too)
FORBIDDEN = {"sleepbench.datasets": ("sleepbench.benchmark", "sleepbench.models", "sleepbench.baselines"),
             "sleepbench.benchmark": ("sleepbench.models", "sleepbench.baselines")}
#: the command line is the top of the harness: its `fin` commands call the FIN modules
ALLOWED = {"sleepbench.benchmark.cli"}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, folder in PACKAGES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts if p != "__init__"]
            out[".".join([pkg, *parts])] = path
    return out


def _imports(name: str, path: Path, modules) -> tuple[set[str], list[tuple[str, str]]]:
    """Project modules ``name`` imports, and the (module, private name) pairs it imports."""
    out, private = set(), []
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            private += [(base, a.name) for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__") and base in modules]
        else:
            continue
        out.update(t for t in targets if t in modules and t != name)
    return out, private


def test_layers_circles_and_private_names():
    modules = _modules()
    graph, private = {}, []
    for name, path in modules.items():
        graph[name], p = _imports(name, path, modules)
        private += [f"{name} imports {b}.{n}" for b, n in p if b != name]
    assert not private, private
    wrong = [f"{m} imports {t}" for m, targets in graph.items() for t in targets
             for layer, banned in FORBIDDEN.items()
             if m.startswith(layer) and m not in ALLOWED and t.startswith(banned)]
    assert not wrong, wrong
    # circles: a module reachable from itself
    def reach(start):
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += graph[m]
        return seen
    circles = sorted(m for m in graph if m in reach(m)
                     and not modules[m].name == "__init__.py")
    assert not circles, f"modules in an import circle: {circles}"
