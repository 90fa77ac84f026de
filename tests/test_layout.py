"""Module rules, checked on the source: private names stay home, and the import graph has no circle.

Both tests read the code with ``ast`` (nothing is imported), over pims_sync/, api/ and workers/.

* A leading underscore means "not yours" (STYLE.md, "A package's face"). A private name, or
  a name from a private module (``_rows``), may be imported only from inside the package that
  holds it: ``from . import _rows`` in pims_sync/store/ is fine, ``from pims_sync.store._rows
  import x`` in api/ is not. Attribute access (``celery_obj._private``) cannot be checked this
  way and is not: only imports are.
* The graph of module-level imports has no cycle. Imports inside functions are excluded (they
  run late, after every module has loaded; that is how a deliberate late import breaks a
  circle), and so are imports under ``if TYPE_CHECKING:`` (never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pims_sync", "api", "workers")


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, (path, _) in MODULES.items()}


def _package_of(module: str) -> str:
    return module if MODULES.get(module, (None, False))[1] else module.rpartition(".")[0]


def _target(module: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom reads from."""
    if node.level == 0:
        return node.module or ""
    base = _package_of(module).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """Every dotted name an import statement reaches: modules and module.attribute."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    else:
        target = _target(module, node)
        yield from (f"{target}.{alias.name}" for alias in node.names if alias.name != "*")


def _privacy_violations() -> list[str]:
    found = []
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or getattr(node, "module", None) == "__future__":
                continue
            for dotted in _imported(module, node):
                parts = dotted.split(".")
                if parts[0] not in PACKAGES:
                    continue  # third-party privates: not ours to police here (see test_celery_privates)
                for i, part in enumerate(parts):
                    owner = ".".join(parts[:i])  # the module or package that keeps `part` private
                    if _private(part) and not _inside(module, _package_of(owner)):
                        found.append(f"{MODULES[module][0].relative_to(ROOT)}:{node.lineno} imports {dotted}")
                        break
    return found


def test_no_module_imports_another_packages_private_names():
    assert _privacy_violations() == []


def _top_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                yield from _top_level_imports(node.orelse)
                continue
            yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            yield from _top_level_imports(node.body)
            for handler in node.handlers:
                yield from _top_level_imports(handler.body)
            yield from _top_level_imports(node.orelse)
            yield from _top_level_imports(node.finalbody)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules its module-level code imports.

    ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``
    (whose ``__init__`` must then have run to hold ``name``).
    """
    graph: dict[str, set[str]] = {}
    for module, tree in TREES.items():
        edges = set()
        for node in _top_level_imports(tree.body):
            if isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names if alias.name in MODULES}
                continue
            target = _target(module, node)
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:
                    edges.add(f"{target}.{alias.name}")
                elif target in MODULES:
                    edges.add(target)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_module_graph_has_no_cycle():
    graph = import_graph()
    assert sum(map(len, graph.values())) > len(graph), "the graph came out empty: the walk is broken"
    assert cycles(graph) == []


def test_the_checks_see_a_planted_private_import_and_a_planted_cycle():
    """The two rules can fail: a private import and a two-module circle are both reported."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    planted = ast.parse("from pims_sync.store._rows import parse_uuid\nfrom . import _rows\n")
    TREES["api.planted"] = planted
    MODULES["api.planted"] = (ROOT / "api" / "planted.py", False)
    try:
        violations = _privacy_violations()
    finally:
        del TREES["api.planted"], MODULES["api.planted"]
    assert [v for v in violations if v.startswith("api/planted.py")] == [
        "api/planted.py:1 imports pims_sync.store._rows.parse_uuid"
    ]
