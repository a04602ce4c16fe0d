"""No wait that can lose a cancellation (foundation/waiting.py).

Before Python 3.12, ``asyncio.wait_for`` returns the result instead of raising when the task
is cancelled as the awaited thing completes (CPython gh-86296); a task cancelled once at
shutdown then runs on and the shutdown hangs (seen in the edge publisher and GATT sessions).
Shipped code waits with ``foundation.waiting.wait_for`` (on ``asyncio.timeout``), and builds
its MQTT clients from ``foundation.mqtt_client.MqttClient``, whose own waits are the same.
Read from the source (AST); nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("foundation", "schemas", "edge", "hub", "hjem", "sim")
SAFE_HOME = {Path("foundation/waiting.py"), Path("foundation/mqtt_client.py")}


def _attribute_chain(node: ast.expr) -> str:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def offences(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each unsafe wait or raw aiomqtt client in ``tree``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "asyncio":
            if any(alias.name == "wait_for" for alias in node.names):
                found.append((node.lineno, "from asyncio import wait_for"))
        elif isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain == "asyncio.wait_for":
                found.append((node.lineno, "asyncio.wait_for"))
        elif isinstance(node, ast.ClassDef) and any(
            _attribute_chain(base) == "aiomqtt.Client" for base in node.bases
        ):
            found.append((node.lineno, f"class {node.name}(aiomqtt.Client)"))
        if isinstance(node, ast.Call) and _attribute_chain(node.func) == "aiomqtt.Client":
            found.append((node.lineno, "aiomqtt.Client(...)"))
    return found


def test_shipped_code_waits_only_in_ways_that_keep_a_cancellation() -> None:
    bad: list[str] = []
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if relative in SAFE_HOME:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))
            bad += [f"{relative}:{line}: {what}" for line, what in offences(tree)]
    assert not bad, "use foundation.waiting / foundation.mqtt_client:\n" + "\n".join(bad)


def test_the_check_sees_each_form() -> None:
    source = """
import asyncio, aiomqtt
from asyncio import wait_for
async def f(e):
    await asyncio.wait_for(e.wait(), 1)
    async with aiomqtt.Client("h") as c:
        pass
class C(aiomqtt.Client):
    pass
"""
    whats = [what for _, what in offences(ast.parse(source))]
    assert sorted(whats) == sorted(
        [
            "from asyncio import wait_for",
            "asyncio.wait_for",
            "aiomqtt.Client(...)",
            "class C(aiomqtt.Client)",
        ]
    )
