"""The exporter on the in-memory transport: consent decides what is queued and sent, the
outbox keeps rows through failures with exponential backoff, a refused row is parked and the
others still go, every state change is audited, and the metrics tell the state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from foundation.clock import ManualClock
from hub.admin.audit import admin_actions
from hub.config import PostgresSettings
from hub.db import Connection, open_db
from hub.errors import StoreError
from hub.events import StoredBatch
from hub.fhir.consent import Consents
from hub.fhir.push.auth import PushAuthError
from hub.fhir.push.exporter import PushExporter
from hub.fhir.push.metrics import PushCollector
from hub.fhir.push.settings import FhirPushSettings, PushRecipient
from hub.fhir.push.transport import MemoryTransport
from hub.fhir.push.wiring import PushStoreError, build_push
from hub.registry.core import Registry
from hub.store.postgresql import PostgresStore
from hub.store.sqlite import SqliteStore
from tests.hub.fhir_push.helpers import (
    ANNA,
    BENT,
    CUFF,
    DEVICES,
    HOSPITAL,
    T0,
    MemoryFhir,
    setup_registry,
    stored,
)

if TYPE_CHECKING:
    from hub.compose import Services


@pytest.fixture
def conn(hub_db: Connection) -> Connection:
    """The hub database with the registry, on SQLite and on PostgreSQL: the outbox, cursor,
    consents and audit of every test that has it run on both engines."""
    setup_registry(Registry(hub_db))
    return hub_db


def _recipient(tmp_path: Path, **extra: object) -> PushRecipient:
    token = tmp_path / "token"
    token.write_text("secret\n", encoding="utf-8")
    return PushRecipient.model_validate(
        {
            "name": "hospital",
            "organisation": HOSPITAL,
            "base_url": "http://127.0.0.1:9/fhir",
            "auth": {"kind": "bearer", "token_file": str(token)},
            "backoff_initial_s": 2,
            "backoff_max_s": 10,
            **extra,
        }
    )


def _exporter(
    conn: Connection, tmp_path: Path, clock: ManualClock, fhir: MemoryFhir, **extra: object
) -> tuple[PushExporter, MemoryTransport]:
    transport = MemoryTransport(fhir)
    settings = FhirPushSettings(recipients=(_recipient(tmp_path, **extra),))
    return PushExporter(conn, settings, transport, clock=clock), transport


@dataclass
class World:
    clock: ManualClock
    fhir: MemoryFhir
    exporter: PushExporter
    transport: MemoryTransport
    consent: int


def _world(
    conn: Connection, tmp_path: Path, fhir: MemoryFhir | None = None, **extra: object
) -> World:
    """Anna consents to the hospital from T0; the exporter has one recipient, the hospital."""
    clock = ManualClock(T0)
    consent = _consent(conn, clock)
    fhir = fhir or MemoryFhir()
    exporter, transport = _exporter(conn, tmp_path, clock, fhir, **extra)
    return World(clock, fhir, exporter, transport, consent)


def _consent(conn: Connection, clock: ManualClock, resident: str = ANNA) -> int:
    return Consents(conn, clock).add(resident, HOSPITAL, "TREAT", T0, None, actor="cli:t").id


def _actions(conn: Connection) -> list[str]:
    return [a.action for a in admin_actions(conn, frozenset({HOSPITAL}))]


@pytest.mark.asyncio
async def test_only_consented_residents_are_queued_and_sent(
    conn: Connection, tmp_path: Path
) -> None:
    w = _world(conn, tmp_path)
    fhir, exporter, transport = w.fhir, w.exporter, w.transport
    items = [stored(ANNA, DEVICES[ANNA], i) for i in range(3)]
    items += [stored(BENT, DEVICES[BENT], i) for i in range(3)]
    assert exporter.enqueue(items) == 3
    await exporter.drain()
    sent = fhir.observations()
    assert len(sent) == 3
    patients = {
        json.dumps(r["identifier"]) for r in fhir.created.values() if r["resourceType"] == "Patient"
    }
    assert patients == {json.dumps([{"system": "urn:hjem:resident", "value": ANNA}])}
    assert all(BENT.encode() not in body for _, body, _ in transport.requests)
    assert transport.requests[0][2]["Authorization"] == "Bearer secret"
    state = exporter.outbox.state("hospital")
    assert (state.queued, state.sent, state.failures) == (0, 3, 0)
    assert _actions(conn)[0] == "fhir_push_sent"


@pytest.mark.asyncio
async def test_bundles_stay_within_the_entry_limit(conn: Connection, tmp_path: Path) -> None:
    w = _world(conn, tmp_path, bundle_entries=6)
    fhir, exporter = w.fhir, w.exporter
    items = [stored(ANNA, DEVICES[ANNA], i) for i in range(7)] + [
        stored(ANNA, CUFF, i) for i in range(3)
    ]
    exporter.enqueue(items)
    await exporter.drain()
    assert len(fhir.observations()) == 10
    assert max(len(b["entry"]) for b in fhir.bundles) <= 6
    # gateway, device, patient and three readings: the first Bundle is full
    assert len(fhir.bundles[0]["entry"]) == 6


@pytest.mark.asyncio
async def test_an_outage_keeps_the_rows_and_backs_off(conn: Connection, tmp_path: Path) -> None:
    w = _world(conn, tmp_path)
    clock, fhir, exporter, transport = w.clock, w.fhir, w.exporter, w.transport
    exporter.enqueue([stored(ANNA, DEVICES[ANNA], i) for i in range(2)])
    transport.down = True
    recipient = exporter.recipients[0]
    delays = []
    for _ in range(4):
        outcome = await exporter.push_once(recipient)
        assert outcome.failed
        assert (await exporter.push_once(recipient)).idle  # waits for the backoff
        due = exporter.outbox.state("hospital").next_attempt
        assert due is not None
        delays.append((due - clock()).total_seconds())
        clock.set(due)
    assert delays == [2, 4, 8, 10]  # doubling up to backoff_max_s
    state = exporter.outbox.state("hospital")
    assert (state.queued, state.failures, state.consecutive_failures) == (2, 4, 4)
    assert "connection refused" in (state.last_error or "")
    transport.down = False
    await exporter.drain()
    state = exporter.outbox.state("hospital")
    assert (state.queued, state.sent, state.consecutive_failures) == (0, 2, 0)
    assert len(fhir.observations()) == 2
    assert _actions(conn)[:3] == ["fhir_push_recovered", "fhir_push_sent", "fhir_push_failing"]


@pytest.mark.asyncio
async def test_a_server_error_is_retried_not_parked(conn: Connection, tmp_path: Path) -> None:
    exporter = _world(conn, tmp_path, MemoryFhir(status=503)).exporter
    exporter.enqueue([stored(ANNA, DEVICES[ANNA], 0)])
    assert (await exporter.push_once(exporter.recipients[0])).failed
    state = exporter.outbox.state("hospital")
    assert (state.queued, state.parked_rows) == (1, 0)
    assert state.last_error is not None
    assert state.last_error.startswith("503 error refused by the test")


@pytest.mark.asyncio
async def test_a_refused_row_is_parked_and_the_others_go(conn: Connection, tmp_path: Path) -> None:
    items = [stored(ANNA, DEVICES[ANNA], i) for i in range(3)]
    w = _world(conn, tmp_path, MemoryFhir(refuse={items[1].id}))
    fhir, exporter = w.fhir, w.exporter
    exporter.enqueue(items)
    await exporter.drain()
    assert {o["identifier"][-1]["value"] for o in fhir.observations()} == {items[0].id, items[2].id}
    parked = exporter.outbox.parked("hospital")
    assert [row.item.observation_id for row, _ in parked] == [items[1].id]
    assert "refused by the test" in parked[0][1]
    state = exporter.outbox.state("hospital")
    assert (state.queued, state.parked_rows, state.sent) == (0, 1, 2)
    assert "fhir_push_parked" in _actions(conn)


@pytest.mark.asyncio
async def test_a_revoked_consent_withholds_queued_rows(conn: Connection, tmp_path: Path) -> None:
    w = _world(conn, tmp_path)
    clock, consent, exporter, transport = w.clock, w.consent, w.exporter, w.transport
    exporter.enqueue([stored(ANNA, DEVICES[ANNA], i) for i in range(2)])
    clock.advance(seconds=1)
    Consents(conn, clock).revoke(consent, actor="cli:t")
    await exporter.drain()
    assert transport.requests == []
    state = exporter.outbox.state("hospital")
    assert (state.queued, state.withheld, state.sent) == (0, 2, 0)
    assert _actions(conn)[0] == "fhir_push_withheld"
    assert exporter.enqueue([stored(ANNA, DEVICES[ANNA], 5)]) == 0


def _figures(registry: CollectorRegistry) -> dict[str, float]:
    text = generate_latest(registry).decode()
    return {
        sample.name.removeprefix("hjem_fhir_push_"): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels == {"recipient": "hospital"}
    }


@pytest.mark.asyncio
async def test_metrics_tell_queue_failures_and_last_success(
    conn: Connection, tmp_path: Path
) -> None:
    w = _world(conn, tmp_path)
    clock, exporter, transport = w.clock, w.exporter, w.transport
    registry = CollectorRegistry()
    registry.register(PushCollector(exporter.outbox, ["hospital"]))
    exporter.enqueue([stored(ANNA, DEVICES[ANNA], i) for i in range(3)])
    transport.down = True
    await exporter.push_once(exporter.recipients[0])
    figures = _figures(registry)
    assert figures["queue"] == 3
    assert figures["failures_total"] == figures["failing"] == 1
    assert figures["last_success_timestamp_seconds"] == 0
    transport.down = False
    clock.advance(seconds=60)
    await exporter.drain()
    figures = _figures(registry)
    assert (figures["queue"], figures["sent_total"], figures["failing"]) == (0, 3, 0)
    assert figures["last_success_timestamp_seconds"] == clock().timestamp()


def test_a_missing_token_file_is_named(conn: Connection, tmp_path: Path) -> None:
    recipient = _recipient(tmp_path).model_copy(
        update={
            "auth": _recipient(tmp_path).auth.model_copy(update={"token_file": tmp_path / "nope"})
        }
    )
    with pytest.raises(PushAuthError, match=r"'hospital': auth.token_file .*nope"):
        PushExporter(conn, FhirPushSettings(recipients=(recipient,)), MemoryTransport(MemoryFhir()))


def test_settings_refuse_a_bad_recipient() -> None:
    with pytest.raises(ValueError, match="exactly one of token_file and token_env"):
        PushRecipient.model_validate(
            {
                "name": "x",
                "organisation": "o",
                "base_url": "http://127.0.0.1/f",
                "auth": {"kind": "bearer"},
            }
        )


@pytest.mark.asyncio
async def test_the_feed_queues_from_the_cursor_and_a_locked_database_loses_nothing(
    tmp_path: Path,
) -> None:
    """Rows come from the store's numbered feed: what was stored before the recipient was
    configured stays out, what came after is queued once (the cursor moves with the queue);
    a locked database stops a round, not the hub (the listener only wakes), and the next round
    takes what the locked one could not."""
    conn = open_db(tmp_path / "hub.sqlite3", busy_timeout_ms=50)
    setup_registry(Registry(conn))
    store = SqliteStore(conn)
    store.write([stored(ANNA, DEVICES[ANNA], 0)])  # before the exporter: not pushed
    clock = ManualClock(T0)
    _consent(conn, clock)
    settings = FhirPushSettings(recipients=(_recipient(tmp_path),))
    exporter = PushExporter(conn, settings, MemoryTransport(MemoryFhir()), store=store, clock=clock)
    [recipient] = exporter.recipients
    new = [stored(ANNA, DEVICES[ANNA], 1), stored(BENT, DEVICES[BENT], 1)]
    store.write(new)
    other = open_db(tmp_path / "hub.sqlite3")
    other.execute("BEGIN IMMEDIATE")
    try:
        await exporter.listener(StoredBatch(tuple(new), "http", T0))  # wakes, touches nothing
        with pytest.raises(StoreError, match="locked"):
            exporter.take_stored(recipient)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert exporter.take_stored(recipient) == 2
    assert exporter.take_stored(recipient) == 0
    assert [r.item.observation_id for r in exporter.outbox.due("hospital", 10)] == [new[0].id]
    assert exporter.outbox.state("hospital").cursor == store.last_stored()
    conn.close()


@pytest.mark.postgresql
@pytest.mark.asyncio
async def test_the_feed_of_a_postgresql_store(
    conn: Connection, tmp_path: Path, postgres_dsn: str
) -> None:
    """The feed from the PostgreSQL store, the cursor and the outbox in the hub database
    (either engine): the consented observations stored after the start go."""
    store = PostgresStore.open(PostgresSettings(dsn=SecretStr(postgres_dsn)))
    try:
        store.write([stored(ANNA, DEVICES[ANNA], 0)])  # before the exporter: not pushed
        clock = ManualClock(T0)
        _consent(conn, clock)
        fhir = MemoryFhir()
        settings = FhirPushSettings(recipients=(_recipient(tmp_path),))
        exporter = PushExporter(conn, settings, MemoryTransport(fhir), store=store, clock=clock)
        new = [stored(ANNA, DEVICES[ANNA], i) for i in (1, 2)] + [stored(BENT, DEVICES[BENT], 1)]
        store.write(new)
        await exporter.drain()
        sent = {o["identifier"][0]["value"] for o in fhir.observations()}
        assert sent == {new[0].id, new[1].id}
        assert exporter.outbox.state("hospital").cursor == store.last_stored()
    finally:
        store.close()


def test_a_store_that_numbers_nothing_is_refused_at_start(conn: Connection, tmp_path: Path) -> None:
    services = SimpleNamespace(
        settings=SimpleNamespace(fhir_push=FhirPushSettings(recipients=(_recipient(tmp_path),))),
        store=SimpleNamespace(kind="influxdb"),
        conn=conn,
        clock=ManualClock(T0),
    )
    with pytest.raises(PushStoreError, match=r"store 'influxdb' does not number"):
        build_push(cast("Services", services), lambda _: lambda: None, CollectorRegistry())
