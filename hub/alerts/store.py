"""Alert persistence in the hub database (SQLite or PostgreSQL): alerts, the append-only
audit log, the notification outbox and silences.

A state change is one transaction: the alert row, its audit entry and one outbox row per
notification channel are written together, so after a restart nothing is lost and nothing
is notified twice by the hub (a receiver may still see a delivery again if the hub stopped
between sending and recording it; events carry ``(alert_id, sequence)`` for deduplication).
The audit table refuses UPDATE and DELETE in the database itself: SQLite triggers; on
PostgreSQL a trigger refusing UPDATE, DELETE and TRUNCATE, and those privileges revoked
from the role that owns the tables (the hub's), see :func:`hub.db.append_only`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.alerts import silences
from hub.alerts.errors import AlertNotFoundError, StorageError
from hub.alerts.silences import Silence, SilenceAuditEntry
from hub.db import (
    Connection,
    Dialects,
    append_only,
    dialect,
    from_micros,
    migrate,
    to_micros,
    transaction,
)
from hub.registry.ownership import organisation_of_resident
from schemas.models import AlertEvent, AlertState, Severity, encode

__all__ = ["AlertRow", "AlertStore", "AuditEntry", "OutboxItem", "Silence", "SilenceAuditEntry"]

MIGRATIONS: list[str | Dialects] = [
    (
        "CREATE TABLE alert (id TEXT PRIMARY KEY, rule TEXT NOT NULL, subject TEXT NOT NULL,"
        " resident TEXT, home TEXT, organisation TEXT, state TEXT NOT NULL,"
        " severity TEXT NOT NULL, summary TEXT NOT NULL, assignee TEXT,"
        " sequence INTEGER NOT NULL, is_open INTEGER NOT NULL, opened_us INTEGER NOT NULL,"
        " updated_us INTEGER NOT NULL, escalation_level INTEGER NOT NULL DEFAULT 0,"
        " next_notify_us INTEGER)"
    ),
    "CREATE UNIQUE INDEX alert_one_open ON alert (rule, subject) WHERE is_open = 1",
    "CREATE INDEX alert_by_org ON alert (organisation, state, updated_us)",
    (
        "CREATE TABLE alert_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " alert_id TEXT NOT NULL REFERENCES alert(id), sequence INTEGER NOT NULL,"
        " time_us INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
        " from_state TEXT, to_state TEXT NOT NULL, note TEXT, detail TEXT NOT NULL,"
        " UNIQUE (alert_id, sequence))"
    ),
    *append_only("alert_audit"),
    (
        "CREATE TABLE alert_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " channel TEXT NOT NULL, alert_id TEXT NOT NULL, sequence INTEGER NOT NULL,"
        " payload BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
        " next_attempt_us INTEGER NOT NULL, delivered_us INTEGER, failed INTEGER NOT NULL"
        " DEFAULT 0, last_error TEXT, UNIQUE (channel, alert_id, sequence))"
    ),
    (
        "CREATE INDEX alert_outbox_due ON alert_outbox (channel, next_attempt_us)"
        " WHERE delivered_us IS NULL AND failed = 0"
    ),
    (
        "CREATE TABLE alert_silence (id TEXT PRIMARY KEY, rule TEXT, resident TEXT,"
        " subject TEXT, starts_us INTEGER NOT NULL, ends_us INTEGER NOT NULL,"
        " reason TEXT NOT NULL, created_by TEXT NOT NULL, created_us INTEGER NOT NULL,"
        " CHECK (ends_us > starts_us))"
    ),
    "ALTER TABLE alert_outbox ADD COLUMN assignee TEXT",
    *silences.MIGRATIONS,
]

TRIGGER_MIGRATIONS = [
    "ALTER TABLE alert ADD COLUMN trigger_value REAL",
    "ALTER TABLE alert ADD COLUMN trigger_unit TEXT",
    "ALTER TABLE alert ADD COLUMN trigger_us INTEGER",
    "ALTER TABLE alert ADD COLUMN trigger_detail TEXT",
]
"""Component ``alert_trigger``: the reading that opened an alert (kept apart from
:data:`MIGRATIONS` so that the two lists can grow independently)."""

# Constant column list; every value goes through "?" parameters.
_COLUMNS = (
    "id, rule, subject, resident, home, organisation, state, severity, summary, assignee,"
    " sequence, is_open, opened_us, updated_us, escalation_level, next_notify_us,"
    " trigger_value, trigger_unit, trigger_us, trigger_detail"
)

_UPSERT = (
    f"INSERT INTO alert ({_COLUMNS}) VALUES ({','.join('?' * 20)}) ON CONFLICT (id) DO UPDATE SET"  # noqa: S608
    + ", ".join(
        f" {c.strip()} = excluded.{c.strip()}" for c in _COLUMNS.split(",") if c.strip() != "id"
    )
)


@dataclass(slots=True)
class AlertRow:
    id: str
    rule: str
    subject: str
    resident: str | None
    home: str | None
    organisation: str | None
    state: AlertState
    severity: Severity
    summary: str
    assignee: str | None
    sequence: int
    opened: datetime
    updated: datetime
    escalation_level: int = 0
    next_notify: datetime | None = None
    trigger_value: float | None = None
    """The reading that opened (or last re-opened or raised) the alert, in ``trigger_unit``."""
    trigger_unit: str | None = None
    trigger_time: datetime | None = None
    trigger_detail: dict[str, object] = field(default_factory=dict)

    @property
    def is_open(self) -> bool:
        return self.state is not AlertState.CLEARED_ACK

    def _params(self) -> tuple[object, ...]:
        return (
            self.id,
            self.rule,
            self.subject,
            self.resident,
            self.home,
            self.organisation,
            self.state.value,
            self.severity.value,
            self.summary,
            self.assignee,
            self.sequence,
            1 if self.is_open else 0,
            to_micros(self.opened),
            to_micros(self.updated),
            self.escalation_level,
            to_micros(self.next_notify) if self.next_notify is not None else None,
            self.trigger_value,
            self.trigger_unit,
            to_micros(self.trigger_time) if self.trigger_time is not None else None,
            json.dumps(self.trigger_detail, sort_keys=True) if self.trigger_detail else None,
        )

    @classmethod
    def _from(cls, row: tuple[object, ...]) -> AlertRow:
        (aid, rule, subject, resident, home, org, state, severity, summary, assignee) = row[:10]
        seq, _open, opened, updated, level, notify = row[10:16]
        value, unit, trigger_us, detail = row[16:]
        return cls(
            id=str(aid),
            rule=str(rule),
            subject=str(subject),
            resident=resident if isinstance(resident, str) else None,
            home=home if isinstance(home, str) else None,
            organisation=org if isinstance(org, str) else None,
            state=AlertState(str(state)),
            severity=Severity(str(severity)),
            summary=str(summary),
            assignee=assignee if isinstance(assignee, str) else None,
            sequence=int(str(seq)),
            opened=from_micros(int(str(opened))),
            updated=from_micros(int(str(updated))),
            escalation_level=int(str(level)),
            next_notify=from_micros(notify) if isinstance(notify, int) else None,
            trigger_value=float(value) if isinstance(value, int | float) else None,
            trigger_unit=unit if isinstance(unit, str) else None,
            trigger_time=from_micros(trigger_us) if isinstance(trigger_us, int) else None,
            trigger_detail=json.loads(detail) if isinstance(detail, str) else {},
        )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    alert_id: str
    sequence: int
    time: datetime
    actor: str
    action: str
    from_state: AlertState | None
    to_state: AlertState
    note: str | None
    detail: dict[str, object]


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    channel: str
    alert_id: str
    sequence: int
    payload: bytes
    attempts: int
    assignee: str | None = None
    """Who the alert is assigned to (the escalation step's responder) at this change."""


class AlertStore:
    """The alert tables. One owner per connection (not thread-safe)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        with self._errors("migrate"):
            backfill = silences.lacks_organisation(conn)
            migrate(conn, "alerts", MIGRATIONS)
            migrate(conn, "alert_trigger", TRIGGER_MIGRATIONS)
            if backfill:
                silences.backfill_organisations(conn)

    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError(f"alert store {operation}: {exc}") from exc

    # -- alerts ----------------------------------------------------------------------------

    def open_alerts(self) -> list[AlertRow]:
        with self._errors("load open alerts"):
            rows = self._conn.execute(f"SELECT {_COLUMNS} FROM alert WHERE is_open = 1")  # noqa: S608
            return [AlertRow._from(r) for r in rows]

    def get(self, alert_id: str) -> AlertRow:
        with self._errors("get"):
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM alert WHERE id = ?",  # noqa: S608
                (alert_id,),
            ).fetchone()
        if row is None:
            raise AlertNotFoundError(alert_id)
        return AlertRow._from(row)

    def find(
        self,
        *,
        organisations: Iterable[str] | None = None,
        states: Iterable[AlertState] | None = None,
        limit: int = 200,
    ) -> list[AlertRow]:
        """Alerts, newest change first; ``organisations`` None means every organisation."""
        sql = f"SELECT {_COLUMNS} FROM alert WHERE 1 = 1"  # noqa: S608
        params: list[object] = []
        if organisations is not None:
            orgs = list(organisations)
            sql += f" AND organisation IN ({','.join('?' * len(orgs))})"
            params.extend(orgs)
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY updated_us DESC LIMIT ?"
        params.append(limit)
        with self._errors("find"):
            return [AlertRow._from(r) for r in self._conn.execute(sql, params)]

    def record(
        self,
        row: AlertRow,
        event: AlertEvent,
        action: str,
        detail: dict[str, object],
        channels: Iterable[str],
    ) -> None:
        """Write the alert, its audit entry and its outbox rows in one transaction."""
        with self._errors(f"record {action} of {row.id}"), transaction(self._conn):
            self._conn.execute(
                _UPSERT,
                row._params(),
            )
            self._conn.execute(
                "INSERT INTO alert_audit (alert_id, sequence, time_us, actor, action,"
                " from_state, to_state, note, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    event.sequence,
                    to_micros(event.time),
                    event.actor,
                    action,
                    event.previous_state.value if event.previous_state else None,
                    event.state.value,
                    event.note,
                    json.dumps(detail, sort_keys=True),
                ),
            )
            payload = encode(event)
            due = to_micros(event.time)
            self._conn.executemany(
                "INSERT INTO alert_outbox (channel, alert_id, sequence, payload, next_attempt_us,"
                " assignee) VALUES (?, ?, ?, ?, ?, ?)",
                [(c, row.id, event.sequence, payload, due, row.assignee) for c in channels],
            )
            if dialect(self._conn) == "postgresql":  # every hub node's live stream, on commit
                self._conn.execute(
                    "SELECT pg_notify('hjem_alert', ?)", (f"{row.id} {event.sequence}",)
                )

    def audit(self, alert_id: str) -> list[AuditEntry]:
        with self._errors("audit"):
            rows = self._conn.execute(
                "SELECT alert_id, sequence, time_us, actor, action, from_state, to_state, note,"
                " detail FROM alert_audit WHERE alert_id = ? ORDER BY seq",
                (alert_id,),
            ).fetchall()
        return _entries(rows)

    def acknowledgements(self, alert_ids: Iterable[str]) -> dict[str, AuditEntry]:
        """The latest "acknowledge" audit entry of each alert that has one (who, when, note)."""
        wanted = sorted(set(alert_ids))
        found: dict[str, AuditEntry] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            with self._errors("acknowledgements"):
                rows = self._conn.execute(
                    "SELECT alert_id, sequence, time_us, actor, action, from_state, to_state,"  # noqa: S608
                    " note, detail FROM alert_audit WHERE action = 'acknowledge'"
                    f" AND alert_id IN ({','.join('?' * len(chunk))}) ORDER BY seq",
                    chunk,
                ).fetchall()
            found.update((e.alert_id, e) for e in _entries(rows))
        return found

    # -- outbox ----------------------------------------------------------------------------

    def due(self, channel: str, now: datetime, limit: int = 100) -> list[OutboxItem]:
        with self._errors("outbox due"):
            rows = self._conn.execute(
                "SELECT id, channel, alert_id, sequence, payload, attempts, assignee"
                " FROM alert_outbox"
                " WHERE channel = ? AND delivered_us IS NULL AND failed = 0"
                " AND next_attempt_us <= ? ORDER BY id LIMIT ?",
                (channel, to_micros(now), limit),
            ).fetchall()
        return [OutboxItem(i, c, a, s, bytes(p), n, who) for i, c, a, s, p, n, who in rows]

    def next_due(self, channel: str) -> datetime | None:
        with self._errors("outbox next"):
            row = self._conn.execute(
                "SELECT MIN(next_attempt_us) FROM alert_outbox"
                " WHERE channel = ? AND delivered_us IS NULL AND failed = 0",
                (channel,),
            ).fetchone()
        return from_micros(row[0]) if row and row[0] is not None else None

    def delivered(self, item_id: int, now: datetime) -> None:
        with self._errors("outbox delivered"):
            self._conn.execute(
                "UPDATE alert_outbox SET delivered_us = ?, attempts = attempts + 1 WHERE id = ?",
                (to_micros(now), item_id),
            )

    def retry_later(
        self, item_id: int, when: datetime | None, error: str, *, give_up: bool = False
    ) -> None:
        with self._errors("outbox retry"):
            self._conn.execute(
                "UPDATE alert_outbox SET attempts = attempts + 1, last_error = ?,"
                " next_attempt_us = COALESCE(?, next_attempt_us), failed = ? WHERE id = ?",
                (error[:500], to_micros(when) if when else None, 1 if give_up else 0, item_id),
            )

    def outbox_counts(self, channel: str) -> dict[str, int]:
        with self._errors("outbox counts"):
            row = self._conn.execute(
                "SELECT COUNT(delivered_us),"
                " COUNT(*) FILTER (WHERE delivered_us IS NULL AND failed = 0),"
                " COUNT(*) FILTER (WHERE failed = 1) FROM alert_outbox WHERE channel = ?",
                (channel,),
            ).fetchone()
        return {"delivered": int(row[0]), "pending": int(row[1]), "failed": int(row[2])}

    # -- silences --------------------------------------------------------------------------

    def add_silence(self, silence: Silence, now: datetime) -> None:
        """Store the silence and its "silence_created" audit entry (one transaction)."""
        with self._errors("add silence"):
            silences.add(self._conn, silence, now)

    def end_silence(self, silence_id: str, now: datetime, actor: str = "system") -> bool:
        """End it at ``now`` with a "silence_ended" audit entry; False if already over."""
        with self._errors("end silence"):
            return silences.end(self._conn, silence_id, now, actor)

    def silence(self, silence_id: str) -> Silence | None:
        with self._errors("silence"):
            return silences.get(self._conn, silence_id)

    def silences(self, now: datetime) -> list[Silence]:
        """Silences not yet over at ``now`` (current and future maintenance windows)."""
        with self._errors("silences"):
            return silences.current(self._conn, now)

    def silence_audit(self, organisations: frozenset[str] | None) -> list[SilenceAuditEntry]:
        with self._errors("silence audit"):
            return silences.audit(self._conn, organisations)

    def resident_organisation(self, resident_id: str) -> str | None:
        """The organisation of a registry resident (None: unknown, or no registry here)."""
        with self._errors("resident organisation"):
            return organisation_of_resident(self._conn, resident_id)


def _entries(rows: Iterable[tuple[Any, ...]]) -> list[AuditEntry]:
    return [
        AuditEntry(
            alert_id=a,
            sequence=s,
            time=from_micros(t),
            actor=actor,
            action=action,
            from_state=AlertState(f) if f else None,
            to_state=AlertState(to),
            note=note,
            detail=json.loads(detail),
        )
        for a, s, t, actor, action, f, to, note, detail in rows
    ]
