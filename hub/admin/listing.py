"""``hjem admin list``: what the hub knows, as tables with headers, one section per kind.

Organisations, teams, users (role, organisation, teams, active), homes, publishers (gateway
-> home, retired), residents, devices (resident and binding now, first and last seen) and the
broker's logins (flagging those missing from the registry). Read-only; one query per section.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hub.admin.context import call, database
from hub.db import from_micros

__all__ = ["list_all", "table"]

_DEVICES = (
    "SELECT d.id, d.first_seen_us, d.first_publisher, o.last_us FROM device d LEFT JOIN"
    " (SELECT device_id, MAX(effective_us) AS last_us FROM observation GROUP BY device_id) o"
    " ON o.device_id = d.id ORDER BY d.id"
)
_USERS = (
    "SELECT u.username, u.role, COALESCE(u.organisation_id, '-'),"
    " COALESCE((SELECT group_concat(m.team_id, ',') FROM auth_team_member m"
    " WHERE m.user_id = u.id), '-'), CASE u.active WHEN 1 THEN 'yes' ELSE 'no' END"
    " FROM auth_user u ORDER BY u.username"
)


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A titled, column-aligned table (``(none)`` when empty)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [f"{title.upper()} ({len(cells)})"]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *cells]
    )
    if not cells:
        lines.append("(none)")
    return "\n".join(lines) + "\n"


def _time(us: int | None) -> str:
    return from_micros(us).astimezone(UTC).isoformat(timespec="seconds") if us else "-"


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]]:
    try:
        return [tuple(r) for r in conn.execute(sql)]
    except sqlite3.OperationalError:  # the component never ran on this database
        return []


def _devices(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    from hub.registry.core import Registry

    registry = Registry(conn)
    moment = datetime.now(UTC)
    try:
        found = conn.execute(_DEVICES).fetchall()
    except sqlite3.OperationalError:  # no observation table yet: nothing stored
        found = [
            (*r, None)
            for r in conn.execute(
                "SELECT id, first_seen_us, first_publisher FROM device ORDER BY id"
            )
        ]
    rows: list[tuple[object, ...]] = []
    for device, first_us, first_publisher, last_us in found:
        owner = next((b.publisher_id for b in registry.bindings(device) if b.end is None), "-")
        resident = registry.resolve(device, moment) or "-"
        rows.append(
            (device, resident, owner, first_publisher or "-", _time(first_us), _time(last_us))
        )
    return rows


def _registry_tables(conn: sqlite3.Connection) -> str:
    publishers = [
        (p, kind, home or "-", label or "-", _time(retired) if retired else "no")
        for p, kind, home, label, retired in _rows(
            conn,
            "SELECT p.id, p.kind, p.home_id, h.label, p.retired_us FROM publisher p"
            " LEFT JOIN home h ON h.id = p.home_id ORDER BY p.kind, p.id",
        )
    ]
    return "\n".join(
        [
            table(
                "organisations",
                ("ID", "NAME"),
                _rows(conn, "SELECT id, name FROM organisation ORDER BY id"),
            ),
            table(
                "teams",
                ("ID", "ORGANISATION", "NAME"),
                _rows(conn, "SELECT id, organisation_id, name FROM team ORDER BY id"),
            ),
            table(
                "users",
                ("USERNAME", "ROLE", "ORGANISATION", "TEAMS", "ACTIVE"),
                _rows(conn, _USERS),
            ),
            table(
                "homes",
                ("ID", "TEAM", "LABEL"),
                _rows(conn, "SELECT id, COALESCE(team_id, '-'), label FROM home ORDER BY id"),
            ),
            table("publishers", ("ID", "KIND", "HOME", "HOME LABEL", "RETIRED"), publishers),
            table(
                "residents",
                ("ID", "HOME"),
                _rows(conn, "SELECT id, COALESCE(home_id, '-') FROM resident ORDER BY id"),
            ),
            table(
                "devices",
                ("ID", "RESIDENT", "BOUND TO", "FIRST PUBLISHER", "FIRST SEEN", "LAST SEEN"),
                _devices(conn),
            ),
        ]
    )


def list_all(args: argparse.Namespace) -> int:
    from hub.admin.provision import broker_users, is_hub_login

    on_broker = [] if args.no_broker else call(lambda: broker_users(args.password_file))
    with database(args) as conn:
        print(_registry_tables(conn), end="")
        kinds: dict[str, str] = dict(_rows(conn, "SELECT id, kind FROM publisher"))
        retired = {str(r[0]) for r in _rows(conn, "SELECT id FROM publisher WHERE retired_us")}
    if args.no_broker:
        return 0
    logins = [
        (
            name,
            "RETIRED, STILL ON BROKER"
            if name in retired
            else kinds.get(name, "hub" if is_hub_login(name) else "NOT IN REGISTRY"),
        )
        for name in on_broker
    ]
    print("\n" + table("broker logins", ("USERNAME", "KIND"), logins), end="")
    return 0
