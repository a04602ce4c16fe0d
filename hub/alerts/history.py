"""Read views over the alert audit log (the alert component's tables), by organisation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.db import Connection, Orgs, from_micros, org_filter

__all__ = [
    "AlertAuditRow",
    "Resolution",
    "alert_audit",
    "resolutions",
]


@dataclass(frozen=True, slots=True)
class AlertAuditRow:
    alert_id: str
    summary: str
    resident: str | None
    time: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str | None


def alert_audit(
    conn: Connection,
    organisations: Orgs,
    *,
    actor: str | None = None,
    limit: int = 300,
) -> list[AlertAuditRow]:
    """The alert audit log across the visible organisations, newest first."""
    where, params = org_filter("a.organisation", organisations)
    if actor:
        where += " AND x.actor = ?"
        params.append(actor)
    rows = conn.execute(
        "SELECT x.alert_id, a.summary, a.resident, x.time_us, x.actor, x.action, x.from_state,"  # noqa: S608 - placeholders only
        " x.to_state, x.note FROM alert_audit x JOIN alert a ON a.id = x.alert_id"
        f" WHERE {where} ORDER BY x.seq DESC LIMIT ?",
        [*params, limit],
    )
    return [
        AlertAuditRow(aid, s, r, from_micros(t), act, action, f, to, n)
        for aid, s, r, t, act, action, f, to, n in rows
    ]


@dataclass(frozen=True, slots=True)
class Resolution:
    actor: str
    note: str | None
    time: datetime


def resolutions(conn: Connection, alert_ids: Iterable[str]) -> dict[str, Resolution]:
    """Who closed each alert, when and with which note (the last closing audit entry)."""
    wanted = sorted(set(alert_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT alert_id, actor, note, time_us FROM alert_audit"  # noqa: S608 - placeholders only
        f" WHERE to_state = 'CLEARED_ACK' AND alert_id IN ({','.join('?' * len(wanted))})"
        " ORDER BY seq",
        wanted,
    )
    return {str(a): Resolution(str(actor), note, from_micros(t)) for a, actor, note, t in rows}
