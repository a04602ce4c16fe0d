"""The append-only log of administrative actions, from the dashboard and from ``hjem admin``.

Each entry is filed under the actor's organisation (``organisation``; None for a system
administrator or the command line) and under every organisation the action affected (the
``web_admin_audit_org`` rows): a system administrator moving organisation A's device to
organisation B's resident appears in both A's and B's audit view. Both tables refuse UPDATE
and DELETE in the database (:func:`hub.db.append_only`).
"""

from __future__ import annotations

import argparse
import getpass
import json
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from foundation.clock import utcnow
from hub.auth.views import organisation_of_user
from hub.db import Connection, Dialects, append_only, from_micros, migrate, to_micros, transaction
from hub.registry.ownership import (
    organisation_of_device,
    organisation_of_home,
    organisation_of_publisher,
    organisation_of_resident,
    organisation_of_team,
)

__all__ = [
    "AdminAction",
    "admin_actions",
    "audit_cli_action",
    "cli_actor",
    "cli_affected",
    "ensure_schema",
    "record_admin_action",
    "run_audited",
]

MIGRATIONS: list[str | Dialects] = [
    (
        "CREATE TABLE web_admin_audit (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " time_us INTEGER NOT NULL, actor TEXT NOT NULL, organisation TEXT,"
        " action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)"
    ),
    *append_only("web_admin_audit"),
    (
        "CREATE TABLE web_admin_audit_org (seq INTEGER NOT NULL REFERENCES web_admin_audit(seq),"
        " organisation TEXT NOT NULL, PRIMARY KEY (seq, organisation))"
    ),
    *append_only("web_admin_audit_org"),
]


@dataclass(frozen=True, slots=True)
class AdminAction:
    time: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object]


def ensure_schema(conn: Connection) -> None:
    """Create or upgrade the audit tables (migration component ``web``)."""
    migrate(conn, "web", MIGRATIONS)


def cli_actor() -> str:
    """The actor of a ``hjem admin`` action: the operating-system user running it."""
    return f"cli:{getpass.getuser()}"


def record_admin_action(
    conn: Connection,
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
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
            (
                to_micros(time),
                actor,
                organisation,
                action,
                target,
                json.dumps(detail, sort_keys=True),
            ),
        )
        seq = int(cur.fetchone()[0])
        conn.executemany(
            "INSERT INTO web_admin_audit_org (seq, organisation) VALUES (?, ?)",
            [(seq, o) for o in orgs],
        )


def admin_actions(
    conn: Connection, organisations: frozenset[str] | None, limit: int = 200
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


# command -> audited action name; the entry's target is the command's first argument
CLI_ACTIONS = {
    "add-organisation": "organisation_added",
    "add-team": "team_added",
    "add-gateway": "gateway_added",
    "add-vendor": "vendor_added",
    "add-user": "user_added",
    "assign-device": "device_assigned",
    "bind-device": "device_bound",
    "set-spo2-scale": "spo2_scale_set",
    "disable-user": "user_disabled",
    "enable-user": "user_enabled",
    "reset-password": "password_reset",
    "issue-token": "token_issued",
    "revoke-token": "token_revoked",
    "retire-gateway": "gateway_retired",
    "unassign-device": "device_unassigned",
}
_DETAIL = (
    "name",
    "organisation",
    "team",
    "home",
    "home_label",
    "role",
    "display_name",
    "resident",
    "new_resident",
    "publisher",
    "start",
    "end",
    "no_broker",
    "no_token",
    "scale",
    "previous_scale",
    "token_id",
    "days",
    "at",
    "no_registry",
)


def cli_affected(conn: Connection, command: str, values: dict[str, object]) -> set[str]:
    def text(key: str) -> str | None:
        value = values.get(key)
        return value if isinstance(value, str) else None

    teams = values.get("team")
    found = {
        text("organisation"),
        text("id") if command == "add-organisation" else None,
        organisation_of_home(conn, text("home")),
        organisation_of_resident(conn, text("resident")),
        organisation_of_device(conn, text("device")),
        organisation_of_user(conn, text("username")),
        *(organisation_of_team(conn, str(t)) for t in _listed(teams)),
    }
    if command in {"add-gateway", "retire-gateway"}:
        found.add(organisation_of_publisher(conn, text("id")))
    return {o for o in found if o is not None}


def _listed(value: object) -> list[object]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value] if value is not None else []


def audit_cli_action(
    conn: Connection,
    command: str,
    values: dict[str, object],
    time: datetime,
    before: Iterable[str] = (),
) -> None:
    """Audit a successful ``hjem admin`` command (see ``CLI_ACTIONS``; others are not
    audited) under every organisation it affected (now, or ``before`` it ran: a device's
    previous organisation), with :func:`cli_actor` as the actor."""
    action = CLI_ACTIONS.get(command)
    if action is None:
        return
    target = next(
        (
            str(values[k])
            for k in ("id", "username", "device", "resident")
            if values.get(k) is not None
        ),
        "",
    )
    detail = {k: values[k] for k in _DETAIL if values.get(k) not in (None, False, [])}
    affected = cli_affected(conn, command, values) | set(before)
    actor = cli_actor()
    if command == "assign-device" and values.get("new_resident"):
        record_admin_action(
            conn,
            time=time,
            actor=actor,
            organisation=None,
            action="resident_added",
            target=str(values.get("resident")),
            detail={"name": values["new_resident"], "home": values.get("home")},
            affected=affected,
        )
    record_admin_action(
        conn,
        time=time,
        actor=actor,
        organisation=None,
        action=action,
        target=target,
        detail=detail,
        affected=affected,
    )


def run_audited(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], int],
    database: Callable[[argparse.Namespace], AbstractContextManager[Connection]],
) -> int:
    """Run a ``hjem admin`` command; if it succeeds and changed the hub database (one of
    ``CLI_ACTIONS``, not ``--no-registry``), audit it with the organisations it touched."""
    command = str(getattr(args, "admin_command", ""))
    audited = (
        command in CLI_ACTIONS
        and getattr(args, "config", None) is not None
        and not getattr(args, "no_registry", False)
    )
    before: set[str] = set()
    if audited:
        with database(args) as conn:
            before = cli_affected(conn, command, vars(args))
    code = int(run(args))
    if code == 0 and audited:
        with database(args) as conn:
            audit_cli_action(conn, command, vars(args), utcnow(), before)
    return code
