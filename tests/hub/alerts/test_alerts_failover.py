"""Two alert services (two hub nodes) on one real PostgreSQL: exactly one evaluates; when the
leader loses its lock connection the other takes over, resumes the feed where the leader
stopped, fires the pending threshold once and escalates on time (manual clock)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import psycopg
import pytest
from pydantic import SecretStr

from foundation.clock import ManualClock
from hub.alerts.config import parse_rules
from hub.alerts.durable import DurableEngine, EngineState
from hub.alerts.feed import AlertFeed, GatewayFeed
from hub.alerts.inputs import ObservationInput
from hub.alerts.live import AlertRelay
from hub.alerts.service import AlertService
from hub.alerts.settings import AlertSettings
from hub.alerts.store import AlertStore
from hub.alerts.wiring import Directory
from hub.config import PostgresSettings
from hub.leadership import PostgresLeadership
from hub.registry.core import Registry
from hub.registry.gateways import Gateways
from hub.registry.read_model import ReadModel
from hub.store.base import StoredObservation
from hub.store.postgresql import PostgresStore
from hub.store.postgresql_conn import PgConnection
from tests.hub.alerts.test_alerts_lifecycle import RULES
from tests.support.alerts import T0, item, obs

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql]

DEADLINE_S = 30.0


def _inputs(stored: Sequence[StoredObservation]) -> list[ObservationInput]:
    return [ObservationInput(s.reading, s.resident_id, "h-1", "org-a") for s in stored]


@dataclass
class HubNode:
    name: str
    conn: PgConnection
    store: PostgresStore
    service: AlertService
    feed: AlertFeed
    gateways: Gateways
    gateway_feed: GatewayFeed

    @property
    def leading(self) -> bool:
        return self.service.leading


@asynccontextmanager
async def _node(
    dsn: str, name: str, clock: ManualClock, *, live: bool = False, rules: str = RULES
) -> AsyncIterator[HubNode]:
    """A hub node's alert service (gateway changes journalled and read as the hub does);
    ``live``: with its relay of every node's changes."""
    settings = PostgresSettings(dsn=SecretStr(dsn))
    conn = PgConnection(settings)
    store = PostgresStore.open(settings)
    try:
        engine = DurableEngine(parse_rules(rules), AlertStore(conn), clock, EngineState(conn))
        feed = engine.feed = AlertFeed(engine, store, _inputs)
        feed.start()  # as the hub opens it (hub/alerts/wiring.py): before anything is stored
        gateways = Gateways(conn, journal=True)
        Registry(conn)  # its tables, which the read model reads
        directory = Directory(ReadModel(conn))
        gateway_feed = engine.gateway_feed = GatewayFeed(engine, gateways, directory.change)
        leadership = PostgresLeadership(dsn, name, poll_s=0.2)
        service = AlertService(
            engine, AlertSettings(mqtt=False, tick_seconds=0.1), leadership=leadership
        )
        if live:
            service.relay = AlertRelay(dsn, conn, service.broadcaster, node=name)
        async with service:
            yield HubNode(name, conn, store, service, feed, gateways, gateway_feed)
    finally:
        store.close()
        conn.close()


async def _until(predicate: Callable[[], bool], what: str) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < DEADLINE_S, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def _currents(*nodes: HubNode) -> tuple[str | None, ...]:
    return tuple(
        n.service.leadership.current if n.service.leadership is not None else None for n in nodes
    )


def _actions(conn: PgConnection) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT a.rule, u.action FROM alert_audit u JOIN alert a ON a.id = u.alert_id"
        " ORDER BY u.seq"
    ).fetchall()
    return [(str(r), str(a)) for r, a in rows]


def _store(node: HubNode, *items: ObservationInput) -> None:
    node.store.write([StoredObservation(i.observation, "gw-1", i.resident, T0) for i in items])


async def test_the_other_node_takes_over_and_resumes_where_the_leader_stopped(
    postgres_dsn: str,
) -> None:
    clock = ManualClock(T0)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(_node(postgres_dsn, "hub-a", clock))
        b = await stack.enter_async_context(_node(postgres_dsn, "hub-b", clock))
        await _until(lambda: a.leading or b.leading, "a leader")
        leader, other = (a, b) if a.leading else (b, a)
        assert not other.leading
        fall = item(obs("fall", at=T0, device="w-1", value_code="fall"))
        _store(other, fall, item(obs("spo2", "90", at=T0)))  # stored by the follower
        await _until(lambda: _actions(a.conn) == [("fall", "fire")], "the leader to evaluate")
        assert other.feed.evaluated == 0
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as pg:
            await pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"hjem-leader:{leader.name}",),
            )
        took = await _until(lambda: other.leading and not leader.leading, "the takeover")
        print(f"takeover: {took:.2f} s")
        names = (other.name, other.name)  # the status of either node names the leader
        await _until(lambda: _currents(a, b) == names, "both nodes to name the new leader")
        _store(leader, item(obs("spo2", "89", at=T0)))  # stored by the old leader
        clock.advance(120)  # the pending threshold's time is up
        await _until(lambda: ("spo2-low", "fire") in _actions(a.conn), "the pending alert")
        clock.advance(60)  # the fall alert's acknowledgement deadline (180 s)
        await _until(lambda: ("fall", "escalate") in _actions(a.conn), "the escalation")
        await asyncio.sleep(0.5)  # several more ticks: nothing more
        assert _actions(a.conn) == [("fall", "fire"), ("spo2-low", "fire"), ("fall", "escalate")]
        assert leader.feed.evaluated + other.feed.evaluated == 3
        assert other.feed.position() == a.store.last_stored()
