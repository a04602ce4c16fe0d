"""``hjem hub run`` with ``store.kind = "postgresql"`` keeps no state in a SQLite file.

A real hub process against the suite's PostgreSQL and a real Mosquitto, with its dashboard on:
it migrates every component's tables in PostgreSQL, stores what a gateway publishes, records
the device first seen (registry), its counters (ledger) and the alert it raised (alerts
and their audit) there, and stops; no SQLite file
was created anywhere in its directory (the ``database`` setting names one that must stay
absent), the precondition of several hub nodes on one database.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from hjem.mosquitto import Mosquitto, free_port
from hub.config import PostgresSettings
from hub.registry.core import Registry
from hub.store.postgresql_conn import PgConnection
from tests.hub.helpers import T0, Client, batch, wait_until
from tests.hub.processes import HubProcess, write_config

pytestmark = [pytest.mark.mosquitto, pytest.mark.postgresql]


RULES = """
[[rule]]
id = "fever"
kind = "threshold"
measure = "body_temperature"
operator = ">"
value = 30
"""
"""Every reading of the test's batches opens (or keeps) one alert."""


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn) as conn:
        try:
            row = conn.execute(sql).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row and row[0] is not None else 0


def _register(dsn: str) -> None:
    """gw-1's home and resident, wearing dev-pg: its readings are hers (alerts need one)."""
    conn = PgConnection(PostgresSettings(dsn=SecretStr(dsn)))
    try:
        registry = Registry(conn)
        registry.add_home("h-1", "Flat 1")
        registry.add_publisher("gw-1", "gateway", "h-1")
        anna = registry.add_resident("Anna", "h-1")
        registry.assign("dev-pg", anna.id, T0 - timedelta(days=1))
    finally:
        conn.close()


def test_hub_run_on_postgresql_creates_no_sqlite_file(
    broker: Mosquitto, postgres_dsn: str, tmp_path: Path
) -> None:
    database = tmp_path / "hub.sqlite3"
    config = write_config(tmp_path / "hub.toml", database, broker.url, "hub-pg")
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    text = (
        config.read_text(encoding="utf-8")
        .replace("[http]\nenabled = false", f"[http]\nenabled = true\nport = {free_port()}")
        .replace("[alerts]\nenabled = false", '[alerts]\nrules_file = "rules.toml"')
    )
    text += f'[store]\nkind = "postgresql"\n[store.postgresql]\ndsn = "{postgres_dsn}"\n'
    config.write_text(text, encoding="utf-8")
    _register(postgres_dsn)
    hub = HubProcess(config, tmp_path / "hub.log").start()
    try:
        Client(broker, "gw-1-client").publish_many(
            [("hjem/v1/gw-1/obs", batch("gw-1", i * 5, 5, device="dev-pg")) for i in range(4)]
        )
        wait_until(
            lambda: _count(postgres_dsn, "SELECT COUNT(*) FROM observation") >= 20,
            what="20 observations stored in PostgreSQL",
        )
    finally:
        assert hub.stop() == 0
    assert _count(postgres_dsn, "SELECT COUNT(*) FROM device WHERE id = 'dev-pg'") == 1
    assert _count(postgres_dsn, "SELECT COUNT(*) FROM alert_audit WHERE action = 'fire'") == 1
    stored = "SELECT value FROM counter WHERE name = 'observations_stored'"
    assert _count(postgres_dsn, stored) == 20
    components = "SELECT COUNT(DISTINCT component) FROM schema_migrations"
    assert _count(postgres_dsn, components) >= 6  # registry, auth, gateways, ledger, ...
    assert "database postgresql" in (tmp_path / "hub.log").read_text(encoding="utf-8")
    assert not database.exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if "sqlite" in p.name) == []
