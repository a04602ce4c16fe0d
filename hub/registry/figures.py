"""Reads over the registry's tables for the hub's status, metrics and administration.

The registry owns ``organisation``, ``team``, ``home``, ``resident``, ``publisher`` and
``gateway_status``; other components (``hub.status`` and its metrics, ``hub.web``) ask here
instead of writing SQL against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.db import Connection

__all__ = [
    "GatewayOfOrganisation",
    "OrganisationCount",
    "device_rows",
    "device_seen",
    "gateways_by_organisation",
    "home_rows",
    "organisation_ids",
    "organisation_rows",
    "organisations_with_residents",
    "publisher_ids",
    "publisher_rows",
    "publishers_of",
    "resident_rows",
    "spo2_scales",
    "team_rows",
]

_ORGANISATIONS_SQL = (
    "SELECT o.id, o.name, (SELECT COUNT(*) FROM resident r JOIN home h ON h.id = r.home_id"
    " JOIN team t ON t.id = h.team_id WHERE t.organisation_id = o.id)"
    " FROM organisation o ORDER BY o.id"
)
_GATEWAYS_SQL = (
    "SELECT t.organisation_id, p.id, g.online FROM publisher p JOIN home h ON h.id = p.home_id"
    " JOIN team t ON t.id = h.team_id LEFT JOIN gateway_status g ON g.publisher = p.id"
    " WHERE p.kind = 'gateway' ORDER BY p.id"
)
_PUBLISHER_ORGANISATION_SQL = (
    "SELECT p.id, t.organisation_id FROM publisher p JOIN home h ON h.id = p.home_id"
    " JOIN team t ON t.id = h.team_id"
)


@dataclass(frozen=True, slots=True)
class OrganisationCount:
    id: str
    name: str
    residents: int
    """Residents in the homes of the organisation's teams."""


@dataclass(frozen=True, slots=True)
class GatewayOfOrganisation:
    organisation: str
    publisher: str
    online: bool | None
    """None: the gateway never reported."""


def publisher_ids(conn: Connection) -> frozenset[str]:
    """Every registered publisher (retired ones included)."""
    return frozenset(str(row[0]) for row in conn.execute("SELECT id FROM publisher"))


def publishers_of(conn: Connection, organisations: frozenset[str]) -> list[str]:
    """Publishers whose home belongs to a team of one of ``organisations``."""
    rows = conn.execute(_PUBLISHER_ORGANISATION_SQL)
    return sorted(str(pid) for pid, org in rows if org in organisations)


def organisations_with_residents(conn: Connection) -> list[OrganisationCount]:
    return [
        OrganisationCount(str(oid), str(name), int(count))
        for oid, name, count in conn.execute(_ORGANISATIONS_SQL)
    ]


def gateways_by_organisation(conn: Connection) -> list[GatewayOfOrganisation]:
    """Gateways with a home, their organisation and last known state, by publisher id."""
    return [
        GatewayOfOrganisation(str(org), str(pid), None if online is None else bool(online))
        for org, pid, online in conn.execute(_GATEWAYS_SQL)
    ]


def spo2_scales(conn: Connection) -> dict[str, int]:
    """Residents on another NEWS2 SpO2 scale than the default (1): id -> scale."""
    rows = conn.execute("SELECT id, spo2_scale FROM resident WHERE spo2_scale != 1")
    return {str(rid): int(scale) for rid, scale in rows}


def organisation_ids(conn: Connection) -> list[str]:
    return [str(row[0]) for row in conn.execute("SELECT id FROM organisation ORDER BY id")]


def device_seen(conn: Connection, device_id: str) -> bool:
    """True if a publisher has reported the device (not only registered by hand)."""
    row = conn.execute("SELECT first_seen_us FROM device WHERE id = ?", (device_id,)).fetchone()
    return row is not None and row[0] is not None


# -- whole tables, for `hjem admin list` (rows as stored, ordered by id) -----------------


def _rows(conn: Connection, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(sql)]


def organisation_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """(id, name)."""
    return _rows(conn, "SELECT id, name FROM organisation ORDER BY id")


def team_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """(id, organisation, name)."""
    return _rows(conn, "SELECT id, organisation_id, name FROM team ORDER BY id")


def home_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """(id, team or '-', label)."""
    return _rows(conn, "SELECT id, COALESCE(team_id, '-'), label FROM home ORDER BY id")


def publisher_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """(id, kind, home, home label, retired microseconds or None), by kind and id."""
    return _rows(
        conn,
        "SELECT p.id, p.kind, p.home_id, h.label, p.retired_us FROM publisher p"
        " LEFT JOIN home h ON h.id = p.home_id ORDER BY p.kind, p.id",
    )


def resident_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """(id, home or '-')."""
    return _rows(conn, "SELECT id, COALESCE(home_id, '-') FROM resident ORDER BY id")


def device_rows(conn: Connection) -> list[tuple[Any, ...]]:
    """(id, first seen microseconds, first publisher)."""
    return _rows(conn, "SELECT id, first_seen_us, first_publisher FROM device ORDER BY id")
