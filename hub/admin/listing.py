"""``hjem admin list``: what the hub knows, as tables with headers, one section per kind.

Organisations, teams, users (role, organisation, teams, active), homes, publishers (gateway
-> home, retired), residents, devices (resident and binding now, first and last seen) and the
broker's logins (flagging those missing from the registry). Read-only; one query per section.
"""

from __future__ import annotations

import argparse
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from foundation.clock import utcnow
from hub.admin.context import call, database
from hub.auth.views import user_rows
from hub.db import Connection, from_micros
from hub.registry import figures as registry
from hub.store.figures import last_seen_by_device

__all__ = ["list_all", "table"]


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


def _rows(read: Callable[[], Sequence[tuple[Any, ...]]]) -> Sequence[tuple[Any, ...]]:
    try:
        return read()
    except sqlite3.OperationalError:  # the component never ran on this database
        return []


def _devices(conn: Connection) -> list[tuple[object, ...]]:
    from hub.registry.core import Registry

    registry_ = Registry(conn)
    moment = utcnow()
    try:
        last_seen = last_seen_by_device(conn)
    except sqlite3.OperationalError:  # no observation table yet: nothing stored
        last_seen = {}
    rows: list[tuple[object, ...]] = []
    for device, first_us, first_publisher in registry.device_rows(conn):
        owner = next((b.publisher_id for b in registry_.bindings(device) if b.end is None), "-")
        resident = registry_.resolve(device, moment) or "-"
        last_us = last_seen.get(device)
        rows.append(
            (device, resident, owner, first_publisher or "-", _time(first_us), _time(last_us))
        )
    return rows


def _registry_tables(conn: Connection) -> str:
    publishers = [
        (p, kind, home or "-", label or "-", _time(retired) if retired else "no")
        for p, kind, home, label, retired in _rows(lambda: registry.publisher_rows(conn))
    ]
    return "\n".join(
        [
            table("organisations", ("ID", "NAME"), _rows(lambda: registry.organisation_rows(conn))),
            table(
                "teams",
                ("ID", "ORGANISATION", "NAME"),
                _rows(lambda: registry.team_rows(conn)),
            ),
            table(
                "users",
                ("USERNAME", "ROLE", "ORGANISATION", "TEAMS", "ACTIVE"),
                _rows(lambda: user_rows(conn)),
            ),
            table("homes", ("ID", "TEAM", "LABEL"), _rows(lambda: registry.home_rows(conn))),
            table("publishers", ("ID", "KIND", "HOME", "HOME LABEL", "RETIRED"), publishers),
            table("residents", ("ID", "HOME"), _rows(lambda: registry.resident_rows(conn))),
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
        publishers = _rows(lambda: registry.publisher_rows(conn))
        kinds = {str(p[0]): str(p[1]) for p in publishers}
        retired = {str(p[0]) for p in publishers if p[4]}
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
