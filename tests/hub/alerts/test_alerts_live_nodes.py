"""Live alert changes reach every hub node's stream (PostgreSQL LISTEN/NOTIFY), each once.

Two alert services (two hub nodes) on one real PostgreSQL, each with its relay: a subscriber
of the follower's broadcaster hears the alert the leader raised, the acknowledgement made on
the leader — each change once, though the node that made it also hears its own
notification. A change the leader commits while the follower's listening connection is gone
reaches the follower after it reconnects (read from the audit log)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack

import psycopg
import pytest

from foundation.clock import ManualClock
from hub.alerts.notify import LiveEvent
from tests.hub.alerts.test_alerts_failover import HubNode, _node, _store, _until
from tests.support.alerts import T0, item, obs

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql]


class Heard:
    """What a node's live stream passed on, collected by a task."""

    def __init__(self, node: HubNode) -> None:
        self.events: list[LiveEvent] = []
        self.node = node

    async def collect(self, ready: asyncio.Event) -> None:
        async with self.node.service.broadcaster.subscribe() as subscription:
            ready.set()
            async for live in subscription:
                self.events.append(live)

    def actions(self) -> list[tuple[str, int, str]]:
        return [(e.event.rule, e.event.sequence, e.event.state.name.lower()) for e in self.events]


async def _listening(*nodes: HubNode) -> None:
    for node in nodes:
        relay = node.service.relay
        assert relay is not None
        await asyncio.wait_for(relay.listening.wait(), 30)


async def _heard(heard: Heard, predicate: Callable[[list[tuple[str, int, str]]], bool]) -> None:
    await _until(lambda: predicate(heard.actions()), f"{heard.node.name}'s stream")


async def _terminate(dsn: str, application: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as pg:
        await pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        )


async def test_every_node_streams_every_nodes_changes_once(postgres_dsn: str) -> None:
    clock = ManualClock(T0)
    async with AsyncExitStack() as stack, asyncio.TaskGroup() as tg:
        a = await stack.enter_async_context(_node(postgres_dsn, "hub-a", clock, live=True))
        b = await stack.enter_async_context(_node(postgres_dsn, "hub-b", clock, live=True))
        await _until(lambda: a.leading or b.leading, "a leader")
        leader, follower = (a, b) if a.leading else (b, a)
        await _listening(a, b)
        heard = {n.name: Heard(n) for n in (a, b)}
        for h in heard.values():
            ready = asyncio.Event()
            tg.create_task(h.collect(ready))
            await ready.wait()
        _store(follower, item(obs("fall", at=T0, device="w-1", value_code="fall")))
        fired = [("fall", 0, "active_unack")]
        await _heard(heard[follower.name], lambda got: got == fired)
        [event] = [e.event for e in heard[follower.name].events]
        assert (event.resident, heard[follower.name].events[0].organisation) == ("r-1", "org-a")
        leader.service.engine.acknowledge(event.alert_id, "nurse", "on my way")
        acked = [*fired, ("fall", 1, "active_ack")]
        await _heard(heard[follower.name], lambda got: got == acked)
        ack = heard[follower.name].events[1].event
        assert (ack.actor, ack.note) == ("nurse", "on my way")

        await _terminate(postgres_dsn, f"hjem-live:{follower.name}")
        leader.service.engine.resolve(event.alert_id, "nurse", "false alarm")  # while it is gone
        resolved = [*acked, ("fall", 2, "cleared_ack")]
        for h in heard.values():
            await _heard(h, lambda got: got == resolved)
        await _listening(follower)
        await asyncio.sleep(0.5)  # the notifications in flight arrive: still each once
        assert [h.actions() for h in heard.values()] == [resolved, resolved]
        relayed = {n.name: n.service.relay.relayed for n in (a, b) if n.service.relay}
        assert relayed[follower.name] >= 1  # the fire and the ack came from the database
        for node in (a, b):
            node.service.broadcaster.close()
