"""The import graph of the shipped packages, read from the source (AST), no import executed.

Forbidden (issue 16): the cycles ``hub`` <-> ``hub.alerts``, ``hub`` <-> ``hjem``,
``edge`` <-> ``edge.virtual`` (the simulator), ``hub.web`` <-> ``hub.web.site`` and
``hub.alerts.rules`` <-> ``hub.alerts.rules_time``; ``CliError`` imported inside a function to
dodge a cycle; the MQTT transport (``hub.mqtt``) importing the hub's domain; anything but
``hjem`` importing ``hjem`` (the command and the demo); production code importing ``sim``.
Every import counts, lazy ones inside functions included; imports under
``if TYPE_CHECKING:`` are left out of the cycle check only (they never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("foundation", "schemas", "edge", "hub", "hjem", "sim")
"""The packages of the wheel."""
FIRST_PARTY = (*SHIPPED, "bench", "fl", "synth")


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    line: int
    lazy: bool
    """Inside a function body."""
    typing_only: bool
    """Under ``if TYPE_CHECKING:``."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in FIRST_PARTY:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(module: str, name: str | None) -> str:
    """``from module import name``: the submodule when ``name`` is one, else the module."""
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"
    return module


def _absolute(source: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = source.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, lazy: bool, typing_only: bool) -> Iterator[tuple[ast.AST, bool, bool]]:
    for child in ast.iter_child_nodes(node):
        child_lazy = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        child_typing = typing_only or (isinstance(child, ast.If) and _is_type_checking(child))
        yield child, child_lazy, child_typing
        yield from _walk(child, child_lazy, child_typing)


