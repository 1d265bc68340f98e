"""The package's import graph, read from the source with ``ast``: no cycle, one direction
(CLI -> engine -> parts -> helpers), and no private module imported from outside its package.

Every ``import`` counts, also those inside functions; imports under ``if TYPE_CHECKING:`` do not
(they never run). A module importing its own parent package is not an edge (Python has imported
the parent before the module anyway).
"""

from __future__ import annotations

import ast
from pathlib import Path

import config_reloader

SRC = Path(config_reloader.__file__).resolve().parent
PACKAGE = "config_reloader"

# Layers, outermost first; a module may import its own layer and the ones after it.
CLI = ("config_reloader.cli", "config_reloader.__main__")
ENGINE = (
    "config_reloader.reconcile",  # the reload loop, and running it as a process
    "config_reloader.supervise",  # run: gate, pin, supervise, reload the child
    "config_reloader.demo",  # runs the engine on example files
    "config_reloader.testing",  # test helpers: writers, the recording endpoint, killing `run`
)
HELPERS = (
    "config_reloader.errors",
    "config_reloader.logs",
    "config_reloader.durations",
    "config_reloader.fileid",
    "config_reloader.record",
    "config_reloader.lazy",
    "config_reloader.listen",
    "config_reloader.version",
)
LAYER_NAMES = ("cli", "engine", "parts", "helpers")


def layer(module: str) -> int:
    """0 cli (and the package's facade), 1 engine, 3 helpers; everything else is a part (2)."""
    if module == PACKAGE:
        return 0
    for number, prefixes in ((0, CLI), (1, ENGINE), (3, HELPERS)):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return number
    return 2


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` bodies."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = (
                test.id
                if isinstance(test, ast.Name)
                else test.attr
                if isinstance(test, ast.Attribute)
                else ""
            )
            if name == "TYPE_CHECKING":
                for inner in node.body:
                    skip.update(id(x) for x in ast.walk(inner))
    return skip


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``module`` imports at run time (the nearest known module of each name)."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_checking_only(tree)
    names: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            names.extend(submodules or [target])
    found = set()
    for name in names:
        while name not in known and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in known and name != module and not module.startswith(name + "."):
            found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports_of(m, p, known) for m, p in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_walk_sees_the_known_edges() -> None:
    g = graph()
    assert "config_reloader.reconcile.loop" in g["config_reloader.reconcile.service"]
    assert "config_reloader.reconcile.service" in g["config_reloader.cli.watchstart"]  # inside start()
    assert "config_reloader.errors" in g["config_reloader.render"]
    # TYPE_CHECKING-only: the worker names the guard for mypy, never imports it
    assert "config_reloader.reconcile.guard" not in g["config_reloader.reconcile.worker"]


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_go_one_way_cli_engine_parts_helpers() -> None:
    wrong = [
        f"{m} ({LAYER_NAMES[layer(m)]}) imports {d} ({LAYER_NAMES[layer(d)]})"
        for m, deps in sorted(graph().items())
        for d in sorted(deps)
        if layer(d) < layer(m)
    ]
    assert wrong == []


def test_no_private_module_is_imported_from_outside_its_package() -> None:
    wrong = []
    for m, deps in sorted(graph().items()):
        for d in sorted(deps):
            parts = d.split(".")
            for i, part in enumerate(parts):
                owner = ".".join(parts[:i])
                if part.startswith("_") and not part.startswith("__") and not m.startswith(owner + "."):
                    wrong.append(f"{m} imports {d}")
    assert wrong == []
