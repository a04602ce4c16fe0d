"""Read views over staff accounts (the auth component's ``auth_user`` table), by organisation."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from hub.db import Orgs, org_filter

__all__ = [
    "UserView",
    "display_names",
    "users",
]


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    username: str
    display_name: str
    role: str
    organisation: str | None
    active: bool


def users(conn: sqlite3.Connection, organisations: Orgs) -> list[UserView]:
    where, params = org_filter("organisation_id", organisations)
    rows = conn.execute(
        "SELECT id, username, display_name, role, organisation_id, active FROM auth_user"  # noqa: S608 - placeholders only
        f" WHERE {where} ORDER BY username",
        params,
    )
    return [UserView(i, u, d, r, o, bool(a)) for i, u, d, r, o, a in rows]


def display_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Username -> display name, for showing who did what in audit trails."""
    try:
        rows = conn.execute("SELECT username, display_name FROM auth_user").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {str(u): str(d) for u, d in rows}
