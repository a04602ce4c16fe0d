"""Counts over the alert tables for the hub's status and metrics (``alert``, ``alert_audit``,
``alert_outbox`` belong to the alert component; ``hub.status`` (status, metrics) asks here).

Each function raises :class:`sqlite3.OperationalError` when the alert tables do not exist
(a hub without alerts); the callers decide what that means.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.db import Connection, to_micros

__all__ = [
    "ChannelFigures",
    "OutboxSummary",
    "escalations_after",
    "open_alert_counts",
    "outbox_by_channel",
    "outbox_summary",
]

_OUTBOX_SQL = (
    "SELECT COUNT(*), COUNT(*) FILTER (WHERE next_attempt_us < ?),"
    " COUNT(*) FILTER (WHERE attempts > 0)"
    " FROM alert_outbox WHERE delivered_us IS NULL AND failed = 0"
)
_GAVE_UP_SQL = (
    "SELECT COUNT(*) FROM alert_outbox o JOIN alert a ON a.id = o.alert_id"
    " WHERE o.failed = 1 AND a.is_open = 1"
)
_BY_CHANNEL_SQL = (
    "SELECT channel, SUM(attempts) - COUNT(delivered_us),"
    " COUNT(*) FILTER (WHERE delivered_us IS NULL AND failed = 0),"
    " COUNT(*) FILTER (WHERE failed = 1)"
    " FROM alert_outbox GROUP BY channel"
)


@dataclass(frozen=True, slots=True)
class OutboxSummary:
    pending: int
    """Notifications not yet delivered nor given up."""
    overdue: int
    """Pending ones whose next attempt is before the given moment."""
    failing: int
    """Pending ones that failed at least once, plus given-up ones of open alerts."""


@dataclass(frozen=True, slots=True)
class ChannelFigures:
    channel: str
    failed_attempts: int
    pending: int
    given_up: int


def open_alert_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Open alerts by (state, severity)."""
    rows = conn.execute(
        "SELECT state, severity, COUNT(*) FROM alert WHERE is_open = 1 GROUP BY state, severity"
    )
    return {(str(s), str(v)): int(n) for s, v, n in rows}


def escalations_after(conn: Connection, seq: int) -> tuple[int | None, int]:
    """The last audit sequence number after ``seq`` (None: no new entry) and the number of
    escalations among the entries after ``seq`` (the audit log is append-only)."""
    last, new = conn.execute(
        "SELECT MAX(seq), COUNT(*) FILTER (WHERE action = 'escalate') FROM alert_audit"
        " WHERE seq > ?",
        (seq,),
    ).fetchone()
    return (int(last) if last is not None else None), int(new or 0)


def outbox_by_channel(conn: Connection) -> list[ChannelFigures]:
    return [
        ChannelFigures(str(channel), int(failed or 0), int(pending or 0), int(given_up or 0))
        for channel, failed, pending, given_up in conn.execute(_BY_CHANNEL_SQL)
    ]


def outbox_summary(conn: Connection, overdue_before: datetime) -> OutboxSummary:
    pending, overdue, retrying = conn.execute(_OUTBOX_SQL, (to_micros(overdue_before),)).fetchone()
    gave_up = int(conn.execute(_GAVE_UP_SQL).fetchone()[0])
    return OutboxSummary(int(pending), int(overdue), int(retrying) + gave_up)
