"""``hjem bench failover``: leader killed -> first alert evaluated on the new leader.

Two ``hjem hub run`` processes (child processes, each its own MQTT client id on one MQTT 5
shared subscription) store into one PostgreSQL and evaluate alerts there; exactly one leads
alert evaluation (:mod:`hub.leadership`: a session advisory lock the followers try every
second). ``HJEM_BENCH_FAILOVER_KILLS`` times (default 10): the leader is killed with SIGKILL,
a body temperature of 39.5 °C of a resident who has no alert yet is published at once, and
the time from the kill until that resident's alert is in the database is measured (the
survivor ingests it, takes the lead and evaluates it); then the killed node is started again
and joins as a follower; the next kill comes 1-2 s later (a random point of the follower's
one-second cycle of trying the lock). Side by side, the peer: the same probe with both nodes running
(published -> alert on the leader that has led all along), as many times. Each probe goes
in two messages (see :func:`_probe`).

A real Mosquitto and a PostgreSQL cluster (fsync on) run on 127.0.0.1, started here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["failover"]

KILLS = int(os.environ.get("HJEM_BENCH_FAILOVER_KILLS", "10"))
"""Leader kills timed (the suite's smoke run uses 2)."""
NODES = ("hub-a", "hub-b")
RULES = """[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">="
value = 38.5
clear_value = 38.0
severity = "medium"
"""
DEADLINE_S = 120.0
POLL_S = 1.0
"""How often a follower tries to take the lead (hub.leadership.PostgresLeadership)."""


@dataclass
class _Node:
    """One ``hjem hub run`` child process and its log."""

    name: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from hjem.mosquitto import die_with_parent

        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, the hjem CLI
                [sys.executable, "-m", "hjem", "hub", "run", "--config", str(self.config)],
                stdout=out,
                stderr=out,
                cwd=Path(__file__).resolve().parents[1],
                preexec_fn=die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
            )
        _until(lambda: "hub running" in self._log_from(offset), f"{self.name} to start")

    def _log_from(self, offset: int) -> str:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited: {tail}")
        with self.log.open("rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _until(ready: Callable[[], bool], what: str, every_s: float = 0.01) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"failover benchmark: waited {DEADLINE_S:.0f} s for {what}")
        time.sleep(every_s)


def _config(root: Path, port: int, dsn: str, node: str) -> Path:
    rules = root / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    config = root / f"{node}.toml"
    config.write_text(
        f'database = "{root / node}.sqlite3"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{port}"\nclient_id = "{node}"\n'
        'shared_group = "failover"\n'
        "[http]\nenabled = false\n"
        f'[alerts]\nrules_file = "{rules}"\nmqtt = false\n'
        f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{dsn}"\n',
        encoding="utf-8",
    )
    return config


def _probe(index: int) -> list[bytes]:
    """A fever reading (39.5 °C) of probe device ``index``, now, in two messages.

    Mosquitto deals a shared subscription's messages round robin to the group's sessions,
    the killed node's (persistent, offline) included, and keeps what it dealt there until
    that node is back. Two messages with the same observation reach both sessions: the
    survivor stores it now, the killed node's copy is a duplicate when it returns.
    """
    from schemas.builders import make_observation
    from schemas.models import Batch, DeviceInfo, Source, encode

    now = datetime.now(UTC)
    source = Source(publisher="gw-bench", device=DeviceInfo(id=f"probe-{index}"))
    obs = make_observation(
        "body_temperature", source=source, effective=now, instant=f"p{index}", value="39.5"
    )
    return [
        encode(
            Batch(
                message_id=f"probe-{index}-{n}", publisher="gw-bench", sent=now, observations=[obs]
            )
        )
        for n in range(2)
    ]


def _leader(dsn: str) -> str | None:
    from hub.leadership import PostgresLeadership

    return asyncio.run(PostgresLeadership(dsn, "bench").leader())


class _Alerts:
    """Whether a resident's alert is in the database (one connection, kept open)."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._conn = psycopg.connect(dsn, autocommit=True)

    def raised(self, resident: str) -> bool:
        try:
            row = self._conn.execute(
                "SELECT COUNT(*) FROM alert WHERE resident = %s", (resident,)
            ).fetchone()
        except Exception:  # noqa: BLE001 - the alert tables come with the first leader
            return False
        return bool(row and row[0])

    def close(self) -> None:
        self._conn.close()


def _timed_probe(port: int, alerts: _Alerts, index: int, resident: str) -> float:
    """Seconds from now until probe ``index``'s alert is in the database."""
    from bench.ingest import _publish

    started = time.monotonic()
    _publish(port, _probe(index))
    _until(lambda: alerts.raised(resident), f"the alert of probe {index}")
    return time.monotonic() - started


def _kills(port: int, dsn: str, nodes: dict[str, _Node], residents: list[str]) -> list[float]:
    alerts = _Alerts(dsn)
    took = []
    phase = random.Random(17)  # noqa: S311 - a benchmark's spacing, not a secret
    try:
        for kill in range(KILLS):
            _until(lambda: _leader(dsn) in nodes, "a leader", 0.1)
            # The follower tries the lock every second from its start: kill at a random
            # point of its cycle, not just after the restart (its first try comes at once).
            time.sleep(phase.uniform(POLL_S, 2 * POLL_S))
            leader = nodes[str(_leader(dsn))]
            leader.kill()
            took.append(_timed_probe(port, alerts, kill, residents[kill]))
            leader.start()  # a follower now
    finally:
        alerts.close()
    return took


def _peer(port: int, dsn: str, residents: list[str]) -> list[float]:
    alerts = _Alerts(dsn)
    try:
        return [_timed_probe(port, alerts, KILLS + i, residents[KILLS + i]) for i in range(KILLS)]
    finally:
        alerts.close()


def _row(name: str, seconds: list[float]) -> None:
    p50 = statistics.median(seconds)
    print(f"{name:<58} {len(seconds):>5} {p50:>8.2f} {max(seconds):>8.2f} {min(seconds):>8.2f}")


def failover() -> None:
    from bench.ingest_postgres import register
    from hjem.mosquitto import Mosquitto
    from hjem.postgres import PostgresCluster

    print("two hjem hub run processes on one PostgreSQL (fsync on) and one MQTT 5 shared")
    print("subscription; alert evaluation led by one (advisory lock, followers try every 1 s)")
    print(f"{'':<58} {'times':>5} {'p50 s':>8} {'max s':>8} {'min s':>8}")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        root = Path(tmp)
        broker = stack.enter_context(Mosquitto(workdir=root / "mosquitto"))
        cluster = stack.enter_context(PostgresCluster(durable=True))
        dsn = cluster.create_database("failover")
        residents = register(dsn, [f"probe-{i}" for i in range(2 * KILLS)])
        nodes = {n: _Node(n, _config(root, broker.port, dsn, n), root / f"{n}.log") for n in NODES}
        try:
            for node in nodes.values():
                node.start()
            took = _kills(broker.port, dsn, nodes, residents)
            _until(lambda: _leader(dsn) in nodes, "a leader", 0.1)
            peer = _peer(broker.port, dsn, residents)
        finally:
            for node in nodes.values():
                node.stop()
    _row("failover: leader SIGKILLed -> first alert on the new leader", took)
    _row("peer: no kill, the same probe published -> alert", peer)
