"""Read views over staff accounts (the auth component's ``auth_user`` table), by organisation."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from hub.db import Connection, Orgs, org_filter

__all__ = [
    "UserView",
    "display_names",
    "organisation_of_user",
    "organisations_by_username",
    "user_rows",
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


def users(conn: Connection, organisations: Orgs) -> list[UserView]:
    where, params = org_filter("organisation_id", organisations)
    rows = conn.execute(
        "SELECT id, username, display_name, role, organisation_id, active FROM auth_user"  # noqa: S608 - placeholders only
        f" WHERE {where} ORDER BY username",
        params,
    )
    return [UserView(i, u, d, r, o, bool(a)) for i, u, d, r, o, a in rows]


def display_names(conn: Connection) -> dict[str, str]:
    """Username -> display name, for showing who did what in audit trails."""
    try:
        rows = conn.execute("SELECT username, display_name FROM auth_user").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {str(u): str(d) for u, d in rows}


def organisations_by_username(conn: Connection) -> dict[str, str | None]:
    """Username -> organisation (None: a system administrator). Raises
    :class:`sqlite3.OperationalError` when this database has no staff accounts."""
    rows = conn.execute("SELECT username, organisation_id FROM auth_user").fetchall()
    return {str(u): None if o is None else str(o) for u, o in rows}


def organisation_of_user(conn: Connection, username: str | None) -> str | None:
    """The user's organisation (None: unknown, a system administrator, or no accounts here)."""
    if username is None:
        return None
    try:
        row = conn.execute(
            "SELECT organisation_id FROM auth_user WHERE username = ?", (username,)
        ).fetchone()
    except sqlite3.OperationalError:  # no auth tables in this database
        return None
    return str(row[0]) if row and row[0] is not None else None


def user_rows(conn: Connection) -> list[tuple[str, str, str, str, str]]:
    """(username, role, organisation or '-', teams or '-', active 'yes'/'no') by username,
    for ``hjem admin list``."""
    rows = conn.execute(
        "SELECT u.username, u.role, COALESCE(u.organisation_id, '-'),"
        " COALESCE((SELECT group_concat(m.team_id, ',') FROM auth_team_member m"
        " WHERE m.user_id = u.id), '-'), CASE u.active WHEN 1 THEN 'yes' ELSE 'no' END"
        " FROM auth_user u ORDER BY u.username"
    )
    return [(str(u), str(r), str(o), str(t), str(a)) for u, r, o, t, a in rows]
