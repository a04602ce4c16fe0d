"""Leadership of alert evaluation: one node on its own, and hub nodes contending for the
PostgreSQL advisory lock on the suite's real server (two contenders; the leader's connection
killed or closed; the other takes over)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest

from hub.leadership import PostgresLeadership, SingleNode

pytestmark = [pytest.mark.asyncio, pytest.mark.postgresql]

POLL_S = 0.2
TAKEOVER_S = 20.0
"""Generous: the other node polls every POLL_S."""


class Contender:
    """A node following its leadership's changes in a task."""

    def __init__(self, leadership: PostgresLeadership) -> None:
        self.leadership = leadership
        self.changes: list[bool] = []
        self.task: asyncio.Task[None] | None = None

    async def _follow(self) -> None:
        async with self.leadership:
            async for leading in self.leadership:
                self.changes.append(leading)

    def start(self) -> Contender:
        self.task = asyncio.create_task(self._follow(), name=f"lead-{self.leadership.node}")
        return self

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


@contextlib.asynccontextmanager
async def _contenders(dsn: str, *names: str) -> AsyncIterator[list[Contender]]:
    nodes = [Contender(PostgresLeadership(dsn, name, poll_s=POLL_S)).start() for name in names]
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.stop()


async def _until(predicate: Callable[[], bool], what: str, timeout: float = TAKEOVER_S) -> float:
    """Wait for ``predicate``; the seconds it took."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def _leaders(nodes: list[Contender]) -> list[str]:
    return [n.leadership.node for n in nodes if n.leadership.leading]


async def test_a_single_node_leads_at_once() -> None:
    single = SingleNode("hub-a")
    async with single:
        changes = aiter(single)
        assert await anext(changes) is True
        assert await single.leader() == "hub-a"


async def test_one_of_two_leads_and_the_other_takes_over_when_its_connection_is_killed(
    postgres_dsn: str,
) -> None:
    async with _contenders(postgres_dsn, "hub-a", "hub-b") as nodes:
        await _until(lambda: len(_leaders(nodes)) == 1, "one leader")
        await asyncio.sleep(POLL_S * 5)  # several polls later: still one
        [first] = _leaders(nodes)
        assert await nodes[0].leadership.leader() == first
        leader = next(n for n in nodes if n.leadership.node == first)
        other = next(n for n in nodes if n is not leader)
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"hjem-leader:{first}",),
            )
        took = await _until(lambda: other.leadership.leading, "the other node to take over")
        print(f"takeover after the leader's connection was killed: {took:.2f} s")
        await _until(lambda: leader.changes[-1:] == [False], "the old leader to step down")
        await asyncio.sleep(POLL_S * 5)  # the old leader contends again, and follows
        assert _leaders(nodes) == [other.leadership.node]
        assert leader.changes == [True, False]
        assert other.changes == [True]
        assert await leader.leadership.leader() == other.leadership.node


async def test_a_leader_that_stops_hands_over(postgres_dsn: str) -> None:
    async with _contenders(postgres_dsn, "hub-a", "hub-b") as nodes:
        await _until(lambda: len(_leaders(nodes)) == 1, "one leader")
        [first] = _leaders(nodes)
        leader = next(n for n in nodes if n.leadership.node == first)
        await leader.stop()  # leaves its context: the lock's connection is closed
        assert not leader.leadership.leading
        await _until(lambda: _leaders(nodes) != [], "the other node to take over")
        assert _leaders(nodes) == [n.leadership.node for n in nodes if n is not leader]


async def test_two_nodes_with_one_name_are_reported(
    postgres_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A copied configuration (one mqtt.client_id on two nodes) is named in the log."""
    async with _contenders(postgres_dsn, "hub-a") as first:
        await _until(lambda: _leaders(first) == ["hub-a"], "hub-a to lead")
        assert first[0].leadership.twins == 0
        async with _contenders(postgres_dsn, "hub-a") as second:
            await _until(lambda: second[0].leadership.twins == 1, "the twin to be seen")
    assert "another hub node contends as 'hub-a'" in caplog.text
    assert "its own mqtt.client_id" in caplog.text
