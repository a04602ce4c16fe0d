"""Hub processes of ``hjem bench ingest``: N on one MQTT 5 shared subscription, one database.

Each is ``python -m bench.ingest_shared SPEC`` (a JSON :class:`Spec`): it imports the hub,
says ``ready`` and waits for a word on its standard input - ``once`` (start the hub and stop:
creates the persistent session, migrates the database) or ``go`` (run until SIGTERM). So the
backlog is published while every process is offline, and the interpreter's start is outside
the timed drain. The row is timed until the database holds every observation (SQLite: its
rows; PostgreSQL: the commit-order counter), with alerts until the alert engine's feed
position reached the last one too. CPU comes from ``/proc``: each hub process's own (its
threads), its relay process's, and the PostgreSQL server's (the postmaster, its live
children and those it reaped) over the drain.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from hub.config import HubSettings

__all__ = ["SHARED_PROCESSES", "Spec", "Timing", "process_cpu", "run_hubs", "tree_cpu"]


class Timing(NamedTuple):
    """Seconds from the subscriber's start (connect; for the hub, the process objects) to the
    last message handled, and from the first message in hand to the last (steady state)."""

    drain_s: float
    steady_s: float
    cpu_s: float = 0.0
    """CPU seconds of the hub process(es) during the drain (the hub rows only)."""
    relay_cpu_s: float = 0.0
    """CPU seconds of their relay process(es) (the hub rows only)."""
    server_cpu_s: float = 0.0
    """CPU seconds of the PostgreSQL server during the drain (its rows only)."""
    evaluated_s: float = 0.0
    """With alerts: seconds from the start until the alert engine evaluated the last one."""


SHARED_PROCESSES = int(os.environ.get("HJEM_BENCH_INGEST_PROCESSES", "2"))
"""Hub processes on one MQTT 5 shared subscription for the scale-out rows (0: skip them)."""


@dataclass(frozen=True)
class Spec:
    """What one hub process of a row runs: the broker, its database, alerts or not."""

    port: int
    database: str
    """The SQLite file (the hub's own tables with PostgreSQL too, unless ``dsn``)."""
    client_id: str
    dsn: str = ""
    """PostgreSQL: ``store.kind = "postgresql"`` on this database."""
    rules: str = ""
    """Alert rules file (alerts on, not published on MQTT); empty: alerts off."""
    shared: bool = True


def _settings(spec: Spec) -> HubSettings:
    from pydantic import SecretStr

    from hub.alerts.settings import AlertSettings
    from hub.config import HttpSettings, HubSettings, MqttSettings, PostgresSettings, StoreSettings

    store = StoreSettings()
    if spec.dsn:
        store = StoreSettings(
            kind="postgresql", postgresql=PostgresSettings(dsn=SecretStr(spec.dsn))
        )
    return HubSettings(
        database=Path(spec.database),
        mqtt=MqttSettings(
            url=f"mqtt://127.0.0.1:{spec.port}",
            client_id=spec.client_id,
            shared_group="bench" if spec.shared else None,
        ),
        http=HttpSettings(enabled=False),
        store=store,
        alerts=AlertSettings(rules_file=Path(spec.rules), mqtt=False)
        if spec.rules
        else AlertSettings(enabled=False),
    )


async def _run_child(spec: Spec, *, stay: bool) -> None:
    """One hub process: ingest (and alerts, when the spec has rules) until SIGTERM."""
    import signal

    from hub.service import Hub, tune_gc

    tune_gc()
    settings = _settings(spec)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with Hub(settings, alerts=bool(spec.rules)):
        if stay:
            await stop.wait()


def process_cpu() -> dict[int, tuple[int, float, float]]:
    """Every process: pid -> (parent pid, own CPU seconds, reaped children's CPU seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # gone meanwhile
        fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        own = (int(fields[11]) + int(fields[12])) / tick
        found[int(entry.name)] = (int(fields[1]), own, (int(fields[13]) + int(fields[14])) / tick)
    return found


def tree_cpu(table: dict[int, tuple[int, float, float]], root: int) -> tuple[float, float]:
    """(``root``'s own CPU, its descendants' CPU, live and reaped) from :func:`process_cpu`."""
    if root not in table:
        return 0.0, 0.0
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    below, todo = table[root][2], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        below += table[pid][1] + table[pid][2]
        todo += children.get(pid, [])
    return table[root][1], below


class _Probe:
    """Reads a row's database: stored so far, evaluated so far (None: no alerts), the first
    observation's arrival (one connection, kept open: no server process forked per look)."""

    def __init__(self, spec: Spec) -> None:
        import psycopg

        self._spec = spec
        self._pg = psycopg.connect(spec.dsn, autocommit=True) if spec.dsn else None
        self._lite = None
        if not spec.dsn:
            uri = f"file:{spec.database}?mode=ro"
            self._lite = sqlite3.connect(uri, uri=True, timeout=30)

    def progress(self) -> tuple[int, int | None]:
        if self._lite is not None:
            return int(self._lite.execute("SELECT COUNT(*) FROM observation").fetchone()[0]), None
        assert self._pg is not None
        feed = "SELECT position FROM alert_feed_cursor WHERE feed = 'observations'"
        feed = feed if self._spec.rules else "NULL"  # no alert tables without alerts
        row = self._pg.execute(
            f"SELECT (SELECT last FROM observation_number), ({feed})"  # noqa: S608 - constant
        ).fetchone()
        assert row is not None
        return int(row[0]), None if row[1] is None else int(row[1])

    def first_received_s(self) -> float:
        query = "SELECT MIN(received_us) FROM observation"
        conn = self._lite or self._pg
        assert conn is not None
        row = conn.execute(query).fetchone()
        assert row is not None
        return float(row[0]) / 1e6

    def close(self) -> None:
        (self._lite or self._pg).close()  # type: ignore[union-attr]


def _child(spec: Spec) -> subprocess.Popen[str]:
    from hjem.mosquitto import die_with_parent

    return subprocess.Popen(  # noqa: S603 - this interpreter, this module
        [sys.executable, "-m", "bench.ingest_shared", json.dumps(asdict(spec))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=Path(__file__).resolve().parents[1],  # the checkout: `bench` is importable there
        preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
    )


def _ready(specs: list[Spec]) -> list[subprocess.Popen[str]]:
    procs = [_child(spec) for spec in specs]
    for proc in procs:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a hub process of the benchmark failed to start")
    return procs


def _say(procs: list[subprocess.Popen[str]], word: str) -> None:
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(word + "\n")
        proc.stdin.flush()


def run_hubs(
    specs: list[Spec], observations: int, payloads: list[bytes], server_pid: int | None = None
) -> Timing:
    """Time the hub processes of ``specs`` take to store (and evaluate) a published backlog."""
    from bench.ingest import _forget_session, _publish

    once = _ready(specs)  # create the sessions (and migrate), one after the other
    for proc in once:
        _say([proc], "once")
        if proc.wait(120) != 0:
            raise RuntimeError("a hub process of the benchmark failed")
    procs = _ready(specs)
    _publish(specs[0].port, payloads)
    probe = _Probe(specs[0])
    before = process_cpu()
    started, wall = time.perf_counter(), time.time()
    _say(procs, "go")
    try:
        stored_s, evaluated_s = _wait(probe, observations, started, alerts=bool(specs[0].rules))
        after = process_cpu()
        first = probe.first_received_s()
    finally:
        probe.close()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
    for spec in specs:
        _forget_session(spec.port, spec.client_id)
    # Each hub process's own CPU from "go" (its imports before are left out), its relay's
    # (started after "go") all of it.
    hub = [
        (tree_cpu(after, p.pid)[0] - tree_cpu(before, p.pid)[0], tree_cpu(after, p.pid)[1])
        for p in procs
    ]
    server = 0.0
    if server_pid is not None:
        server = sum(tree_cpu(after, server_pid)) - sum(tree_cpu(before, server_pid))
    return Timing(
        stored_s,
        wall + stored_s - first,  # from the first message's arrival to the last stored
        sum(own for own, _ in hub),
        sum(below for _, below in hub),
        server,
        evaluated_s,
    )


def _wait(probe: _Probe, observations: int, started: float, *, alerts: bool) -> tuple[float, float]:
    """Poll until every observation is stored and, with alerts, evaluated: both times."""
    stored_s = 0.0
    deadline = started + 600
    while time.perf_counter() < deadline:
        stored, evaluated = probe.progress()
        if not stored_s and stored >= observations:
            stored_s = time.perf_counter() - started
        if stored_s and (not alerts or (evaluated or 0) >= observations):
            return stored_s, time.perf_counter() - started if alerts else 0.0
        time.sleep(0.05)
    raise RuntimeError("the hubs stored or evaluated too few observations in 600 s")


if __name__ == "__main__":  # a hub process of the benchmark (see run_hubs)
    _spec = Spec(**json.loads(sys.argv[1]))
    import hub.service  # noqa: F401 - imported before "ready": the interpreter's start is not timed

    print("ready", flush=True)
    _word = sys.stdin.readline().strip()
    asyncio.run(_run_child(_spec, stay=_word == "go"))
