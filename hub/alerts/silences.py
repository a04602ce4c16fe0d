"""Silences (maintenance windows) and their append-only audit, in the alert store's database.

A silence belongs to the organisation of the administrator who created it and applies only
to that organisation's alerts; a system administrator's silence (organisation None) applies
to every organisation. Creating and ending a silence are written to ``alert_silence_audit``
in the same transaction as the change; that table refuses UPDATE and DELETE.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from hub.auth.views import organisations_by_username
from hub.db import (
    Connection,
    Dialects,
    append_only,
    dialect,
    from_micros,
    to_micros,
    transaction,
)

__all__ = ["MIGRATIONS", "Silence", "SilenceAuditEntry"]

MIGRATIONS: list[str | Dialects] = [
    "ALTER TABLE alert_silence ADD COLUMN organisation TEXT",
    (
        "CREATE TABLE alert_silence_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " silence_id TEXT NOT NULL, time_us INTEGER NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, organisation TEXT, detail TEXT NOT NULL)"
    ),
    *append_only("alert_silence_audit"),
]
"""Appended to :data:`hub.alerts.store.MIGRATIONS` (component ``alerts``)."""

_COLUMNS = "id, rule, resident, subject, starts_us, ends_us, reason, created_by, organisation"


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    rule: str | None
    resident: str | None
    subject: str | None
    starts: datetime
    ends: datetime
    reason: str
    created_by: str
    organisation: str | None = None
    """The organisation whose alerts it silences; None: every organisation's."""

    def covers(
        self, rule: str, subject: str, resident: str | None, organisation: str | None, now: datetime
    ) -> bool:
        return (
            self.starts <= now < self.ends
            and self.organisation in (None, organisation)
            and self.rule in (None, rule)
            and self.subject in (None, subject)
            and (self.resident is None or self.resident == resident)
        )

    @classmethod
    def _from(cls, row: tuple[object, ...]) -> Silence:
        sid, rule, resident, subject, starts, ends, reason, by, org = row
        return cls(
            str(sid),
            rule if isinstance(rule, str) else None,
            resident if isinstance(resident, str) else None,
            subject if isinstance(subject, str) else None,
            from_micros(int(str(starts))),
            from_micros(int(str(ends))),
            str(reason),
            str(by),
            org if isinstance(org, str) else None,
        )


@dataclass(frozen=True, slots=True)
class SilenceAuditEntry:
    silence_id: str
    time: datetime
    actor: str
    action: str
    organisation: str | None
    detail: dict[str, object]


def _audit(conn: Connection, silence: Silence, now: datetime, actor: str, action: str) -> None:
    detail = {
        "rule": silence.rule,
        "resident": silence.resident,
        "subject": silence.subject,
        "starts": silence.starts.isoformat(),
        "ends": (now if action == "silence_ended" else silence.ends).isoformat(),
        "reason": silence.reason,
    }
    conn.execute(
        "INSERT INTO alert_silence_audit (silence_id, time_us, actor, action, organisation,"
        " detail) VALUES (?, ?, ?, ?, ?, ?)",
        (
            silence.id,
            to_micros(now),
            actor,
            action,
            silence.organisation,
            json.dumps({k: v for k, v in detail.items() if v is not None}, sort_keys=True),
        ),
    )


def add(conn: Connection, silence: Silence, now: datetime) -> None:
    with transaction(conn):
        conn.execute(
            f"INSERT INTO alert_silence ({_COLUMNS}, created_us)"  # noqa: S608 - constant columns
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                silence.id,
                silence.rule,
                silence.resident,
                silence.subject,
                to_micros(silence.starts),
                to_micros(silence.ends),
                silence.reason,
                silence.created_by,
                silence.organisation,
                to_micros(now),
            ),
        )
        _audit(conn, silence, now, silence.created_by, "silence_created")


def get(conn: Connection, silence_id: str) -> Silence | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM alert_silence WHERE id = ?",  # noqa: S608 - constant columns
        (silence_id,),
    ).fetchone()
    return Silence._from(row) if row else None


def end(conn: Connection, silence_id: str, now: datetime, actor: str) -> bool:
    """End the silence at ``now`` (a future one never starts); False if it was already over."""
    with transaction(conn):
        found = get(conn, silence_id)
        if found is None or found.ends <= now:
            return False
        conn.execute(
            "UPDATE alert_silence SET ends_us = ?, starts_us = min(starts_us, ? - 1) WHERE id = ?",
            (to_micros(now), to_micros(now), silence_id),
        )
        _audit(conn, found, now, actor, "silence_ended")
    return True


def current(conn: Connection, now: datetime) -> list[Silence]:
    """Silences not yet over at ``now`` (current and future maintenance windows)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM alert_silence WHERE ends_us > ? ORDER BY starts_us",  # noqa: S608
        (to_micros(now),),
    )
    return [Silence._from(r) for r in rows]


def audit(
    conn: Connection, organisations: frozenset[str] | None, limit: int = 200
) -> list[SilenceAuditEntry]:
    """Audit entries of the organisations' silences and of global ones, newest first."""
    params: list[object] = []
    where = "1 = 1"
    if organisations is not None:
        orgs = sorted(organisations)
        where = f"(organisation IS NULL OR organisation IN ({','.join('?' * len(orgs))}))"
        params.extend(orgs)
    rows = conn.execute(
        "SELECT silence_id, time_us, actor, action, organisation, detail"  # noqa: S608
        f" FROM alert_silence_audit WHERE {where} ORDER BY seq DESC LIMIT ?",
        [*params, limit],
    )
    return [
        SilenceAuditEntry(sid, from_micros(t), actor, action, org, json.loads(detail))
        for sid, t, actor, action, org, detail in rows
    ]


def backfill_organisations(conn: Connection) -> None:
    """Silences made before they had an organisation get their creator's (when the users
    live in this database); a system administrator's stay global."""
    try:
        owners = organisations_by_username(conn)
    except sqlite3.OperationalError:  # no auth tables here: the silences stay global
        return
    conn.executemany(
        "UPDATE alert_silence SET organisation = ? WHERE organisation IS NULL AND created_by = ?",
        [(org, user) for user, org in owners.items() if org is not None],
    )


def lacks_organisation(conn: Connection) -> bool:
    """True if ``alert_silence`` exists without its organisation column (before migrating);
    never on PostgreSQL, whose tables were made with it."""
    if dialect(conn) != "sqlite":
        return False
    columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(alert_silence)")}
    return bool(columns) and "organisation" not in columns
