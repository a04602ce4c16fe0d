"""The append-only log of administrative actions, from the dashboard and from ``hjem admin``.

Each entry is filed under the actor's organisation (``organisation``; None for a system
administrator or the command line) and under every organisation the action affected (the
``web_admin_audit_org`` rows): a system administrator moving organisation A's device to
organisation B's resident appears in both A's and B's audit view. Both tables refuse UPDATE
and DELETE (SQLite triggers).
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.db import from_micros, migrate, to_micros, transaction

__all__ = [
    "AdminAction",
    "admin_actions",
    "cli_actor",
    "ensure_schema",
    "organisation_of_home",
    "organisation_of_resident",
    "organisation_of_team",
    "record_admin_action",
]

MIGRATIONS = [
    (
        "CREATE TABLE web_admin_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " time_us INTEGER NOT NULL, actor TEXT NOT NULL, organisation TEXT,"
        " action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)"
    ),
    (
        "CREATE TRIGGER web_admin_audit_no_update BEFORE UPDATE ON web_admin_audit"
        " BEGIN SELECT RAISE(ABORT, 'web_admin_audit is append-only'); END"
    ),
    (
        "CREATE TRIGGER web_admin_audit_no_delete BEFORE DELETE ON web_admin_audit"
        " BEGIN SELECT RAISE(ABORT, 'web_admin_audit is append-only'); END"
    ),
    (
        "CREATE TABLE web_admin_audit_org (seq INTEGER NOT NULL REFERENCES web_admin_audit(seq),"
        " organisation TEXT NOT NULL, PRIMARY KEY (seq, organisation))"
    ),
    (
        "CREATE TRIGGER web_admin_audit_org_no_update BEFORE UPDATE ON web_admin_audit_org"
        " BEGIN SELECT RAISE(ABORT, 'web_admin_audit_org is append-only'); END"
    ),
    (
        "CREATE TRIGGER web_admin_audit_org_no_delete BEFORE DELETE ON web_admin_audit_org"
        " BEGIN SELECT RAISE(ABORT, 'web_admin_audit_org is append-only'); END"
    ),
]


@dataclass(frozen=True, slots=True)
class AdminAction:
    time: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object]


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create or upgrade the audit tables (migration component ``web``)."""
    migrate(conn, "web", MIGRATIONS)


def cli_actor() -> str:
    """The actor of a ``hjem admin`` action: the operating-system user running it."""
    return f"cli:{getpass.getuser()}"


def record_admin_action(
    conn: sqlite3.Connection,
    *,
    time: datetime,
    actor: str,
    organisation: str | None,
    action: str,
    target: str,
    detail: dict[str, object],
    affected: Iterable[str | None] = (),
) -> None:
    """Append one entry, filed under ``organisation`` and every organisation in ``affected``."""
    ensure_schema(conn)
    orgs = sorted({o for o in (organisation, *affected) if o is not None})
    with transaction(conn):
        cur = conn.execute(
            "INSERT INTO web_admin_audit (time_us, actor, organisation, action, target, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                to_micros(time),
                actor,
                organisation,
                action,
                target,
                json.dumps(detail, sort_keys=True),
            ),
        )
        conn.executemany(
            "INSERT INTO web_admin_audit_org (seq, organisation) VALUES (?, ?)",
            [(cur.lastrowid, o) for o in orgs],
        )


def admin_actions(
    conn: sqlite3.Connection, organisations: frozenset[str] | None, limit: int = 200
) -> list[AdminAction]:
    """Entries filed under any of ``organisations`` (None: all), newest first."""
    ensure_schema(conn)
    if organisations is None:
        where, params = "1 = 1", []
    else:
        orgs = sorted(organisations)
        marks = ",".join("?" * len(orgs))
        where = (
            f"(w.organisation IN ({marks}) OR EXISTS (SELECT 1 FROM web_admin_audit_org o"  # noqa: S608
            f" WHERE o.seq = w.seq AND o.organisation IN ({marks})))"
        )
        params = [*orgs, *orgs]
    rows = conn.execute(
        "SELECT time_us, actor, action, target, detail FROM web_admin_audit w"  # noqa: S608
        f" WHERE {where} ORDER BY seq DESC LIMIT ?",
        [*params, limit],
    )
    return [AdminAction(from_micros(t), a, act, tg, json.loads(d)) for t, a, act, tg, d in rows]


def _one(conn: sqlite3.Connection, sql: str, key: str | None) -> str | None:
    if key is None:
        return None
    try:
        row = conn.execute(sql, (key,)).fetchone()
    except sqlite3.OperationalError:  # no registry tables in this database
        return None
    return str(row[0]) if row and row[0] is not None else None


def organisation_of_team(conn: sqlite3.Connection, team_id: str | None) -> str | None:
    return _one(conn, "SELECT organisation_id FROM team WHERE id = ?", team_id)


def organisation_of_home(conn: sqlite3.Connection, home_id: str | None) -> str | None:
    return _one(
        conn,
        "SELECT t.organisation_id FROM home h JOIN team t ON t.id = h.team_id WHERE h.id = ?",
        home_id,
    )


def organisation_of_resident(conn: sqlite3.Connection, resident_id: str | None) -> str | None:
    return _one(
        conn,
        "SELECT t.organisation_id FROM resident r JOIN home h ON h.id = r.home_id"
        " JOIN team t ON t.id = h.team_id WHERE r.id = ?",
        resident_id,
    )
