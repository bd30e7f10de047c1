"""The house plan, checked: the data flows one way through the packages, no two files import
each other (directly or round a loop), the latency model is pure, and the commands that only
read the rules do not pay for importing torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

PACKAGE = ROOT / "costlens"

#: Bottom to top: a module may import its own layer and the layers below it, never above.
LAYERS = (
    ("costlens", "costlens.errors", "costlens.graph", "costlens.units"),
    ("costlens.costs",),
    ("costlens.analysis",),
    ("costlens.latency",),
    ("costlens.tracing",),
    ("costlens.linting", "costlens.rules"),
    ("costlens.api",),
    ("costlens.measure",),
    ("costlens.report",),
    ("costlens.review",),
    ("costlens.cli", "costlens.__main__"),
)
#: Packages that must not import torch, directly or through what they import.
PURE = ("costlens.errors", "costlens.graph", "costlens.units", "costlens.costs",
        "costlens.analysis", "costlens.latency", "costlens.linting")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    for path in sorted((ROOT / "rules").glob("*.py")):
        found["costlens.rules" + ("" if path.stem == "__init__" else f".{path.stem}")] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Everything a file imports when it runs, at the top or inside a function, as absolute
    names (imports for type checkers only, under `if TYPE_CHECKING:`, never run)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    checking_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                     and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                     for inner in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in checking_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _costlens_imports(name: str) -> set[str]:
    """The costlens files a file imports (a name that is an attribute counts as its module)."""
    return {imported for imported in _imports(name, MODULES[name])
            if imported in MODULES and imported != name
            and not (MODULES[imported].name == "__init__.py" and name.startswith(imported))}


GRAPH = {name: _costlens_imports(name) for name in MODULES}


def _layer(name: str) -> int:
    best = max((len(prefix), index) for index, prefixes in enumerate(LAYERS)
               for prefix in prefixes if name == prefix or name.startswith(prefix + "."))
    return best[1]


def test_every_file_has_a_layer() -> None:
    assert all(_layer(name) >= 0 for name in MODULES)
    assert len(MODULES) > 50


def test_no_file_imports_a_layer_above_it() -> None:
    upward = sorted(f"{name} -> {imported}" for name, imported_set in GRAPH.items()
                    for imported in imported_set if _layer(imported) > _layer(name))
    assert upward == []


def test_nothing_below_the_measurement_package_imports_it() -> None:
    measure = _layer("costlens.measure")
    users = sorted(name for name, imported in GRAPH.items() if _layer(name) < measure
                   and any(m.startswith("costlens.measure") for m in imported))
    assert users == []


def test_no_import_cycle_between_files() -> None:
    """Tarjan's strongly connected components: any of two or more files is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for other in GRAPH[name]:
            if other not in index:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], index[other])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in MODULES:
        if name not in index:
            visit(name)
    assert cycles == []


def test_the_latency_model_and_the_core_do_not_import_torch() -> None:
    pure = [name for name in MODULES if any(name == p or name.startswith(p + ".")
                                            for p in PURE)]
    assert any(name.startswith("costlens.latency") for name in pure)
    offenders = sorted(name for name in pure
                       if any(i == "torch" or i.startswith("torch.")
                              for i in _imports(name, MODULES[name])))
    assert offenders == []
    leaks = sorted(f"{name} -> {imported}" for name in pure for imported in GRAPH[name]
                   if imported not in pure and not any(imported == p or imported.startswith(
                       p + ".") for p in PURE) and imported != "costlens")
    assert leaks == []


def _imports_torch(code: str) -> bool:
    run = subprocess.run([sys.executable, "-c", code + "\nimport sys\n"
                          "print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return run.stdout.strip().splitlines()[-1] == "True"


def test_help_and_the_rules_listing_do_not_import_torch() -> None:
    help_text = ("import contextlib, io\nfrom costlens.cli import main\n"
                 "with contextlib.redirect_stdout(io.StringIO()):\n"
                 "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
                 "    try:\n        main(['lint', '--help'])\n    except SystemExit:\n"
                 "        pass\n")
    assert not _imports_torch(help_text)
    assert not _imports_torch("import contextlib, io\nfrom costlens.cli import main\n"
                              "with contextlib.redirect_stdout(io.StringIO()):\n"
                              "    main(['rules']); main(['rules', 'G4'])")
    assert _imports_torch("import costlens\ncostlens.analyze")  # the API still loads it
