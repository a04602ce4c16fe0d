"""A hub database of the previous schema version, with data in it, upgraded in place by the
current hub - on SQLite and on PostgreSQL (one suite).

The previous version is every component's migration history without its newest version
(:data:`HISTORIES`: a component with one version did not exist then; the PostgreSQL store
is at version 1, before observations were numbered). The data is written as the code of that
version wrote it: through the repositories whose tables the newest version does not change,
and as plain rows where it does (an alert without ``trigger_detail``, dead letters without
the counters, observations without a number). Then the current hub starts on that database:
every component reaches its newest version, every row is read back as written, and the hub
ingests, numbers and pages on as before.
"""

from __future__ import annotations

import importlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pydantic import SecretStr

from hub.admin.audit import ensure_schema
from hub.alerts.settings import AlertSettings
from hub.auth import UserStore
from hub.config import HttpSettings, HubSettings, PostgresSettings
from hub.db import Connection, Dialects, from_micros, migrate, to_micros
from hub.fhir.access_log import AccessLog
from hub.fhir.clients import FhirClients
from hub.fhir.consent import Consents
from hub.fhir.push.outbox import Outbox
from hub.service import Hub
from hub.store.base import StoredObservation
from hub.store.pages import ObservationFilter, observation_page
from hub.store.postgresql_db import open_pool
from hub.store.postgresql_parts import Partitions, months_of
from hub.store.sqlite_rows import observation_row
from schemas.models import AlertState
from tests.support.browser import PASSWORD, RULES, observation, seed_registry, seed_users
from tests.support.hub_db import HubDatabases

pytestmark = pytest.mark.asyncio

HISTORIES = {
    "registry": ("hub.registry.core", "MIGRATIONS"),
    "auth": ("hub.auth.users", "MIGRATIONS"),
    "alerts": ("hub.alerts.store", "MIGRATIONS"),
    "alert_trigger": ("hub.alerts.store", "TRIGGER_MIGRATIONS"),
    "alert_engine_state": ("hub.alerts.durable", "MIGRATIONS"),
    "ledger": ("hub.store.ledger", "MIGRATIONS"),
    "gateways": ("hub.registry.gateways", "MIGRATIONS"),
    "status": ("hub.status.monitor", "MIGRATIONS"),
    "web": ("hub.admin.audit", "MIGRATIONS"),
    "fhir_consent": ("hub.fhir.consent", "MIGRATIONS"),
    "fhir_client": ("hub.fhir.clients", "MIGRATIONS"),
    "fhir_access": ("hub.fhir.access_log", "MIGRATIONS"),
    "fhir_push": ("hub.fhir.push.outbox", "MIGRATIONS"),
}
"""Each component of the relational tables: where its migration history is."""
SQLITE_STORE = ("hub.store.sqlite", "MIGRATIONS")
PG_STORE = ("hub.store.postgresql", "MIGRATIONS")
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
OLD_READINGS = 6


def _history(where: tuple[str, str]) -> Sequence[str | Dialects]:
    module, name = where
    history: Sequence[str | Dialects] = getattr(importlib.import_module(module), name)
    return history


def _pg_store_history() -> Sequence[tuple[str, ...]]:
    history: Sequence[tuple[str, ...]] = getattr(importlib.import_module(PG_STORE[0]), PG_STORE[1])
    return history


@contextmanager
def _previous_code(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The code sees every history without its newest version, until the block ends."""
    with monkeypatch.context() as patch:
        for where in (*HISTORIES.values(), SQLITE_STORE, PG_STORE):
            patch.setattr(importlib.import_module(where[0]), where[1], _history(where)[:-1])
        yield


def _versions(conn: Connection) -> dict[str, int]:
    rows = conn.execute("SELECT component, MAX(version) FROM schema_migrations GROUP BY component")
    return {str(c): int(v) for c, v in rows}


def _readings() -> list[StoredObservation]:
    """Anna's thermometer every 10 minutes from T0, as stored (JSON rows)."""
    return [
        StoredObservation(
            observation(
                "body_temperature", f"36.{i}", T0 + timedelta(minutes=10 * i), "dev-thermo", "gw-a"
            ),
            "gw-a",
            "r-anna",
            T0 + timedelta(minutes=10 * i, seconds=5),
        )
        for i in range(OLD_READINGS)
    ]


def _old_observations(hub_dbs: HubDatabases, conn: Connection) -> None:
    """Observations as the previous store wrote them (PostgreSQL: version 1, no number)."""
    readings = _readings()
    if hub_dbs.dsn is None:
        hub_dbs.store(conn).write(readings)
        return
    pool = open_pool(PostgresSettings(dsn=SecretStr(hub_dbs.dsn)), {"store": _pg_store_history()})
    pool.close()
    rows = []
    for item in readings:
        text = item.observation.model_dump_json(by_alias=True, exclude_none=True)
        rows.append(observation_row(item, None, text, to_micros(item.received)))
    with psycopg.connect(hub_dbs.dsn) as pg:
        months = months_of(int(r[6]) for r in rows)  # type: ignore[call-overload]
        Partitions().create(
            pg, [(t, m) for t in ("observation", "sample", "rollup") for m in months]
        )
        pg.cursor().executemany(
            "INSERT INTO observation (id, publisher, device_id, resident_id, system, code,"
            " effective_us, received_us, message, position, json, value, unit)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def _old_rows(conn: Connection) -> None:
    """An open alert (alert_trigger version 3: no trigger_detail) and a dead letter (ledger
    version 2: no counter table), as plain rows."""
    at = to_micros(T0 + timedelta(minutes=30))
    conn.execute(
        "INSERT INTO alert (id, rule, subject, resident, home, organisation, state, severity,"
        " summary, assignee, sequence, is_open, opened_us, updated_us, escalation_level,"
        " next_notify_us, trigger_value, trigger_unit, trigger_us)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("a-old", "fever", "r-anna", "r-anna", "home-a", "org-a", "ACTIVE_UNACK", "high",
         "Feber", None, 1, 1, at, at, 1, at + 60_000_000, 39.4, "Cel", at),
    )  # fmt: skip
    conn.execute(
        "INSERT INTO dead_letter (received_us, transport, topic, publisher, message_id,"
        " accepted, rejected, errors_json, payload, truncated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (at, "mqtt", "hjem/v1/gw-a/obs", "gw-a", "m-bad", 0, 1,
         '[{"path": "$", "reason": "not valid JSON"}]', b"{bad", 0),
    )  # fmt: skip


