"""Leadership: which hub node evaluates alert rules (exactly one at a time).

A :class:`Leadership` is an async context manager and an async iterator of changes: it yields
``True`` when this node has become the leader and ``False`` when it has lost leadership (then
it goes on trying). The alert service (:mod:`hub.alerts.service`) runs the engine's timer,
feed and notifiers only between the two.

* :class:`SingleNode` — one hub on its own (SQLite): leader at once, for ever.
* :class:`PostgresLeadership` — hub nodes sharing one PostgreSQL: the leader holds a
  session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own, opened
  for nothing else (a pooled connection could go back to the pool still holding the lock, or
  be reset under it). The others try every ``poll_s`` (1 s). The lock is the session's: when
  the leader's process dies, its connection closes and the server releases the lock at once;
  when the leader's machine or network goes away, the server's TCP keepalives (set on the
  session: 5 s idle, 2 s interval, 3 probes) end the session in about 11 s. The leader asks
  the server every ``poll_s`` whether it still holds the lock and steps down (yields
  ``False``) when it cannot tell — a leader cut off from the database cannot write an alert
  there either, so two nodes never both commit evaluations.

:meth:`PostgresLeadership.leader` names the node that holds the lock (its
``application_name``), for the status page of every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING

import psycopg

from foundation.waiting import wait_for

if TYPE_CHECKING:
    from hub.config import HubSettings

__all__ = ["ALERTS_LOCK", "Leadership", "PostgresLeadership", "SingleNode", "leadership_for"]

log = logging.getLogger(__name__)

ALERTS_LOCK = 0x68_6A_65_6D_61_6C_72_74
"""The advisory lock key of alert evaluation ("hjemalrt")."""
_APP_PREFIX = "hjem-leader:"
_KEEPALIVES = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"


class Leadership(ABC):
    """See the module doc. Use ``async with``, then ``async for leading in ...``."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.leading = False
        self.current: str | None = None
        """The node that leads, as last seen (None: none, or it cannot be told)."""

    async def __aenter__(self) -> Leadership:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.leading, self.current = False, None
        await self._close()

    async def _close(self) -> None:  # noqa: B027 - optional hook
        """Give leadership up (leaving the context)."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bool]:
        """``True``: this node leads now; ``False``: it no longer does."""

    @abstractmethod
    async def leader(self) -> str | None:
        """The node that leads now (None: none, or it cannot be told)."""


class SingleNode(Leadership):
    """The only node: it leads from the start until it stops."""

    def __init__(self, node: str = "hub") -> None:
        super().__init__(node)

    async def __aiter__(self) -> AsyncIterator[bool]:
        self.leading, self.current = True, self.node
        yield True
        await asyncio.Event().wait()  # for ever (until cancelled)

    async def leader(self) -> str | None:
        return self.node if self.leading else None


class PostgresLeadership(Leadership):
    """The advisory-lock leadership of hub nodes on one PostgreSQL (see the module doc)."""

    def __init__(self, dsn: str, node: str, *, key: int = ALERTS_LOCK, poll_s: float = 1.0) -> None:
        super().__init__(node)
        self._dsn = dsn
        self.key = key
        self.poll_s = poll_s
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self.twins = 0
        """Other sessions contending under this node's name when it last connected."""

    async def _close(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        """Close the lock's connection (the server releases the lock with the session)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await conn.close()

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._dsn,
                autocommit=True,
                connect_timeout=max(1, round(self.poll_s * 5)),
                application_name=f"{_APP_PREFIX}{self.node}"[:63],
                options=_KEEPALIVES,
            )
            await self._check_twin(self._conn)
        return self._conn

    async def _check_twin(self, conn: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        """Log an error when another session contends under this node's name: two hub nodes
        with one ``mqtt.client_id`` (a copied configuration) take each other's MQTT session
        and cannot be told apart here. (A node restarted at once after it was killed can
        meet its old session for a moment, until the server notices it is gone.)"""
        cur = await conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name ="
            " current_setting('application_name') AND pid <> pg_backend_pid()"
        )
        row = await cur.fetchone()
        self.twins = int(str(row[0])) if row else 0
        if self.twins:
            log.error(
                "leadership: another hub node contends as %r on this database: give each node"
                " its own mqtt.client_id",
                self.node,
            )

    async def _try(self) -> bool:
        """Take the lock, or (as the leader) make sure it is still held."""
        conn = await self._connection()
        if self.leading:
            sql = (
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                " AND pid = pg_backend_pid() AND granted"
                " AND classid = (%s >> 32)::oid AND objid = (%s & 4294967295)::oid"
                " AND objsubid = 1)"
            )
            cur = await conn.execute(sql, (self.key, self.key))
        else:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
        row = await cur.fetchone()
        held = bool(row and row[0])
        self.current = self.node if held else await _holder(conn, self.key)
        return held

    async def __aiter__(self) -> AsyncIterator[bool]:
        while True:
            try:
                held = await wait_for(self._try(), max(self.poll_s * 5, 2.0))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("leadership: the database cannot be asked (%s)", exc)
                await self._drop()  # a new session next time; the old one's lock goes with it
                held, self.current = False, None
            if held != self.leading:
                self.leading = held
                log.warning(
                    "leadership: node %s %s alert evaluation",
                    self.node,
                    "leads" if held else "no longer leads",
                )
                yield held
            await asyncio.sleep(self.poll_s)

    async def leader(self) -> str | None:
        """The node holding the lock now, asked on a connection of its own."""
        try:
            async with await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=5
            ) as conn:
                return await _holder(conn, self.key)
        except (psycopg.Error, OSError):
            return None


async def _holder(conn: psycopg.AsyncConnection[tuple[object, ...]], key: int) -> str | None:
    """The ``application_name`` of the session holding ``key``, without its prefix."""
    cur = await conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = (%s >> 32)::oid"
        " AND l.objid = (%s & 4294967295)::oid AND l.objsubid = 1",
        (key, key),
    )
    row = await cur.fetchone()
    return None if row is None else str(row[0]).removeprefix(_APP_PREFIX)


def leadership_for(settings: HubSettings) -> Leadership | None:
    """The hub's leadership: among the nodes of one PostgreSQL (``store.kind =
    "postgresql"``), each named by its MQTT client id; None for a hub on its own."""
    if settings.store.kind != "postgresql":
        return None
    dsn = settings.store.postgresql.dsn.get_secret_value()
    return PostgresLeadership(dsn, settings.mqtt.client_id)