def _edges(source: str, path: Path) -> Iterator[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node, lazy, typing_only in _walk(tree, lazy=False, typing_only=False):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Edge(source, alias.name, node.lineno, lazy, typing_only)
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(source, path, node)
            for alias in node.names:
                yield Edge(source, _resolve(module, alias.name), node.lineno, lazy, typing_only)


EDGES = [
    edge
    for source, path in MODULES.items()
    for edge in _edges(source, path)
    if edge.target.split(".")[0] in FIRST_PARTY
]


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _where(edge: Edge) -> str:
    return f"{MODULES[edge.source].relative_to(ROOT)}:{edge.line} imports {edge.target}"


def _components() -> list[set[str]]:
    """Strongly connected components (Tarjan) of the runtime import graph, 2+ modules."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for edge in EDGES:
        target = edge.target
        while target and target not in MODULES:  # `import a.b.c` of a name: its module
            target = target.rpartition(".")[0]
        if target and not edge.typing_only and target != edge.source:
            graph[edge.source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


COMPONENTS = _components()

FORBIDDEN_CYCLES = [
    ("hub", "hub.alerts"),
    ("hub", "hjem"),
    ("edge", "edge.virtual"),
    ("edge", "sim"),
    ("hub.web", "hub.web.site"),
    ("hub.alerts.rules", "hub.alerts.rules_time"),
]


def _side(module: str, package: str, other: str) -> bool:
    """``module`` belongs to ``package`` and not to ``other`` when that lies inside it."""
    return _within(module, package) and not (_within(other, package) and _within(module, other))


@pytest.mark.parametrize(("one", "other"), FORBIDDEN_CYCLES)
def test_no_import_cycle_between(one: str, other: str) -> None:
    for component in COMPONENTS:
        left = sorted(m for m in component if _side(m, one, other))
        right = sorted(m for m in component if _side(m, other, one))
        assert not (left and right), f"import cycle between {left} and {right}: {component}"


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path) -> None:
    """The check above can fail: a two-module cycle is a component of two."""
    global MODULES, EDGES  # noqa: PLW0603 - a self-contained graph for this test only
    saved = MODULES, EDGES
    try:
        MODULES = {"hub.a": tmp_path / "a.py", "hub.alerts.b": tmp_path / "b.py"}
        EDGES = [
            Edge("hub.a", "hub.alerts.b", 1, lazy=True, typing_only=False),
            Edge("hub.alerts.b", "hub.a", 1, lazy=False, typing_only=False),
        ]
        assert _components() == [{"hub.a", "hub.alerts.b"}]
    finally:
        MODULES, EDGES = saved


def test_cli_error_is_never_imported_lazily() -> None:
    lazy = [
        _where(edge)
        for edge in EDGES
        if edge.lazy
        and edge.target in {"foundation.errors", "hjem.cli"}
        and edge.source.split(".")[0] in (*SHIPPED, "bench")
    ]
    assert lazy == []


def test_nothing_but_hjem_imports_hjem() -> None:
    wrong = [
        _where(edge)
        for edge in EDGES
        if _within(edge.target, "hjem")
        and edge.source.split(".")[0] in SHIPPED
        and not _within(edge.source, "hjem")
    ]
    assert wrong == []


def test_production_code_never_imports_the_simulator() -> None:
    wrong = [
        _where(edge)
        for edge in EDGES
        if (_within(edge.target, "sim") or _within(edge.target, "edge.virtual"))
        and edge.source.split(".")[0] in ("foundation", "schemas", "edge", "hub")
    ]
    assert wrong == []


def test_the_foundation_imports_no_other_part() -> None:
    wrong = [
        _where(edge)
        for edge in EDGES
        if _within(edge.source, "foundation") and not _within(edge.target, "foundation")
    ]
    assert wrong == []


TRANSPORT_MAY_IMPORT = ("hub.mqtt", "hub.config", "hub.errors", "hub.runtime", "foundation")
TRANSPORT_ALSO = ("schemas.topics",)
"""The topic scheme: which topics to subscribe to is the transport's business."""


def test_the_transport_does_not_import_the_domain() -> None:
    assert any(_within(m, "hub.mqtt") for m in MODULES)
    wrong = [
        _where(edge)
        for edge in EDGES
        if _within(edge.source, "hub.mqtt")
        and not any(_within(edge.target, ok) for ok in TRANSPORT_MAY_IMPORT)
        and edge.target not in TRANSPORT_ALSO
    ]
    assert wrong == []


def test_the_graph_is_read() -> None:
    """The checks above see the real imports (they would pass vacuously on an empty graph)."""
    targets = {(e.source, e.target) for e in EDGES}
    assert ("hub.service", "hub.compose") in targets
    assert ("hub.mqtt.connection", "hub.mqtt.frames") in targets
    assert any(e.lazy for e in EDGES)
    assert any(e.typing_only for e in EDGES)


MODEL_AT_THE_EDGE = {
    "hub.alerts.inputs": "turns a model given to ObservationInput into its reading",
    "hub.store.base": "turns a model into its reading; StoredObservation.observation for output",
    "hub.store.sql_reads": "reads stored observations back through the models, as received",
}
"""Where the hub's domain may name the schema model :class:`schemas.models.Observation`."""


def _imported_names(path: Path, module: str) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == module:
            yield from ((alias.name, node.lineno) for alias in node.names)


def test_stores_and_alerts_read_the_reading_struct_not_the_model() -> None:
    """Ingest, stores and alerts see :class:`hub.reading.Reading`; the pydantic model stays at
    the edges (issue 16), and the fast path's decoder does not leak into them."""
    domain = [m for m in MODULES if _within(m, "hub.store") or _within(m, "hub.alerts")]
    assert "hub.store.base" in domain
    assert "hub.alerts.inputs" in domain
    wrong = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports the model {name}"
        for m in domain
        if m not in MODEL_AT_THE_EDGE
        for name, line in _imported_names(MODULES[m], "schemas.models")
        if name == "Observation"
    ]
    wrong += [
        _where(edge)
        for edge in EDGES
        if (_within(edge.source, "hub.store") or _within(edge.source, "hub.alerts"))
        and _within(edge.target, "hub.ingest.fastpath")
    ]
    assert wrong == []
    assert "Observation" in {
        n for n, _ in _imported_names(MODULES["hub.store.base"], "schemas.models")
    }
