"""Live alert changes from every hub node: PostgreSQL ``LISTEN``/``NOTIFY``.

Hub nodes sharing one PostgreSQL each serve dashboards, but an alert changes on one node
only: the leader evaluates rules and escalates, any node takes a user's acknowledgement.
Every change is written by :meth:`hub.alerts.store.AlertStore.record`, which on PostgreSQL
also sends ``NOTIFY hjem_alert, '<alert id> <sequence>'`` in the same transaction: the
server delivers it when (and only if) the change commits, to every listening session.

:class:`AlertRelay` is each node's listener: a connection of its own (``LISTEN`` cannot
share the hub's connection, which is busy with statements; a pooled one could be reset),
with the server's TCP keepalives. For each notification it reads the change — the audit
entry ``(alert id, sequence)`` and its alert row — on the hub's connection and hands it to
the node's :class:`~hub.alerts.notify.Broadcaster`, which passes each ``(alert id,
sequence)`` on once (the node's own changes reach it directly as well, at once). Severity,
summary and escalation level are the alert's as the relay reads it (a later change of the
same alert follows with its own notification).

A lost connection is opened again (backoff 0.5 s to 10 s); on reconnecting, the changes
committed meanwhile are read from the audit log (by its numbering, with a margin for
numbers committed out of order; at most the newest 1,000) and passed on, so a stream misses
none. SQLite (one node)
needs none of this: the engine's listener feeds the broadcaster in the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from hub.alerts.errors import STORE_ERRORS
from hub.alerts.notify import Broadcaster
from hub.db import Connection, from_micros
from schemas.models import AlertEvent, AlertState, Severity

__all__ = ["CHANNEL", "AlertRelay"]

log = logging.getLogger(__name__)

CHANNEL = "hjem_alert"
"""The notification channel of alert changes."""
CATCH_UP_MARGIN = 64
"""Audit numbers read again after a reconnection (a number can commit after a higher one)."""
CATCH_UP_MOST = 1000
"""At most this many of the newest changes are read after a reconnection (a live
subscriber that falls this far behind is disconnected anyway and reloads)."""
_KEEPALIVES = "-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
_SELECT = (
    "SELECT u.seq, u.alert_id, u.sequence, u.time_us, u.actor, u.from_state, u.to_state,"
    " u.note, a.rule, a.resident, a.home, a.organisation, a.severity, a.summary,"
    " a.escalation_level FROM alert_audit u JOIN alert a ON a.id = u.alert_id"
)


class AlertRelay:
    """Pass every node's committed alert changes to this node's live subscribers."""

    def __init__(
        self, dsn: str, conn: Connection, broadcaster: Broadcaster, *, node: str = "hub"
    ) -> None:
        self._dsn = dsn
        self._conn = conn
        self._broadcaster = broadcaster
        self._node = node
        self._last: int | None = None
        """The highest audit number passed on (None: not listening yet)."""
        self.listening = asyncio.Event()
        """Set while the relay's ``LISTEN`` is in force (for the status and tests)."""
        self.relayed = 0
        """Changes of other nodes this relay passed on (its own node's arrive directly)."""

    async def run(self) -> None:
        """Listen until cancelled, reconnecting whenever the connection is lost."""
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn,
                    autocommit=True,
                    connect_timeout=5,
                    application_name=f"hjem-live:{self._node}"[:63],
                    options=_KEEPALIVES,
                ) as listener:
                    await listener.execute(f"LISTEN {CHANNEL}")
                    self._catch_up()
                    self.listening.set()
                    delay = 0.5
                    async for note in listener.notifies():
                        self._on_notify(note.payload)
            except (psycopg.Error, OSError) as exc:
                log.warning("live alerts: listener connection lost (%s); reconnecting", exc)
            finally:
                self.listening.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _catch_up(self) -> None:
        """At the first start: note where the audit log is. After a reconnection: pass on
        what was committed while the relay was not listening."""
        with contextlib.suppress(*STORE_ERRORS):
            if self._last is None:
                row = self._conn.execute("SELECT MAX(seq) FROM alert_audit").fetchone()
                self._last = int(row[0]) if row and row[0] is not None else 0
                return
            self._pass_on(
                f"SELECT * FROM ({_SELECT} WHERE u.seq > ? ORDER BY u.seq DESC LIMIT ?) AS c"  # noqa: S608
                " ORDER BY seq",
                (self._last - CATCH_UP_MARGIN, CATCH_UP_MOST),
            )

    def _on_notify(self, payload: str) -> None:
        alert_id, _, sequence = payload.partition(" ")
        if not sequence.isdigit():
            log.warning("live alerts: a notification %r that names no change", payload[:80])
            return
        if self._broadcaster.seen(alert_id, int(sequence)):
            return  # this node's own change, already streamed
        try:
            self._pass_on(
                _SELECT + " WHERE u.alert_id = ? AND u.sequence = ?", (alert_id, int(sequence))
            )
        except STORE_ERRORS as exc:  # the stream misses it; the board's refresh still shows it
            log.warning("live alerts: change %s not read (%s)", payload[:80], exc)

    def _pass_on(self, sql: str, params: tuple[Any, ...]) -> None:
        for row in self._conn.execute(sql, params).fetchall():
            event, organisation = _event(row)
            self._last = max(self._last or 0, int(row[0]))
            if self._broadcaster.publish(event, organisation):
                self.relayed += 1


def _event(row: tuple[Any, ...]) -> tuple[AlertEvent, str | None]:
    _seq, alert_id, sequence, time_us, actor, from_state, to_state, note = row[:8]
    rule, resident, home, organisation, severity, summary, level = row[8:]
    event = AlertEvent(
        alert_id=alert_id,
        sequence=int(sequence),
        rule=rule,
        resident=resident,
        home=home,
        state=AlertState(to_state),
        previous_state=AlertState(from_state) if from_state else None,
        severity=Severity(severity),
        time=from_micros(int(time_us)),
        actor=actor,
        note=note,
        summary=summary,
        escalation_level=int(level),
    )
    return event, organisation
