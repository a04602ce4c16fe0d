"""Each table is read and written only by the component that creates it (issue 16).

Read from the source (AST), no import executed. A table belongs to the component whose
module creates it (``CREATE TABLE`` in a migration): a room of the hub (``hub.registry``,
``hub.store``, ``hub.alerts``, ``hub.auth``, ``hub.admin``, ``hub.status``, ...) or, for a
module at the top of a package (``hub/db.py``, ``edge/outbox.py``), that module. Every other
string literal that looks like SQL (``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE`` in capitals)
must name, after ``FROM``, ``JOIN``, ``INTO`` or ``UPDATE``, only tables of its own component:
the others are reached through the owner's repository functions (``hub.registry.figures``,
``hub.alerts.figures``, ``hub.auth.views``, ...).

Limits, on purpose: SQL assembled from separate literals at run time (a table name in a
variable) is not seen; docstrings are skipped; a table created by two components (the
migrations table) belongs to both.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("foundation", "schemas", "edge", "hub", "hjem", "sim")

ALLOWED: dict[tuple[str, str], str] = {}
"""(component, table) -> why that component may use another's table (none today)."""

_CREATE = re.compile(r"\bCREATE (?:VIRTUAL )?TABLE (?:IF NOT EXISTS )?([a-z_][a-z0-9_]*)")
_SQL = re.compile(r"\b(?:SELECT|INSERT|UPDATE|DELETE)\b")
_USE = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([a-z_][a-z0-9_]*)")


def _component(path: Path, root: Path) -> str:
    """``hub/registry/core.py`` -> ``hub.registry``; ``hub/db.py`` -> ``hub.db``."""
    parts = path.relative_to(root).with_suffix("").parts
    if len(parts) >= 3:
        return ".".join(parts[:2])
    return ".".join(p for p in parts if p != "__init__")


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """Every string literal but docstrings; an f-string with its holes as ``?``."""
    docstrings = _docstrings(tree)
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = (v.value if isinstance(v, ast.Constant) else "?" for v in node.values)
            yield node.lineno, "".join(str(p) for p in parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings | inside_fstrings
        ):
            yield node.lineno, node.value


def _sources(root: Path) -> dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(encoding="utf-8"))
        for package in PRODUCTION
        for path in sorted((root / package).rglob("*.py"))
    }


def _owners(root: Path, sources: dict[Path, ast.Module]) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for path, tree in sources.items():
        for _, text in _strings(tree):
            for match in _CREATE.finditer(text):
                owners.setdefault(match.group(1), set()).add(_component(path, root))
    return owners


def _foreign_uses(root: Path) -> list[str]:
    sources = _sources(root)
    owners = _owners(root, sources)
    found = []
    for path, tree in sources.items():
        component = _component(path, root)
        for line, text in _strings(tree):
            if not _SQL.search(text):
                continue
            for table in sorted({m.group(1) for m in _USE.finditer(text)}):
                owner = owners.get(table)
                if owner and component not in owner and (component, table) not in ALLOWED:
                    where = path.relative_to(root)
                    found.append(f"{where}:{line}: {table} belongs to {', '.join(sorted(owner))}")
    return found


def test_tables_are_used_only_by_their_component() -> None:
    assert _foreign_uses(ROOT) == []


def test_the_owners_are_found() -> None:
    """The check above sees the real tables (it would pass vacuously without them)."""
    owners = _owners(ROOT, _sources(ROOT))
    assert owners["publisher"] == {"hub.registry"}
    assert owners["alert_outbox"] == {"hub.alerts"}
    assert owners["auth_user"] == {"hub.auth"}
    assert owners["outbox"] == {"edge.outbox"}


def test_the_check_finds_a_foreign_table(tmp_path: Path) -> None:
    """The check can fail: SQL on another component's table, in a literal or an f-string."""
    (tmp_path / "hub" / "alerts").mkdir(parents=True)
    (tmp_path / "hub" / "status").mkdir(parents=True)
    (tmp_path / "hub" / "alerts" / "store.py").write_text(
        'M = ["CREATE TABLE alert (id TEXT)"]\nQ = "SELECT id FROM alert"\n', encoding="utf-8"
    )
    (tmp_path / "hub" / "status" / "monitor.py").write_text(
        '"""SELECT * FROM alert: a docstring is no SQL."""\n'
        'A = "SELECT COUNT(*) FROM alert"\n'
        'B = f"UPDATE alert SET x = {1}"\n'
        'C = "an alert FROM the store"\n',
        encoding="utf-8",
    )
    assert _foreign_uses(tmp_path) == [
        "hub/status/monitor.py:2: alert belongs to hub.alerts",
        "hub/status/monitor.py:3: alert belongs to hub.alerts",
    ]
