"""``hjem admin add-organisation | add-team | add-gateway | add-vendor | add-user |
assign-device | bind-device | set-spo2-scale | list | broker-password | render-acl`` (and the
lifecycle actions of :mod:`hub.admin.lifecycle`; ``list`` is :mod:`hub.admin.listing`).

Provisioning writes three places: the broker's password file (``mosquitto_passwd``; the ACL
is a fixed set of patterns keyed on the username, see :mod:`hub.admin.provision`), the registry
(:mod:`hub.registry.core`) and the staff users (:mod:`hub.auth.users`), the last two in the hub
database named by ``--config``. Generated passwords and tokens are printed once and stored
only as hashes.

Adding an existing gateway or vendor again is allowed: it keeps the registry row and gives the
publisher a new broker password (rotation). ``--no-broker`` skips the password file (broker on
another host: run the command there too, with ``--no-registry``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from foundation.clock import utcnow
from hub.admin.args import (
    BROKER_PID_FILE,
    PASSWORD_FILE,
    acl_args,
    assign_args,
    bind_args,
    broker_user_args,
    common,
    gateway_args,
    no_args,
    organisation_args,
    spo2_scale_args,
    team_args,
    user_args,
    vendor_args,
)
from hub.admin.context import call as _call
from hub.admin.context import database as _database
from hub.admin.context import fail as _fail
from hub.admin.context import parse_time as _parse_time
from hub.admin.installer import (
    EDGE_PASSWORD_VARIABLE,
    check_organisation,
    check_seen,
    device_id,
    password_variable,
)
from hub.admin.lifecycle import LIFECYCLE_ACTIONS
from hub.admin.listing import list_all
from hub.db import Connection
from hub.fhir.cli import FHIR_ACTIONS
from hub.fhir.push.cli import PUSH_ACTIONS

if TYPE_CHECKING:
    from hub.registry.core import PublisherKind, Registry

__all__ = ["BROKER_PID_FILE", "PASSWORD_FILE", "register"]

Handler = Callable[[argparse.Namespace], int]


@contextmanager
def _registry(args: argparse.Namespace) -> Iterator[Registry]:
    from hub.registry.core import Registry

    with _database(args) as conn:
        yield Registry(conn)


@contextmanager
def _maybe_registry(args: argparse.Namespace) -> Iterator[Registry | None]:
    if args.no_registry:
        yield None
        return
    with _registry(args) as registry:
        yield registry


def _broker_password(args: argparse.Namespace, username: str, env_variable: str = "") -> None:
    """Write a new broker password for ``username``, print it once, reload if asked."""
    from hub.admin.installer import write_env_line
    from hub.admin.provision import add_broker_user, generate_secret, reload_broker

    password_file: Path = args.password_file
    password = generate_secret()
    _call(lambda: add_broker_user(password_file, username, password))
    print(f"MQTT username: {username}")
    print(f"MQTT password: {password}")
    print(f"  (shown only now; {password_file} keeps a hash)")
    if env_variable and args.env_file:
        _call(lambda: write_env_line(args.env_file, env_variable, password))
        print(f"{env_variable}=... written to {args.env_file}")
    elif env_variable:
        print(f"  put it where the client reads it: {env_variable}=<password>")
    if args.reload:
        pid = _call(lambda: reload_broker(args.broker_pid_file))
        print(f"broker reloaded (SIGHUP to PID {pid})")
    else:
        print("reload the broker to apply: systemctl reload mosquitto (or pass --reload)")


def _register_publisher(
    registry: Registry, args: argparse.Namespace, kind: PublisherKind, home: str | None
) -> None:
    """Add the registry row unless it already exists with the same kind."""
    existing = registry.publisher(args.id)
    if existing is not None and existing.retired is not None:
        raise _fail(
            f"{kind} {args.id!r} was retired at {existing.retired.isoformat()}: its history"
            " stays under that id, register the replacement under a new id"
        )
    if existing is not None and existing.kind != kind:
        raise _fail(f"{args.id!r} is already registered as a {existing.kind}, not a {kind}")
    if existing is not None:
        print(f"{kind} {args.id} is already registered: keeping it, rotating its credentials")
        return
    if home and home not in {h.id for h in registry.homes()}:
        _call(lambda: registry.add_home(home, args.home_label or "", args.team))
        print(f"home {home} added" + (f" (team {args.team})" if args.team else ""))
    _call(lambda: registry.add_publisher(args.id, kind, home))
    print(f"{kind} {args.id} registered" + (f" (home {home})" if home else ""))


def _add_organisation(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        _call(lambda: registry.add_organisation(args.id, args.name or args.id))
    print(f"organisation {args.id} added")
    return 0


def _add_team(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        _call(lambda: registry.add_team(args.id, args.organisation, args.name or args.id))
    print(f"team {args.id} added to organisation {args.organisation}")
    return 0


def _add_gateway(args: argparse.Namespace) -> int:
    from hub.admin.provision import check_username

    _call(lambda: check_username(args.id))
    with _maybe_registry(args) as registry:
        if registry is not None:
            _register_publisher(registry, args, "gateway", args.home)
    if not args.no_broker:
        _broker_password(args, args.id, EDGE_PASSWORD_VARIABLE)
        print(
            f"client certificate (mTLS): deploy/certs/make-certs.sh -d /etc/mosquitto/certs "
            f"{args.id}"
        )
        print("edge: set gateway_id in edge.toml; the password goes in /etc/hjem/edge.env")
    return 0


def _add_vendor(args: argparse.Namespace) -> int:
    from hub.admin.provision import check_username

    _call(lambda: check_username(args.id))
    with _maybe_registry(args) as registry:
        if registry is not None:
            _register_publisher(registry, args, "vendor", None)
            if not args.no_token:
                token = _call(lambda: registry.issue_token(args.id))
                print(f"HTTP bearer token: {token}")
                print("  (shown only now; the hub keeps its SHA-256)")
    if not args.no_broker:
        _broker_password(args, args.id)
    return 0


def _check_teams(conn: Connection, teams: Iterable[str], organisation: str | None) -> None:
    """A user's teams must be teams of the user's organisation."""
    from hub.registry.ownership import organisation_of_team

    for team in teams:
        if organisation is None or organisation_of_team(conn, team) != organisation:
            raise _fail(f"team {team!r} is not a team of organisation {organisation!r}")


def _add_user(args: argparse.Namespace) -> int:
    from hub.admin.provision import generate_secret
    from hub.auth.users import Role, UserStore

    role = Role(args.role)
    if role is Role.CARE_STAFF and not args.organisation:
        raise _fail("care_staff users need --organisation")
    password = generate_secret(18)
    with _database(args) as conn:
        _call(lambda: check_organisation(conn, args.organisation))
        _check_teams(conn, args.team or (), args.organisation)
        store = UserStore(conn, utcnow)
        try:
            user = _call(
                lambda: store.create_user(
                    args.username,
                    password,
                    role,
                    args.organisation,
                    teams=tuple(args.team or ()),
                    display_name=args.display_name,
                )
            )
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    print(f"user {args.username} ({role.value}) created as {user.id}")
    print(f"password: {password}")
    print("  (shown only now; the hub keeps an Argon2id hash)")
    return 0


def _assign_device(args: argparse.Namespace) -> int:
    start = _parse_time(args.start, "--start") or utcnow()
    end = _parse_time(args.end, "--end")
    from hub.registry.core import Registry

    args.device = _call(lambda: device_id(args.device))
    with _database(args) as conn:
        registry = Registry(conn)
        _call(lambda: check_seen(conn, args.device, force=args.force))
        resident = args.resident
        if args.new_resident:
            resident = _call(lambda: registry.add_resident(args.new_resident, args.home)).id
            args.resident = resident  # for the audit entry
            print(f"resident {resident} added (home {args.home or '-'})")
        elif resident not in {r.id for r in registry.residents()}:
            raise _fail(f"unknown resident {resident!r} (see `hjem admin list`)")
        _call(lambda: registry.assign(args.device, resident, start, end))
    until = end.isoformat() if end else "further notice"
    print(f"device {args.device} assigned to {resident} from {start.isoformat()} until {until}")
    return 0


def _bind_device(args: argparse.Namespace) -> int:
    start = _parse_time(args.start, "--start") or utcnow()
    end = _parse_time(args.end, "--end")
    with _registry(args) as registry:
        _call(lambda: registry.bind(args.device, args.publisher, start, end))
    until = end.isoformat() if end else "further notice"
    print(
        f"device {args.device} bound to publisher {args.publisher} from {start.isoformat()}"
        f" until {until}: its readings from any other publisher are refused"
    )
    return 0


def _set_spo2_scale(args: argparse.Namespace) -> int:
    with _registry(args) as registry:
        args.previous_scale = _call(lambda: registry.set_spo2_scale(args.resident, args.scale))
    print(
        f"resident {args.resident}: NEWS2 SpO2 scale {args.scale}"
        f" (was {args.previous_scale}); NEWS2 scores the resident's SpO2 on it"
    )
    return 0


def _broker_only(args: argparse.Namespace) -> int:
    from hub.admin.provision import check_username

    _call(lambda: check_username(args.username, allow_hub=True))
    _broker_password(args, args.username, password_variable(args.username))
    return 0


def _render_acl(args: argparse.Namespace) -> int:
    from hub.admin.provision import render_acl

    hubs = args.hub_user or ["hub"]
    print(_call(lambda: render_acl(hubs, args.alert_reader or ())), end="")
    return 0


_Arguments = Callable[[argparse.ArgumentParser], None]

# name, handler, arguments, help, (writes the broker's password file, uses the hub database)
_ACTIONS: list[tuple[str, Handler, _Arguments, str, tuple[bool, bool]]] = [
    (
        "add-gateway",
        _add_gateway,
        gateway_args,
        "broker login and registry row for a gateway",
        (True, True),
    ),
    (
        "add-vendor",
        _add_vendor,
        vendor_args,
        "broker login and HTTP token for a vendor",
        (True, True),
    ),
    ("add-organisation", _add_organisation, organisation_args, "an organisation", (False, True)),
    ("add-team", _add_team, team_args, "a care team of an organisation", (False, True)),
    ("add-user", _add_user, user_args, "a dashboard user (care_staff or admin)", (False, True)),
    (
        "assign-device",
        _assign_device,
        assign_args,
        "assign a device to a resident from a time",
        (False, True),
    ),
    (
        "bind-device",
        _bind_device,
        bind_args,
        "bind a device to the vendor (or gateway) whose readings of it are accepted",
        (False, True),
    ),
    (
        "set-spo2-scale",
        _set_spo2_scale,
        spo2_scale_args,
        "the NEWS2 SpO2 scale a clinician prescribed for a resident (1 or 2)",
        (False, True),
    ),
    (
        "list",
        list_all,
        no_args,
        "organisations, teams, users, homes, publishers, residents, devices, broker logins",
        (True, True),
    ),
    (
        "broker-password",
        _broker_only,
        broker_user_args,
        "set a broker password only (the hub user, alert readers)",
        (True, False),
    ),
    (
        "render-acl",
        _render_acl,
        acl_args,
        "print the broker ACL (deploy/mosquitto/hjem.acl)",
        (False, False),
    ),
]


def register(parser: argparse.ArgumentParser) -> Handler:
    sub = parser.add_subparsers(dest="admin_command", metavar="ACTION", required=True)
    for name, run, arguments, help_text, (broker, registry) in [
        *_ACTIONS,
        *LIFECYCLE_ACTIONS,
        *FHIR_ACTIONS,
        *PUSH_ACTIONS,
    ]:
        action = sub.add_parser(name, help=help_text, description=help_text)
        arguments(action)
        common(action, broker=broker, registry=registry)
        action.set_defaults(admin=run)

    def handler(args: argparse.Namespace) -> int:
        from hub.admin.audit import run_audited

        return run_audited(args, args.admin, _database)  # audited as cli:<OS user>

    return handler
