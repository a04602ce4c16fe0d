"""Read-only, organisation-scoped look-ups over the registry, auth and alert tables, and the
dashboard's own append-only log of administrative actions.

Every function that returns residents, homes or devices takes ``organisations``: a set of
organisation ids the user may see, or None for a system administrator (all). Anything outside
that set is simply not found, so a route turns it into 404 rather than 403 and does not
reveal that it exists.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.db import from_micros, migrate, to_micros

__all__ = [
    "AdminAction",
    "AlertAuditRow",
    "AssignmentView",
    "DeviceView",
    "HomeView",
    "ResidentView",
    "Resolution",
    "UserView",
    "admin_actions",
    "alert_audit",
    "assignments_of_device",
    "devices",
    "devices_of_resident",
    "display_names",
    "ensure_schema",
    "homes",
    "organisation_of_home",
    "record_admin_action",
    "resident",
    "resident_names",
    "residents",
    "resolutions",
    "users",
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
]

Orgs = frozenset[str] | None

_RESIDENT_SQL = (
    "SELECT r.id, r.name, r.home_id, COALESCE(h.label, ''), t.name, t.organisation_id"
    " FROM resident r LEFT JOIN home h ON h.id = r.home_id LEFT JOIN team t ON t.id = h.team_id"
)


def _org_filter(column: str, organisations: Orgs) -> tuple[str, list[object]]:
    if organisations is None:
        return "1 = 1", []
    orgs = sorted(organisations)
    if not orgs:
        return "0 = 1", []
    return f"{column} IN ({','.join('?' * len(orgs))})", list(orgs)


@dataclass(frozen=True, slots=True)
class ResidentView:
    id: str
    name: str
    home_id: str | None
    home_label: str
    team: str | None
    organisation: str | None


@dataclass(frozen=True, slots=True)
class HomeView:
    id: str
    label: str
    team: str | None
    organisation: str | None
    gateways: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeviceView:
    id: str
    description: str
    resident_id: str | None
    resident_name: str | None
    since: datetime | None
    first_seen: datetime | None
    first_publisher: str | None


@dataclass(frozen=True, slots=True)
class AssignmentView:
    device_id: str
    resident_id: str
    resident_name: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    username: str
    display_name: str
    role: str
    organisation: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class AdminAction:
    time: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object]


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the dashboard's own table if this database does not have it yet."""
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'web_admin_audit'"
    ).fetchone()
    if found is None:
        migrate(conn, "web", MIGRATIONS)


def residents(conn: sqlite3.Connection, organisations: Orgs) -> list[ResidentView]:
    where, params = _org_filter("t.organisation_id", organisations)
    rows = conn.execute(f"{_RESIDENT_SQL} WHERE {where} ORDER BY r.name, r.id", params)
    return [ResidentView(*row) for row in rows]


def resident(
    conn: sqlite3.Connection, resident_id: str, organisations: Orgs
) -> ResidentView | None:
    where, params = _org_filter("t.organisation_id", organisations)
    row = conn.execute(
        f"{_RESIDENT_SQL} WHERE r.id = ? AND {where}",
        [resident_id, *params],
    ).fetchone()
    return ResidentView(*row) if row else None


def homes(conn: sqlite3.Connection, organisations: Orgs) -> list[HomeView]:
    where, params = _org_filter("t.organisation_id", organisations)
    rows = conn.execute(
        "SELECT h.id, h.label, t.name, t.organisation_id,"  # noqa: S608 - placeholders only
        " (SELECT group_concat(p.id, char(31)) FROM (SELECT id FROM publisher"
        "  WHERE home_id = h.id AND kind = 'gateway' ORDER BY id) p)"
        f" FROM home h LEFT JOIN team t ON t.id = h.team_id WHERE {where}"
        " ORDER BY h.label, h.id",
        params,
    )
    return [
        HomeView(hid, label, team, org, tuple(str(gw).split("\x1f")) if gw else ())
        for hid, label, team, org, gw in rows
    ]