def _build_previous(hub_dbs: HubDatabases) -> dict[str, int]:
    """The database at the previous version, with data; its component versions."""
    from hub.registry.core import Registry

    conn = hub_dbs.open()
    for component, where in HISTORIES.items():
        migrate(conn, component, _history(where))  # patched: without the newest version
    seed_registry(Registry(conn), T0)
    seed_users(UserStore(conn, lambda: T0))
    Consents(conn, lambda: T0).add("r-anna", "org-b", "TREAT", T0, None, actor="cli:t")
    _old_observations(hub_dbs, conn)
    _old_rows(conn)
    versions = _versions(conn)
    conn.close()
    return versions


def _settings(hub_dbs: HubDatabases) -> HubSettings:
    rules = hub_dbs.path.parent / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    return hub_dbs.settings(
        http=HttpSettings(enabled=False), alerts=AlertSettings(rules_file=rules, mqtt=False)
    )


def _newest(engine: str) -> dict[str, int]:
    store = _history(SQLITE_STORE if engine == "sqlite" else PG_STORE)
    return {c: len(_history(w)) for c, w in HISTORIES.items()} | {"store": len(store)}


async def test_the_hub_upgrades_a_database_of_the_previous_version_in_place(
    hub_dbs: HubDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _previous_code(monkeypatch):
        before = _build_previous(hub_dbs)
    newest = _newest(hub_dbs.engine)
    assert before == {c: n - 1 for c, n in newest.items() if n > 1}  # one version behind
    async with Hub(_settings(hub_dbs), mqtt=False) as hub:
        for lazy in (ensure_schema, Consents, FhirClients, AccessLog, Outbox):
            lazy(hub.conn)  # opened with their first use (an admin command, a FHIR request)
        assert _versions(hub.conn) == newest  # upgraded in place
        _check_old_data(hub)
        await _check_new_writes(hub)


def _ids(hub: Hub) -> list[str]:
    return [str(r[0]) for r in hub.conn.execute("SELECT id FROM observation")]


def _check_old_data(hub: Hub) -> None:
    from hub.alerts.store import AlertStore

    assert hub.registry.resolve("dev-thermo", T0 + timedelta(hours=1)) == "r-anna"
    gateway = hub.registry.publisher("gw-a")
    assert gateway is not None
    assert (gateway.home_id, gateway.retired) == ("home-a", None)  # the column added: NULL
    assert UserStore(hub.conn, lambda: T0).check_password("sara", PASSWORD) is not None
    alert = AlertStore(hub.conn).get("a-old")
    assert (alert.state, alert.trigger_value, alert.trigger_unit) == (
        AlertState.ACTIVE_UNACK,
        39.4,
        "Cel",
    )
    assert alert.trigger_detail == {}  # the column added: empty
    assert alert.next_notify == T0 + timedelta(minutes=31)
    [consent] = Consents(hub.conn).listing(None, "r-anna")
    assert (consent.recipient_org, consent.start) == ("org-b", T0)
    with pytest.raises(sqlite3.DatabaseError, match="never deleted"):  # the newest version
        hub.conn.execute("DELETE FROM fhir_consent")
    [letter] = hub.ledger.dead_letters()
    assert (letter.message_id, letter.payload, letter.errors[0].reason) == (
        "m-bad",
        b"{bad",
        "not valid JSON",
    )
    assert sorted(_ids(hub)) == sorted(r.observation.id for r in _readings())
    page = observation_page(hub.conn, ObservationFilter(residents=["r-anna"]), None, 100)
    assert [p.stored.reading.id for p in page] == [r.observation.id for r in _readings()]


async def _check_new_writes(hub: Hub) -> None:
    """The upgraded hub stores, numbers, counts and pages on."""
    from tests.support.browser import batch_of

    last = hub.store.last_stored()
    new = observation("body_temperature", "37.0", T0 + timedelta(hours=1, minutes=1),
                      "dev-thermo", "gw-a")  # fmt: skip
    processed = await hub.ingest_http("gw-a", batch_of("gw-a", [new], "after-upgrade"))
    [judged] = processed.judgements
    assert (len(judged.items), judged.rejection) == (1, None)
    assert [s.reading.id for _, s in hub.store.stored_since(last, 10)] == [new.id]
    assert hub.ledger.counters()["observations_stored"] == 1  # the new counter table
    residents = ObservationFilter(residents=["r-anna"])
    first = observation_page(hub.conn, residents, None, 4)
    rest = observation_page(hub.conn, residents, first[-1].position, 100)
    expected = [r.observation.id for r in _readings()] + [new.id]
    assert [p.stored.reading.id for p in first + rest] == expected
    assert from_micros(first[0].position[0]) == T0
