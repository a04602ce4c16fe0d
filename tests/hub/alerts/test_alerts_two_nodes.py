"""Two ``hjem hub run`` processes on one PostgreSQL (both subscribed; the database stores each
observation once), a threshold pending and an escalation running: SIGKILL the leader. The
other takes over, evaluates what is stored after the kill, fires the pending alert once and
escalates on time; every stored observation is evaluated once. Prints the failover time
(kill → the first alert evaluated by the new leader)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from foundation.clock import utcnow
from hjem.mosquitto import Mosquitto
from hub.config import PostgresSettings
from hub.db import from_micros
from hub.registry.core import Registry
from hub.store.postgresql_conn import PgConnection
from tests.hub.alerts.test_alerts_crash import ACK_DEADLINE, LATE, PENDING, RULES, _message
from tests.hub.fhir_push.helpers import ANNA, BENT, setup_registry
from tests.hub.helpers import Client, wait_until
from tests.hub.processes import HubProcess, write_config

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgresql, pytest.mark.slow]


def _rows(dsn: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        try:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
        except psycopg.errors.UndefinedTable:
            return []


def _actions(dsn: str) -> list[tuple[str, str | None, str, datetime]]:
    rows = _rows(
        dsn,
        "SELECT a.rule, a.resident, u.action, u.time_us FROM alert_audit u"
        " JOIN alert a ON a.id = u.alert_id ORDER BY u.seq",
    )
    return [
        (str(r), None if p is None else str(p), str(a), from_micros(int(str(t))))
        for r, p, a, t in rows
    ]


EXPECTED = [
    ("fever", ANNA, "fire"),
    ("fever", BENT, "fire"),
    ("fever", ANNA, "escalate"),
    ("fever", BENT, "escalate"),
    ("fever-lasting", ANNA, "fire"),
]


def _triples(dsn: str) -> list[tuple[str, str | None, str]]:
    return [(rule, resident, action) for rule, resident, action, _ in _actions(dsn)]


def _config(tmp_path: Path, broker: Mosquitto, dsn: str, node: str) -> Path:
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    config = write_config(tmp_path / f"{node}.toml", tmp_path / f"{node}.sqlite3", broker.url, node)
    text = config.read_text(encoding="utf-8").replace(
        "[alerts]\nenabled = false", f'[alerts]\nrules_file = "{rules}"\nmqtt = false'
    )
    text += f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{dsn}"\n'
    config.write_text(text, encoding="utf-8")
    return config


def _leads(hub: HubProcess, node: str) -> bool:
    return f"node {node} leads alert evaluation" in hub.log.read_text(errors="replace")


def test_the_other_hub_takes_over_when_the_leader_is_killed(
    broker: Mosquitto, postgres_dsn: str, tmp_path: Path
) -> None:
    conn = PgConnection(PostgresSettings(dsn=SecretStr(postgres_dsn)))
    setup_registry(Registry(conn), start=utcnow())
    conn.close()
    a = HubProcess(_config(tmp_path, broker, postgres_dsn, "hub-a"), tmp_path / "a.log").start()
    wait_until(lambda: _leads(a, "hub-a"), timeout=30, what="hub-a to lead")
    b = HubProcess(_config(tmp_path, broker, postgres_dsn, "hub-b"), tmp_path / "b.log").start()
    vendor = Client(broker, "vendor-client")
    try:
        vendor.publish_many([_message("m-1", (ANNA, "39.5"), (BENT, "36.8"))])
        wait_until(
            lambda: [x[2] for x in _actions(postgres_dsn)] == ["fire"],
            timeout=60,
            what="hub-a to fire the fever alert",
        )
        [(due_us,)] = _rows(postgres_dsn, "SELECT next_notify_us FROM alert")
        escalation_due = from_micros(int(str(due_us)))
        fired_at = _actions(postgres_dsn)[0][3]
        a.kill()
        killed = time.monotonic()
        vendor.publish_many([_message("m-2", (BENT, "38.6"))])
        wait_until(
            lambda: any(x[1] == BENT for x in _actions(postgres_dsn)),
            timeout=60,
            what="hub-b to evaluate Bent's fever",
        )
        took = time.monotonic() - killed
        print(f"failover: leader killed -> first alert on the new leader {took:.2f} s")
        assert _leads(b, "hub-b")
        wait_until(
            lambda: set(EXPECTED) <= set(_triples(postgres_dsn)),
            timeout=PENDING + ACK_DEADLINE + 60,
            what="the lasting fever and both escalations",
        )
        [(position, newest)] = _rows(
            postgres_dsn,
            "SELECT (SELECT position FROM alert_feed_cursor WHERE feed = 'observations'),"
            " (SELECT last FROM observation_number)",
        )
        assert position == newest
        assert b.stop() == 0
    finally:
        vendor.close()
        b.stop()
        a.stop()
    assert sorted(_triples(postgres_dsn)) == sorted(EXPECTED)  # each once
    times = {(r, p, act): t for r, p, act, t in _actions(postgres_dsn)}
    due = fired_at + timedelta(seconds=PENDING)
    assert due <= times["fever-lasting", ANNA, "fire"] <= due + LATE
    assert escalation_due <= times["fever", ANNA, "escalate"] <= escalation_due + LATE
    [(count,)] = _rows(postgres_dsn, "SELECT COUNT(*) FROM observation")
    assert count == 3
