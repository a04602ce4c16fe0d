"""Gateway changes seen by a hub node that does not lead reach the leader's rules.

Two alert services (two hub nodes) on one real PostgreSQL, the hub's gateway table
journalling its changes: the follower records a gateway's death (its Last Will) and later its
heartbeat, as the follower's ingest does when the broker hands it those status messages; the
leader raises the gateway-offline alert after the grace and clears it when the gateway is
back — each once, the journal empty afterwards. A change recorded while the leader is being
replaced is evaluated by the new leader."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import datetime

import pytest

from foundation.clock import ManualClock
from hub.db import transaction
from schemas.models import GatewayStatus, StatusKind
from tests.hub.alerts.test_alerts_failover import HubNode, _actions, _node, _until
from tests.hub.alerts.test_alerts_live_nodes import _terminate
from tests.support.alerts import T0

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql]

RULES = """
[[rule]]
id = "gateway-offline"
kind = "gateway_offline"
heartbeat_timeout_seconds = 180
grace_seconds = 60
"""


def _status(node: HubNode, kind: StatusKind, at: datetime) -> None:
    """The node's ingest records a status message of gw-1 (in its own transaction)."""
    status = GatewayStatus(
        publisher="gw-1", kind=kind, online=kind is not StatusKind.DEATH, time=at
    )
    with transaction(node.conn):
        assert node.gateways.record(status, at) is not None  # a change of online


def _pending(node: HubNode) -> int:
    return len(node.gateways.pending())


async def test_a_followers_gateway_changes_are_evaluated_by_the_leader(postgres_dsn: str) -> None:
    clock = ManualClock(T0)
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(_node(postgres_dsn, "hub-a", clock, rules=RULES))
        b = await stack.enter_async_context(_node(postgres_dsn, "hub-b", clock, rules=RULES))
        await _until(lambda: a.leading or b.leading, "a leader")
        leader, follower = (a, b) if a.leading else (b, a)
        _status(follower, StatusKind.BIRTH, clock())
        _status(follower, StatusKind.DEATH, clock())
        await _until(lambda: _pending(a) == 0, "the leader to evaluate both changes")
        clock.advance(60)  # the grace is over
        await _until(lambda: _actions(a.conn) == [("gateway-offline", "fire")], "the alert")
        _status(follower, StatusKind.HEARTBEAT, clock())
        back = [("gateway-offline", "fire"), ("gateway-offline", "clear")]
        await _until(lambda: _actions(a.conn) == back, "the alert to clear")
        evaluated = {n.name: n.gateway_feed.evaluated for n in (a, b)}
        assert evaluated == {leader.name: 3, follower.name: 0}

        await _terminate(postgres_dsn, f"hjem-leader:{leader.name}")  # the leader steps down
        await _until(lambda: not leader.leading, "the leader to notice")
        _status(follower, StatusKind.DEATH, clock())  # while a leader is being chosen
        await _until(lambda: a.leading or b.leading, "a new leader")
        await _until(lambda: _pending(a) == 0, "the new leader to evaluate the death")
        clock.advance(60)
        again = [*back, ("gateway-offline", "refire")]
        await _until(lambda: _actions(a.conn) == again, "the alert to fire again")
