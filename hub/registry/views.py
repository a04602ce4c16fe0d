"""The registry's read views for the dashboard and the API: residents, homes, devices, teams
and assignments, scoped by organisation.

Every function takes ``organisations`` (:data:`hub.db.Orgs`): the organisations the user may
see, or None for a system administrator (all). Anything outside is simply not found, so a
route turns it into 404 rather than 403 and does not reveal that it exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.db import Connection, Orgs, from_micros, org_filter

__all__ = [
    "AssignmentView",
    "DeviceView",
    "HomeView",
    "ResidentView",
    "TeamView",
    "assignments_of_device",
    "device",
    "device_exists",
    "devices",
    "devices_of_resident",
    "homes",
    "resident",
    "resident_names",
    "residents",
    "teams",
]

_RESIDENT_SQL = (
    "SELECT r.id, r.name, r.home_id, COALESCE(h.label, ''), t.name, t.organisation_id"
    " FROM resident r LEFT JOIN home h ON h.id = r.home_id LEFT JOIN team t ON t.id = h.team_id"
)


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
    organisation: str | None = None
    """The organisation the device belongs to (see :func:`devices`)."""
    claimed: bool = True


@dataclass(frozen=True, slots=True)
class TeamView:
    id: str
    name: str
    organisation: str


@dataclass(frozen=True, slots=True)
class AssignmentView:
    device_id: str
    resident_id: str
    resident_name: str
    start: datetime
    end: datetime | None


def residents(conn: Connection, organisations: Orgs) -> list[ResidentView]:
    where, params = org_filter("t.organisation_id", organisations)
    rows = conn.execute(f"{_RESIDENT_SQL} WHERE {where} ORDER BY r.name, r.id", params)
    return [ResidentView(*row) for row in rows]


def resident(conn: Connection, resident_id: str, organisations: Orgs) -> ResidentView | None:
    where, params = org_filter("t.organisation_id", organisations)
    row = conn.execute(
        f"{_RESIDENT_SQL} WHERE r.id = ? AND {where}",
        [resident_id, *params],
    ).fetchone()
    return ResidentView(*row) if row else None


def homes(conn: Connection, organisations: Orgs) -> list[HomeView]:
    where, params = org_filter("t.organisation_id", organisations)
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


_ASSIGNED = "EXISTS (SELECT 1 FROM assignment x WHERE x.device_id = d.id)"


_OWNER = (
    f"CASE WHEN {_ASSIGNED} THEN (SELECT lt.organisation_id FROM assignment la"  # noqa: S608 - constant
    " JOIN resident lr ON lr.id = la.resident_id LEFT JOIN home lh ON lh.id = lr.home_id"
    " LEFT JOIN team lt ON lt.id = lh.team_id WHERE la.device_id = d.id"
    " ORDER BY la.start_us DESC LIMIT 1) ELSE pt.organisation_id END"
)


def _device_sql(where: str) -> str:
    """Devices with their ownership (columns ``owner`` and ``claimed``) filtered by ``where``."""
    return (
        "SELECT * FROM (SELECT d.id, d.description, a.resident_id, r.name, a.start_us,"  # noqa: S608 - placeholders only
        f" d.first_seen_us, d.first_publisher, {_OWNER} AS owner,"
        f" ({_ASSIGNED} OR pt.organisation_id IS NOT NULL) AS claimed FROM device d"
        " LEFT JOIN assignment a ON a.device_id = d.id AND a.end_us IS NULL"
        " LEFT JOIN resident r ON r.id = a.resident_id"
        " LEFT JOIN publisher p ON p.id = d.first_publisher"
        " LEFT JOIN home ph ON ph.id = p.home_id LEFT JOIN team pt ON pt.id = ph.team_id)"
        f" AS owned WHERE {where} ORDER BY id"
    )


def _device(row: tuple[object, ...]) -> DeviceView:
    did, desc, rid, rname, since, first_seen, first_pub, owner, claimed = row
    return DeviceView(
        str(did),
        str(desc or ""),
        rid if isinstance(rid, str) else None,
        rname if isinstance(rname, str) else None,
        from_micros(since) if isinstance(since, int) else None,
        from_micros(first_seen) if isinstance(first_seen, int) else None,
        first_pub if isinstance(first_pub, str) else None,
        owner if isinstance(owner, str) else None,
        bool(claimed),
    )


def _visible_devices(organisations: Orgs) -> tuple[str, list[object]]:
    if organisations is None:
        return "1 = 1", []
    owned, params = org_filter("owner", organisations)
    return f"({owned} OR NOT claimed)", params


def devices(conn: Connection, organisations: Orgs) -> list[DeviceView]:
    """Devices that belong to ``organisations`` (see ``_OWNER``) and unclaimed ones (never
    assigned, not first heard by a gateway of any organisation: any administrator may claim
    them); for a system administrator every device."""
    where, params = _visible_devices(organisations)
    return [_device(row) for row in conn.execute(_device_sql(where), params)]


def device(conn: Connection, device_id: str, organisations: Orgs) -> DeviceView | None:
    """The device if it exists and ``organisations`` may change it (as :func:`devices`)."""
    where, params = _visible_devices(organisations)
    row = conn.execute(_device_sql(f"id = ? AND {where}"), [device_id, *params]).fetchone()
    return _device(row) if row else None


def device_exists(conn: Connection, device_id: str) -> bool:
    return conn.execute("SELECT 1 FROM device WHERE id = ?", (device_id,)).fetchone() is not None


def devices_of_resident(conn: Connection, resident_id: str) -> list[DeviceView]:
    rows = conn.execute(_device_sql("resident_id = ?"), (resident_id,))
    return [_device(row) for row in rows]


def assignments_of_device(
    conn: Connection, device_id: str, organisations: Orgs = None
) -> list[AssignmentView]:
    """The device's assignments to residents of ``organisations`` (None: all), newest first."""
    where, params = org_filter("t.organisation_id", organisations)
    rows = conn.execute(
        "SELECT a.device_id, a.resident_id, r.name, a.start_us, a.end_us FROM assignment a"  # noqa: S608 - placeholders only
        " JOIN resident r ON r.id = a.resident_id LEFT JOIN home h ON h.id = r.home_id"
        " LEFT JOIN team t ON t.id = h.team_id"
        f" WHERE a.device_id = ? AND {where} ORDER BY a.start_us DESC",
        [device_id, *params],
    )
    return [
        AssignmentView(d, rid, name, from_micros(s), from_micros(e) if e is not None else None)
        for d, rid, name, s, e in rows
    ]


def teams(conn: Connection, organisations: Orgs) -> list[TeamView]:
    where, params = org_filter("organisation_id", organisations)
    rows = conn.execute(
        f"SELECT id, name, organisation_id FROM team WHERE {where} ORDER BY name, id",  # noqa: S608
        params,
    )
    return [TeamView(i, n, o) for i, n, o in rows]


def resident_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT id, name FROM resident WHERE id IN ({','.join('?' * len(wanted))})",  # noqa: S608
        wanted,
    )
    return {str(i): str(n) for i, n in rows}
