"""Which organisation a registry object belongs to: a team's, a home's (its team's), a
resident's (their home's), a device's (its resident's, else its first publisher's home's), a
publisher's (its home's). None when unknown, or when this database has no registry tables;
for audit entries (hub/admin/audit.py), the alert store and the dashboard's admin pages.
"""

from __future__ import annotations

import sqlite3

from hub.db import Connection

__all__ = [
    "organisation_of_device",
    "organisation_of_home",
    "organisation_of_publisher",
    "organisation_of_resident",
    "organisation_of_team",
]


def _one(conn: Connection, sql: str, key: str | None) -> str | None:
    if key is None:
        return None
    try:
        row = conn.execute(sql, (key,)).fetchone()
    except sqlite3.OperationalError:  # no registry tables in this database
        return None
    return str(row[0]) if row and row[0] is not None else None


def organisation_of_team(conn: Connection, team_id: str | None) -> str | None:
    return _one(conn, "SELECT organisation_id FROM team WHERE id = ?", team_id)


def organisation_of_home(conn: Connection, home_id: str | None) -> str | None:
    return _one(
        conn,
        "SELECT t.organisation_id FROM home h JOIN team t ON t.id = h.team_id WHERE h.id = ?",
        home_id,
    )


def organisation_of_resident(conn: Connection, resident_id: str | None) -> str | None:
    return _one(
        conn,
        "SELECT t.organisation_id FROM resident r JOIN home h ON h.id = r.home_id"
        " JOIN team t ON t.id = h.team_id WHERE r.id = ?",
        resident_id,
    )


def organisation_of_publisher(conn: Connection, publisher: str | None) -> str | None:
    """The organisation of the home the publisher (gateway or vendor) belongs to."""
    return organisation_of_home(
        conn, _one(conn, "SELECT home_id FROM publisher WHERE id = ?", publisher)
    )


def organisation_of_device(conn: Connection, device_id: str | None) -> str | None:
    """The organisation of the resident the device is (or was last) assigned to; never
    assigned: of the home of the gateway that first published it (as the dashboard's)."""
    last = _one(
        conn,
        "SELECT resident_id FROM assignment WHERE device_id = ? ORDER BY start_us DESC LIMIT 1",
        device_id,
    )
    if last is not None:
        return organisation_of_resident(conn, last)
    first = _one(conn, "SELECT first_publisher FROM device WHERE id = ?", device_id)
    return _one(
        conn,
        "SELECT t.organisation_id FROM publisher p JOIN home h ON h.id = p.home_id"
        " JOIN team t ON t.id = h.team_id WHERE p.id = ?",
        first,
    )