def organisation_of_home(conn: sqlite3.Connection, home_id: str | None) -> str | None:
    if home_id is None:
        return None
    row = conn.execute(
        "SELECT t.organisation_id FROM home h JOIN team t ON t.id = h.team_id WHERE h.id = ?",
        (home_id,),
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def _device_sql(where: str) -> str:
    return (
        "SELECT d.id, d.description, a.resident_id, r.name, a.start_us, d.first_seen_us,"  # noqa: S608 - placeholders only
        " d.first_publisher FROM device d"
        " LEFT JOIN assignment a ON a.device_id = d.id AND a.end_us IS NULL"
        " LEFT JOIN resident r ON r.id = a.resident_id"
        " LEFT JOIN home h ON h.id = r.home_id LEFT JOIN team t ON t.id = h.team_id"
        " LEFT JOIN publisher p ON p.id = d.first_publisher"
        " LEFT JOIN home ph ON ph.id = p.home_id LEFT JOIN team pt ON pt.id = ph.team_id"
        f" WHERE {where} ORDER BY d.id"
    )


def _device(row: tuple[object, ...]) -> DeviceView:
    did, desc, rid, rname, since, first_seen, first_pub = row
    return DeviceView(
        str(did),
        str(desc or ""),
        rid if isinstance(rid, str) else None,
        rname if isinstance(rname, str) else None,
        from_micros(since) if isinstance(since, int) else None,
        from_micros(first_seen) if isinstance(first_seen, int) else None,
        first_pub if isinstance(first_pub, str) else None,
    )


def devices(conn: sqlite3.Connection, organisations: Orgs) -> list[DeviceView]:
    """Devices assigned to a resident of ``organisations`` or first heard by one of their
    gateways; for a system administrator every device."""
    if organisations is None:
        where, params = "1 = 1", []
    else:
        first, p1 = _org_filter("t.organisation_id", organisations)
        second, p2 = _org_filter("pt.organisation_id", organisations)
        unclaimed = (
            "(d.first_publisher IS NULL AND NOT EXISTS"
            " (SELECT 1 FROM assignment x WHERE x.device_id = d.id))"
        )
        where, params = f"({first} OR {second} OR {unclaimed})", [*p1, *p2]
    return [_device(row) for row in conn.execute(_device_sql(where), params)]


def devices_of_resident(conn: sqlite3.Connection, resident_id: str) -> list[DeviceView]:
    rows = conn.execute(_device_sql("a.resident_id = ?"), (resident_id,))
    return [_device(row) for row in rows]


def assignments_of_device(conn: sqlite3.Connection, device_id: str) -> list[AssignmentView]:
    rows = conn.execute(
        "SELECT a.device_id, a.resident_id, r.name, a.start_us, a.end_us FROM assignment a"
        " JOIN resident r ON r.id = a.resident_id WHERE a.device_id = ? ORDER BY a.start_us DESC",
        (device_id,),
    )
    return [
        AssignmentView(d, rid, name, from_micros(s), from_micros(e) if e is not None else None)
        for d, rid, name, s, e in rows
    ]


def users(conn: sqlite3.Connection, organisations: Orgs) -> list[UserView]:
    where, params = _org_filter("organisation_id", organisations)
    rows = conn.execute(
        "SELECT id, username, display_name, role, organisation_id, active FROM auth_user"  # noqa: S608 - placeholders only
        f" WHERE {where} ORDER BY username",
        params,
    )
    return [UserView(i, u, d, r, o, bool(a)) for i, u, d, r, o, a in rows]


def record_admin_action(
    conn: sqlite3.Connection,
    *,
    time: datetime,
    actor: str,
    organisation: str | None,
    action: str,
    target: str,
    detail: dict[str, object],
) -> None:
    ensure_schema(conn)
    conn.execute(
        "INSERT INTO web_admin_audit (time_us, actor, organisation, action, target, detail)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (to_micros(time), actor, organisation, action, target, json.dumps(detail, sort_keys=True)),
    )


def admin_actions(
    conn: sqlite3.Connection, organisations: Orgs, limit: int = 200
) -> list[AdminAction]:
    ensure_schema(conn)
    where, params = _org_filter("organisation", organisations)
    rows = conn.execute(
        f"SELECT time_us, actor, action, target, detail FROM web_admin_audit WHERE {where}"  # noqa: S608
        " ORDER BY seq DESC LIMIT ?",
        [*params, limit],
    )
    return [AdminAction(from_micros(t), a, act, tg, json.loads(d)) for t, a, act, tg, d in rows]


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
    conn: sqlite3.Connection,
    organisations: Orgs,
    *,
    actor: str | None = None,
    limit: int = 300,
) -> list[AlertAuditRow]:
    """The alert audit log across the visible organisations, newest first."""
    where, params = _org_filter("a.organisation", organisations)
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


def resident_names(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT id, name FROM resident WHERE id IN ({','.join('?' * len(wanted))})",  # noqa: S608
        wanted,
    )
    return {str(i): str(n) for i, n in rows}


def display_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Username -> display name, for showing who did what in audit trails."""
    try:
        rows = conn.execute("SELECT username, display_name FROM auth_user").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {str(u): str(d) for u, d in rows}


@dataclass(frozen=True, slots=True)
class Resolution:
    actor: str
    note: str | None
    time: datetime


def resolutions(conn: sqlite3.Connection, alert_ids: Iterable[str]) -> dict[str, Resolution]:
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
