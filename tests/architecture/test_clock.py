"""The wall clock is read in one place: :mod:`foundation.clock` (issue 16).

Production code takes a :data:`foundation.clock.Clock` (a callable) and calls it; the default
is :func:`foundation.clock.utcnow`, the only reader of the wall clock. Read from the source
(AST), no import executed: a call of ``datetime.now()``/``utcnow()``/``today()``,
``date.today()``, ``time.time()``/``time_ns()``/``localtime()``/``gmtime()``/``ctime()``
without arguments, ``from time import time``, or a clock type of its own (a class named
``…Clock`` or with a ``now`` method) anywhere else fails. Monotonic timers
(``time.monotonic``, ``perf_counter``, ``loop.time()``) measure durations, not the time of
day, and are allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("foundation", "schemas", "edge", "hub", "hjem", "sim")
CLOCK_MODULE = Path("foundation/clock.py")

ALLOWED: dict[str, str] = {}
"""``path:line`` -> why that read of the wall clock is justified (none today)."""

_DATETIME_NAMES = {"datetime", "date"}
_DATETIME_READS = {"now", "utcnow", "today"}
_TIME_READS = {"time", "time_ns"}
_TIME_READS_WITHOUT_ARGS = {"localtime", "gmtime", "ctime", "asctime", "strftime"}


def _is_datetime(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _DATETIME_NAMES
    return isinstance(node, ast.Attribute) and node.attr in _DATETIME_NAMES


def _reads_wall_clock(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr in _DATETIME_READS and _is_datetime(func.value):
        return True
    if not (isinstance(func.value, ast.Name) and func.value.id == "time"):
        return False
    if func.attr in _TIME_READS:
        return True
    # time.strftime(fmt) / time.localtime() read the clock when no time is given
    given = len(call.args) + len(call.keywords)
    return func.attr in _TIME_READS_WITHOUT_ARGS and given <= (func.attr == "strftime")


def _is_clock_type(node: ast.ClassDef) -> bool:
    has_now = any(
        isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == "now"
        for item in node.body
    )
    return node.name.endswith("Clock") or has_now


def _findings(path: Path) -> Iterator[str]:
    relative = path.relative_to(ROOT)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _reads_wall_clock(node):
            yield f"{relative}:{node.lineno}: reads the wall clock ({ast.unparse(node.func)})"
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            for alias in node.names:
                if alias.name in _TIME_READS | _TIME_READS_WITHOUT_ARGS:
                    yield f"{relative}:{node.lineno}: imports time.{alias.name}"
        elif isinstance(node, ast.ClassDef) and _is_clock_type(node):
            yield f"{relative}:{node.lineno}: a clock type of its own ({node.name})"


def _production_files() -> Iterator[Path]:
    for package in PRODUCTION:
        yield from sorted((ROOT / package).rglob("*.py"))


def _location(finding: str) -> str:
    return ":".join(finding.split(":")[:2])


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    found = [
        finding
        for path in _production_files()
        if path.relative_to(ROOT) != CLOCK_MODULE
        for finding in _findings(path)
        if _location(finding) not in ALLOWED
    ]
    assert found == []


def test_the_check_sees_a_wall_clock_read(tmp_path: Path) -> None:
    """The check above can fail: each form it names is found, a monotonic timer is not."""
    global ROOT  # noqa: PLW0603 - a self-contained tree for this test only
    sample = tmp_path / "hub" / "sample.py"
    sample.parent.mkdir()
    sample.write_text(
        "import datetime, time\n"
        "from datetime import date\n"
        "from time import time_ns\n"
        "a = datetime.datetime.now(datetime.UTC)\n"
        "b = date.today()\n"
        "c = time.time()\n"
        "d = time.strftime('%H')\n"
        "e = time.monotonic()\n"
        "f = time.strftime('%H', time.gmtime(0))\n"
        "class SystemClock:\n"
        "    pass\n"
        "class Wall:\n"
        "    def now(self): ...\n",
        encoding="utf-8",
    )
    saved = ROOT
    try:
        ROOT = tmp_path
        lines = sorted(int(finding.split(":")[1]) for finding in _findings(sample))
    finally:
        ROOT = saved
    assert lines == [3, 4, 5, 6, 7, 10, 12]


def test_the_clock_module_is_the_one_that_reads() -> None:
    assert list(_findings(ROOT / CLOCK_MODULE)) != []
